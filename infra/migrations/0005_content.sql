-- Content: articles and what they hang from (authors, categories, tags), the products
-- that unlock paid articles, and every saved revision. Column names are the snake_case
-- of the API names in shared/src/content/schema.rs; shared::content::sql maps one to
-- the other from a fixed table.
--
-- Search (`_q`) uses pg_trgm on the article's title, excerpt and body. Trigrams keep CJK
-- characters on this cluster (UTF8, ctype C.UTF-8: show_trgm('变现之路') returns five
-- trigrams, not an empty set), and the same holds for RDS's en_US.UTF-8; pg_trgm is a
-- trusted extension there, so the database owner can create it. Matching is
-- `expression ILIKE '%term%'`, which is case-insensitive for English and needs no word
-- segmentation for Chinese. A term of three or more characters is answered from the
-- GIN index; a one- or two-character term (many Chinese words) yields no trigram and
-- is answered by a scan, which is correct but grows with the table.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE authors (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  bio text,
  avatar text,
  -- Private: never selectable through the public API.
  email text,
  -- The staff account that writes as this author, so "authors edit only their own
  -- drafts" is a join; null for guest authors.
  staff_id bigint UNIQUE REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER authors_updated_at BEFORE UPDATE ON authors
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE categories (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER categories_updated_at BEFORE UPDATE ON categories
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE tags (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  slug text NOT NULL UNIQUE,
  description text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER tags_updated_at BEFORE UPDATE ON tags
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE articles (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  title text NOT NULL,
  slug text NOT NULL,
  excerpt text,
  -- Markdown as written, and the HTML rendered from it on save.
  body text NOT NULL DEFAULT '',
  body_html text NOT NULL DEFAULT '',
  cover text,
  reading_minutes integer NOT NULL DEFAULT 0 CHECK (reading_minutes >= 0),
  locale text NOT NULL DEFAULT 'zh-CN',
  visibility text NOT NULL DEFAULT 'public'
    CHECK (visibility IN ('public', 'members', 'paid')),
  featured boolean NOT NULL DEFAULT false,
  seo_title text,
  seo_description text,
  author_id bigint REFERENCES authors (id) ON DELETE SET NULL,
  category_id bigint REFERENCES categories (id) ON DELETE SET NULL,
  -- Private: editors' notes, never exposed.
  internal_notes text,
  -- Null is a draft; a time in the future is not yet visible.
  published_at timestamptz,
  -- When the scheduler should publish a draft.
  scheduled_at timestamptz,
  -- Soft delete: hidden everywhere, kept for revisions and audit.
  deleted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER articles_updated_at BEFORE UPDATE ON articles
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A slug is unique per locale among live articles; a deleted article frees its slug.
CREATE UNIQUE INDEX articles_locale_slug_key ON articles (locale, slug)
  WHERE deleted_at IS NULL;

-- The front page: newest first, optionally per locale.
CREATE INDEX articles_published_idx ON articles (published_at DESC, id DESC)
  WHERE deleted_at IS NULL AND published_at IS NOT NULL;
CREATE INDEX articles_locale_published_idx ON articles (locale, published_at DESC, id DESC)
  WHERE deleted_at IS NULL;

-- Category pages and relation filters.
CREATE INDEX articles_category_published_idx ON articles (category_id, published_at DESC)
  WHERE deleted_at IS NULL;
CREATE INDEX articles_author_published_idx ON articles (author_id, published_at DESC)
  WHERE deleted_at IS NULL;

-- Scheduled publishing: the drafts due next.
CREATE INDEX articles_scheduled_idx ON articles (scheduled_at)
  WHERE scheduled_at IS NOT NULL AND published_at IS NULL AND deleted_at IS NULL;

-- `_q`: must stay the very expression shared::content::sql writes for articles.
CREATE INDEX articles_search_trgm_idx ON articles USING gin (
  (coalesce(title, '') || ' ' || coalesce(excerpt, '') || ' ' || coalesce(body, ''))
  gin_trgm_ops
);

CREATE TABLE article_tags (
  article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
  tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  PRIMARY KEY (article_id, tag_id)
);

CREATE INDEX article_tags_tag_idx ON article_tags (tag_id, article_id);

-- The plans and courses that unlock a `paid` article (any one of them suffices), as
-- shared::entitlements::Product.
CREATE TABLE article_products (
  article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
  product_kind text NOT NULL CHECK (product_kind IN ('plan', 'course')),
  product_code text NOT NULL,
  PRIMARY KEY (article_id, product_kind, product_code)
);

CREATE INDEX article_products_product_idx ON article_products (product_kind, product_code);

-- Every save is kept: revision n of an article is its n-th save.
CREATE TABLE article_revisions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
  revision integer NOT NULL CHECK (revision > 0),
  title text NOT NULL,
  body text NOT NULL,
  editor_id bigint REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (article_id, revision)
);
