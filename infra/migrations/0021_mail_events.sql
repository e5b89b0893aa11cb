-- What SES says happened to the mail we sent (issue 12): its configuration set's
-- events, delivered by EventBridge at least once and recorded once per event id,
-- with the campaign and subscriber the message's tags named.

CREATE TABLE mail_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- EventBridge's event id: a redelivery is the same event.
  event_id text NOT NULL UNIQUE,
  -- SES's eventType: Send, Delivery, Bounce, Complaint, Reject, Rendering Failure,
  -- DeliveryDelay, Open, Click, Subscription.
  event_type text NOT NULL,
  message_id text NOT NULL,
  recipients text[] NOT NULL,
  campaign text,
  subscriber text,
  occurred_at timestamptz NOT NULL,
  -- The type's own facts (a bounce's type, a complaint's feedback type).
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mail_events_campaign ON mail_events (campaign, event_type) WHERE campaign IS NOT NULL;
CREATE INDEX mail_events_message ON mail_events (message_id);
