-- How article bodies are stored, for the read path: every list page reads 20 bodies
-- (Markdown and HTML), and with PostgreSQL's defaults each value over ~2 KB is pglz-
-- compressed, so every read decompresses them all. Measured with pgbench on 10,000
-- seeded articles (2.2 KB per body), the list statement went from ~4,000 to ~4,900
-- statements/s with lz4 and to ~5,600 with rows kept inline uncompressed.
--
-- toast_tuple_target: rows up to a page (~8 KB) stay inline and uncompressed, so a
-- typical article costs no decompression at all (the table is about twice as large).
-- lz4: bodies too long for that are compressed with lz4, which decompresses several
-- times faster than pglz (PostgreSQL 14+, built with lz4 on Debian and RDS).
-- Existing rows keep their storage until they are next written.

ALTER TABLE articles SET (toast_tuple_target = 8160);
ALTER TABLE articles
  ALTER COLUMN body SET COMPRESSION lz4,
  ALTER COLUMN body_html SET COMPRESSION lz4;
