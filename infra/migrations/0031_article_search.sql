-- Article search (`_q`): full text on plain PostgreSQL, Chinese and English alike.
--
-- The trigram index of 0005 answered a substring match, but a word in half the
-- articles (提示词) still meant reading and matching every one of them: 5.9 req/s
-- at 10,000 articles. Here text becomes tokens once, at write time, and a search is
-- a lookup of its tokens' posting lists in a GIN index:
--
-- - A run of CJK characters becomes its overlapping bigrams and trigrams
--   (提示词工程 -> 提示, 提示词, 示词, 示词工, ...) and its last character alone. A query
--   of three or more characters looks up its trigrams, of two its bigram, of one
--   its prefix (词:* matches 词 and every token that starts with it). Bigrams are
--   what Elasticsearch's CJK analyzer and pg_bigm index; trigrams on top make a
--   longer term one posting list instead of several (the count of 提示词's 5,268
--   matches: 3.7 ms, against 4.6 ms intersecting 提示 and 示词) and rule out most
--   articles that hold the pairs apart. No dictionary to ship or keep current,
--   and no word a dictionary lacks is unfindable.
-- - Letters and digits become lower-case words, cut at 64 characters (a lexeme may
--   not pass 2 KB); a query's words match by prefix (prompt finds prompts).
-- - Every token of the query is required, as every `_q` term was before.
--
-- Only core PostgreSQL (tsvector, GIN): RDS, Aurora, Supabase and any other managed
-- PostgreSQL have it. The tokenizer is plain SQL, so the database keeps the index
-- true whoever writes an article; a query is cut the same way in Rust
-- (shared/content/src/search.rs, whose tests hold both to one character set).
--
-- `article_search` is narrow on purpose: one row per live article with what a
-- search reads (published time, locale, the title's and the whole document's
-- tokens). The document's tokens are stored out of line and are never read back
-- by a search: a GIN match on plain lexemes needs no recheck, so counting and
-- ranking 5,000 matches touch only these short rows, not the articles with their
-- bodies. A gated (members or paid) article's body is not indexed at all, so a
-- search cannot reveal what it says.

CREATE FUNCTION search_tokens(content text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(t.token), '{}')
  FROM regexp_matches(
         lower(content),
         '([0-9a-z\u00c0-\u024f]{1,64})|([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+)',
         'g') AS m(run)
  CROSS JOIN LATERAL (
    SELECT m.run[1] WHERE m.run[1] IS NOT NULL
    UNION ALL
    SELECT substr(m.run[2], i, k.n)
    FROM generate_series(1, length(m.run[2]) - 1) AS i, (VALUES (2), (3)) AS k(n)
    WHERE m.run[2] IS NOT NULL AND i + k.n - 1 <= length(m.run[2])
    UNION ALL
    SELECT right(m.run[2], 1) WHERE m.run[2] IS NOT NULL
  ) AS t(token)
$$;

-- What of an article is searchable: title and excerpt always, the body only when
-- anyone may read it.
CREATE FUNCTION article_search_document(
  title text, excerpt text, body text, visibility text
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_to_tsvector(search_tokens(
    concat_ws(E'\n', title, excerpt, CASE WHEN visibility = 'public' THEN body END)
  ))
$$;

-- Both token columns are stored out of line whenever the row is long enough to be
-- toasted at all (toast_tuple_target: then the row keeps only pointers), and
-- searches never read them back: the GIN indexes answer every match, so a count
-- or a ranking reads short rows. Read back per row, the title's tokens cost
-- three more buffers a row (excluding the title matches from 5,537 document
-- matches that way: 25 ms, against 7.2 ms through the title index).
CREATE TABLE article_search (
  article_id bigint PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
  published_at timestamptz,
  locale text NOT NULL,
  title tsvector NOT NULL,
  document tsvector NOT NULL
) WITH (toast_tuple_target = 128);

ALTER TABLE article_search
  ALTER COLUMN title SET STORAGE EXTERNAL,
  ALTER COLUMN document SET STORAGE EXTERNAL;

CREATE INDEX article_search_title_idx ON article_search USING gin (title);
CREATE INDEX article_search_document_idx ON article_search USING gin (document);

-- Kept by the articles' own writes: a soft-deleted article leaves the index, a
-- publish or unpublish touches only the time, and only a change of text tokenizes.
CREATE FUNCTION article_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deleted_at IS NOT NULL THEN
    DELETE FROM article_search WHERE article_id = NEW.id;
  ELSIF TG_OP = 'UPDATE' AND OLD.deleted_at IS NULL
    AND NEW.title = OLD.title
    AND NEW.excerpt IS NOT DISTINCT FROM OLD.excerpt
    AND NEW.body = OLD.body
    AND NEW.visibility = OLD.visibility THEN
    UPDATE article_search
    SET published_at = NEW.published_at, locale = NEW.locale
    WHERE article_id = NEW.id
      AND (published_at IS DISTINCT FROM NEW.published_at OR locale <> NEW.locale);
  ELSE
    INSERT INTO article_search AS s (article_id, published_at, locale, title, document)
    VALUES (
      NEW.id, NEW.published_at, NEW.locale,
      array_to_tsvector(search_tokens(NEW.title)),
      article_search_document(NEW.title, NEW.excerpt, NEW.body, NEW.visibility)
    )
    ON CONFLICT (article_id) DO UPDATE SET
      published_at = EXCLUDED.published_at,
      locale = EXCLUDED.locale,
      title = EXCLUDED.title,
      document = EXCLUDED.document;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER articles_search_sync
  AFTER INSERT OR UPDATE OF title, excerpt, body, visibility, locale, published_at, deleted_at
  ON articles FOR EACH ROW EXECUTE FUNCTION article_search_sync();

INSERT INTO article_search (article_id, published_at, locale, title, document)
SELECT id, published_at, locale,
  array_to_tsvector(search_tokens(title)),
  article_search_document(title, excerpt, body, visibility)
FROM articles
WHERE deleted_at IS NULL;

DROP INDEX articles_search_trgm_idx;
