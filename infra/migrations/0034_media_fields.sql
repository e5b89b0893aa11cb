-- Media fields, as Strapi v5 has them: an article's `cover` and an author's `avatar`
-- name an upload (they were URL strings). The public API returns them only when
-- populated (`populate=cover`), as Strapi's media object, read through the `files`
-- view below like any other content type.
--
-- `url` is where readers fetch the file, stored when the upload is made (as Strapi's
-- upload providers store it), so a read needs no configuration. `alternative_text`
-- and `caption` are Strapi's fields for editors.

ALTER TABLE uploads
  ADD COLUMN url text,
  ADD COLUMN alternative_text text,
  ADD COLUMN caption text;

ALTER TABLE articles ADD COLUMN cover_id bigint REFERENCES uploads (id) ON DELETE SET NULL;
ALTER TABLE authors ADD COLUMN avatar_id bigint REFERENCES uploads (id) ON DELETE SET NULL;

-- A cover or avatar that was an upload's URL becomes that upload, and the URL it was
-- read at becomes the upload's. Anything else (a URL from elsewhere) has no upload to
-- name and is dropped with the columns; no deployment has such rows yet.
UPDATE uploads u SET url = a.cover
  FROM articles a
 WHERE u.url IS NULL AND a.cover LIKE '%/' || u.object_key;
UPDATE uploads u SET url = au.avatar
  FROM authors au
 WHERE u.url IS NULL AND au.avatar LIKE '%/' || u.object_key;
UPDATE articles a SET cover_id = u.id
  FROM uploads u
 WHERE a.cover LIKE '%/' || u.object_key;
UPDATE authors au SET avatar_id = u.id
  FROM uploads u
 WHERE au.avatar LIKE '%/' || u.object_key;
ALTER TABLE articles DROP COLUMN cover;
ALTER TABLE authors DROP COLUMN avatar;

-- An upload is deleted rarely, but then without scanning every article.
CREATE INDEX articles_cover_idx ON articles (cover_id) WHERE cover_id IS NOT NULL;
CREATE INDEX authors_avatar_idx ON authors (avatar_id) WHERE avatar_id IS NOT NULL;

-- Strapi v5's file, column for column (snake_case of its API names), for ready
-- uploads only: a cover whose upload never completed populates as null. The URL shows
-- once image-process is done with the file, so an original that still carries its
-- EXIF (GPS) is not handed out while it works. `size` is in kB with two decimals and
-- `hash` is the document id, as Strapi spells them; `square` is our share image
-- (shared/content/src/syndication).
CREATE VIEW files AS
SELECT u.id, u.document_id, u.original_filename AS name, u.alternative_text, u.caption,
       u.width, u.height, u.formats, u.document_id AS hash,
       '.' || substring(u.object_key FROM '\.([a-z0-9]+)$') AS ext,
       u.content_type AS mime, round(u.size_bytes / 1000.0, 2)::float8 AS size,
       CASE WHEN u.processing = 'done' THEN u.url END AS url,
       NULL::text AS preview_url, 'aws-s3'::text AS provider,
       NULL::jsonb AS provider_metadata, u.created_at, u.updated_at,
       u.completed_at AS published_at, u.square
  FROM uploads u
 WHERE u.status = 'ready';
