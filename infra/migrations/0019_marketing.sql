-- Email marketing, first part (issue 12): subscribers, mailing lists, per-list
-- subscription status, and the suppression list. listmonk's model: a subscriber is
-- an address with a name and attributes, linked to a member when one has the same
-- address; a list is public (anyone may subscribe) or private (staff add people),
-- single or double opt-in.

CREATE TABLE subscribers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  -- Lower-cased by the Email newtype.
  email text NOT NULL CONSTRAINT subscribers_email_key UNIQUE,
  name text NOT NULL DEFAULT '',
  -- What segments filter on: a flat JSON object.
  attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
  -- Blocklisted: never mailed, whatever their lists say.
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'blocklisted')),
  member_id bigint UNIQUE REFERENCES members (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT subscribers_email_lowercase CHECK (email = lower(email))
);

CREATE TRIGGER subscribers_updated_at BEFORE UPDATE ON subscribers
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE mailing_lists (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  visibility text NOT NULL CHECK (visibility IN ('public', 'private')),
  optin text NOT NULL CHECK (optin IN ('single', 'double')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER mailing_lists_updated_at BEFORE UPDATE ON mailing_lists
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE list_subscriptions (
  list_id bigint NOT NULL REFERENCES mailing_lists (id) ON DELETE CASCADE,
  subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
  -- Unconfirmed until a double opt-in list's link is used; only confirmed (or, on a
  -- single opt-in list, new) subscriptions are mailed.
  status text NOT NULL CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (list_id, subscriber_id)
);

CREATE INDEX list_subscriptions_subscriber ON list_subscriptions (subscriber_id);

CREATE TRIGGER list_subscriptions_updated_at BEFORE UPDATE ON list_subscriptions
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Addresses never mailed again: hard bounces, complaints, unsubscribing from
-- everything, or staff. Checked when a mail is sent, not only when it is queued.
CREATE TABLE suppressions (
  email text PRIMARY KEY CHECK (email = lower(email)),
  reason text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'unsubscribe', 'manual')),
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
