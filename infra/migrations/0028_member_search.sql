-- Staff read members (admin's GET /admin/members and its CSV export): newest first,
-- optionally searched by email or display name. The search is
-- `(coalesce(email, '') || ' ' || display_name) ILIKE '%term%'`, identity::members'
-- very expression, so pg_trgm's GIN index answers terms of three or more characters
-- (Chinese included, see 0005); shorter ones scan, bounded by the statement timeout.

CREATE INDEX members_created_idx ON members (created_at DESC, id DESC)
  WHERE deleted_at IS NULL;

CREATE INDEX members_search_trgm_idx ON members USING gin (
  (coalesce(email, '') || ' ' || display_name) gin_trgm_ops
);
