-- Media uploads: the browser PUTs the file straight to S3 through a presigned URL
-- (functions/content-admin/src/uploads.rs); this table records what was promised and
-- whether the object has been checked. A row is `pending` from the moment the URL is
-- handed out and `ready` once HeadObject found the object with the recorded size and
-- type. The object key is unique: it names exactly one S3 object.

CREATE TABLE uploads (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  object_key text NOT NULL UNIQUE,
  -- As the client named it (display only; the key holds a sanitised copy).
  original_filename text NOT NULL,
  content_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes > 0),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready')),
  -- Null when an API token uploaded; the audit log names the token.
  uploaded_by bigint REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CHECK ((status = 'ready') = (completed_at IS NOT NULL))
);

-- The media library lists newest first.
CREATE INDEX uploads_created_idx ON uploads (created_at DESC, id DESC);

CREATE TRIGGER uploads_updated_at BEFORE UPDATE ON uploads
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
