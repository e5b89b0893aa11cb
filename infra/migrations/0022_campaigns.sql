-- Campaigns (issue 12): a template sent to the confirmed subscribers of lists, now
-- or at `send_at`. Each recipient is one row of campaign_messages, an outbox
-- (platform::outbox) unique per campaign and subscriber: nobody is ever queued
-- twice for a campaign, and a row is sent at most once (a sender that died after
-- SES took the mail leaves its row failed, never sent again).

CREATE TABLE campaigns (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  -- A template in use cannot be deleted.
  template_id bigint NOT NULL REFERENCES mail_templates (id),
  status text NOT NULL DEFAULT 'draft'
    CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'finished', 'canceled')),
  send_at timestamptz,
  -- Recipients when it started.
  targeted integer,
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT campaigns_scheduled_has_time CHECK (status <> 'scheduled' OR send_at IS NOT NULL)
);

CREATE INDEX campaigns_due ON campaigns (send_at) WHERE status = 'scheduled';

CREATE TRIGGER campaigns_updated_at BEFORE UPDATE ON campaigns
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE campaign_lists (
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  list_id bigint NOT NULL REFERENCES mailing_lists (id) ON DELETE CASCADE,
  PRIMARY KEY (campaign_id, list_id)
);

CREATE TABLE campaign_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
  -- The list the subscriber was reached through: its unsubscribe link's list.
  list_id bigint NOT NULL REFERENCES mailing_lists (id) ON DELETE CASCADE,
  status text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- Paused campaigns move their pending rows to 'infinity': no claim succeeds.
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  claimed_until timestamptz,
  enqueued_at timestamptz,
  ses_message_id text,
  last_error text,
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT campaign_messages_once UNIQUE (campaign_id, subscriber_id),
  CONSTRAINT campaign_messages_claim_has_lease CHECK ((status = 'sending') = (claimed_until IS NOT NULL)),
  CONSTRAINT campaign_messages_sent_has_time CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);

CREATE INDEX campaign_messages_unfinished ON campaign_messages (next_attempt_at)
  WHERE status IN ('pending', 'sending');

CREATE TRIGGER campaign_messages_updated_at BEFORE UPDATE ON campaign_messages
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
