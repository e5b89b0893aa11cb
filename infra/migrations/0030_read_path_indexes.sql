-- Indexes for the content API's uncached reads, each measured on 10,000 articles
-- (docs/BENCHMARKS.md, "Side by side with Strapi 5").

-- An article by slug without a locale (`filters[slug][$eq]=…`, how Strapi frontends
-- fetch one): the (locale, slug) key cannot seek on the slug alone, so PostgreSQL
-- read the whole key (123 pages, 0.8 ms) on every detail read.
CREATE INDEX articles_slug_idx ON articles (slug) WHERE deleted_at IS NULL;

-- A page of articles is found first and read after (shared::content::sql's
-- list_statement): its ids come from an index-only walk of this index, which carries
-- the columns relation and field filters test most, so passing over the articles of
-- other categories reads index entries instead of 8 KB rows.
DROP INDEX articles_published_idx;
CREATE INDEX articles_published_idx ON articles (published_at DESC, id DESC)
  INCLUDE (category_id, author_id, locale, visibility)
  WHERE deleted_at IS NULL AND published_at IS NOT NULL;
