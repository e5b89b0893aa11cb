-- The newest published articles' title tokens, in publication order, for the first
-- page of a search (shared::content::sql's list_statement): a word in many titles
-- finds a page of title matches among the newest few hundred entries of this index,
-- read without visiting a row. Through the title's GIN index, `提示词` (in 1,337 of
-- 10,000 titles) visited every match's row to sort them by time: 546 buffers a page,
-- against 15 here. A rarer word finds too few here and falls back to the GIN index.
CREATE INDEX article_search_recent_idx ON article_search (published_at DESC, article_id DESC)
  INCLUDE (locale, title)
  WHERE published_at IS NOT NULL;
