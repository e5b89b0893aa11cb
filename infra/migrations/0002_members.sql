-- Members: the readers who register, log in and pay.

CREATE TABLE members (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Stable public identifier (Strapi v5's documentId); the numeric id stays internal.
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  -- Stored lower-cased by the Email newtype; the constraint is the source of truth
  -- for "already registered".
  email text NOT NULL,
  password_hash text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  email_verified_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT members_email_lowercase CHECK (email = lower(email))
);

CREATE UNIQUE INDEX members_email_key ON members (email);

CREATE TRIGGER members_updated_at BEFORE UPDATE ON members
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
