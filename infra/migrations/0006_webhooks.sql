-- Outgoing content webhooks (see shared::webhooks).
--
-- Nothing secret is stored: a webhook's signing secret is derived from the
-- WEBHOOK_SIGNING_KEY configuration secret and the row's random salt, so a copy of
-- the database alone cannot forge a signature. Rotating the secret changes the salt.

CREATE TABLE webhooks (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  url text NOT NULL,
  -- Strapi's event names; a delivery is written for each event listed here.
  events text[] NOT NULL
    CHECK (cardinality(events) > 0
           AND events <@ ARRAY['entry.create', 'entry.update', 'entry.delete',
                               'entry.publish', 'entry.unpublish']),
  enabled boolean NOT NULL DEFAULT true,
  secret_salt text NOT NULL,
  created_by bigint REFERENCES staff_users (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER webhooks_updated_at BEFORE UPDATE ON webhooks
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The outbox: one row per webhook and event, written in the event's transaction.
-- Like mail_outbox, SQS only carries row ids; the row is the truth.
CREATE TABLE webhook_deliveries (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event text NOT NULL,
  -- The Strapi uid's model, e.g. article, and the entry's public fields.
  model text NOT NULL,
  entry jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- A pending row is not sent before this: the backoff after a failed attempt.
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- While status = 'sending': until when the claimer owns the row.
  claimed_until timestamptz,
  last_status_code integer,
  last_error text,
  -- When a queue message for the row was last sent; NULL = never.
  enqueued_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_deliveries_claim_has_lease
    CHECK ((status = 'sending') = (claimed_until IS NOT NULL)),
  CONSTRAINT webhook_deliveries_delivered_has_time
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- The sweeper only looks at unfinished rows.
CREATE INDEX webhook_deliveries_unfinished ON webhook_deliveries (next_attempt_at)
  WHERE status IN ('pending', 'sending');
-- The admin's recent deliveries of one webhook.
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id DESC);

CREATE TRIGGER webhook_deliveries_updated_at BEFORE UPDATE ON webhook_deliveries
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
