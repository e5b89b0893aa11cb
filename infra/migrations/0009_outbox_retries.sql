-- One outbox state machine for every outbox table (platform::outbox): mail jobs get
-- the `next_attempt_at` webhook deliveries have, so claims, retries and sweeps are
-- the same statements for both. Existing rows are due at once, as they were.

ALTER TABLE mail_outbox ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
UPDATE mail_outbox SET next_attempt_at = created_at;

DROP INDEX mail_outbox_unfinished;
CREATE INDEX mail_outbox_unfinished ON mail_outbox (next_attempt_at)
  WHERE status IN ('pending', 'sending');
