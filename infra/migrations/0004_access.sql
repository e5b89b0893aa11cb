-- Staff, API tokens, entitlements and the audit trail.

CREATE TABLE staff_users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  email text NOT NULL,
  password_hash text NOT NULL,
  display_name text NOT NULL DEFAULT '',
  -- Strapi's model: authors manage their own drafts, editors all content, admins everything.
  role text NOT NULL CHECK (role IN ('admin', 'editor', 'author')),
  disabled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT staff_email_lowercase CHECK (email = lower(email))
);
CREATE UNIQUE INDEX staff_users_email_key ON staff_users (email);
CREATE TRIGGER staff_users_updated_at BEFORE UPDATE ON staff_users
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE api_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  kind text NOT NULL CHECK (kind IN ('read-only', 'full-access', 'custom')),
  scopes text[] NOT NULL DEFAULT '{}',
  -- Only the SHA-256 of the token is kept; the token itself is shown once.
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz,
  last_used_at timestamptz,
  revoked_at timestamptz,
  created_by bigint REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT api_tokens_scopes_only_for_custom CHECK (kind = 'custom' OR scopes = '{}')
);

CREATE TABLE entitlements (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  member_id bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  -- What it unlocks: a membership plan or a course, by its code.
  product_kind text NOT NULL CHECK (product_kind IN ('plan', 'course')),
  product_code text NOT NULL,
  -- Where it came from: a purchase (payments), a subscription period, or staff comp.
  source text NOT NULL CHECK (source IN ('purchase', 'subscription', 'comp')),
  source_ref text,
  starts_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  granted_by bigint REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT entitlements_period CHECK (expires_at IS NULL OR expires_at > starts_at)
);
CREATE INDEX entitlements_member_idx ON entitlements (member_id, product_kind, product_code);
-- One grant per purchase, so a replayed payment webhook cannot grant twice.
CREATE UNIQUE INDEX entitlements_source_ref_key ON entitlements (source, source_ref)
  WHERE source_ref IS NOT NULL;

CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- e.g. 'staff:<documentId>', 'token:<documentId>', 'cli'
  actor text NOT NULL,
  action text NOT NULL,
  subject text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC);

-- Single-use links mailed to members (email verification, password reset).
CREATE TABLE member_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  purpose text NOT NULL CHECK (purpose IN ('verify-email', 'reset-password')),
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX member_tokens_member_idx ON member_tokens (member_id, purpose);

-- Deleting an account anonymises the row (orders and entitlements keep pointing at it).
ALTER TABLE members ADD COLUMN deleted_at timestamptz;
