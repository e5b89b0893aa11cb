-- The transactional mail outbox (see shared::mail).
--
-- A row is written in the same transaction as the event that causes the mail, so a
-- mail exists exactly when its event committed. SQS only carries row ids; the row is
-- the truth about whether the mail went out.

CREATE TABLE mail_outbox (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- A name from shared::mail::template, e.g. verify-email.
  template text NOT NULL,
  recipient text NOT NULL,
  variables jsonb NOT NULL DEFAULT '{}',
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  -- How many times a sender claimed the row; bounded by the mail-send function.
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- While status = 'sending': until when the claimer owns the row. Longer than any
  -- sender can live, so only a crashed sender's claim ever expires.
  claimed_until timestamptz,
  ses_message_id text,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- When a queue message for the row was last sent; NULL = never (the sweeper's cue).
  enqueued_at timestamptz,
  sent_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT mail_outbox_claim_has_lease CHECK ((status = 'sending') = (claimed_until IS NOT NULL)),
  CONSTRAINT mail_outbox_sent_has_time CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

-- The sweeper only ever looks at unfinished rows; finished ones stay out of the index.
CREATE INDEX mail_outbox_unfinished ON mail_outbox (created_at)
  WHERE status IN ('pending', 'sending');

CREATE TRIGGER mail_outbox_updated_at BEFORE UPDATE ON mail_outbox
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
