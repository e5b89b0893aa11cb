-- Automations: a sequence of templates mailed to each person a trigger enrols,
-- with a delay before each step, run by the scheduler every minute.
CREATE TABLE automations (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  -- subscribed: a subscription to `list_id` confirmed; member-signup: an account
  -- created; order-paid: an order paid.
  trigger text NOT NULL CHECK (trigger IN ('subscribed', 'member-signup', 'order-paid')),
  list_id bigint REFERENCES mailing_lists (id) ON DELETE RESTRICT,
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused')),
  -- Everyone the trigger saw up to here is enrolled: the next run looks after it.
  -- Set when first activated, so only people who arrive from then on are enrolled.
  enrolled_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT automations_list_iff_subscribed CHECK ((trigger = 'subscribed') = (list_id IS NOT NULL))
);

CREATE TRIGGER automations_updated_at BEFORE UPDATE ON automations
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE automation_steps (
  automation_id bigint NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
  position integer NOT NULL CHECK (position >= 0),
  -- After enrolment for the first step, after the previous step for the others.
  delay_minutes integer NOT NULL CHECK (delay_minutes BETWEEN 0 AND 525600),
  template_id bigint NOT NULL REFERENCES mail_templates (id) ON DELETE RESTRICT,
  PRIMARY KEY (automation_id, position)
);

CREATE TABLE automation_enrolments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  automation_id bigint NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
  subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
  -- The step to send next, when it is due.
  next_step integer NOT NULL DEFAULT 0,
  next_run_at timestamptz NOT NULL,
  -- left: unsubscribed, suppressed or blocklisted before the sequence ended.
  -- failed: a step could not be rendered (logged); the sequence stops there.
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'left', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- A person goes through a sequence once.
  CONSTRAINT automation_enrolments_once UNIQUE (automation_id, subscriber_id)
);

CREATE INDEX automation_enrolments_due ON automation_enrolments (next_run_at)
  WHERE status = 'active';

CREATE TRIGGER automation_enrolments_updated_at BEFORE UPDATE ON automation_enrolments
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The `subscribed` trigger reads the subscriptions confirmed since its watermark.
CREATE INDEX list_subscriptions_confirmed ON list_subscriptions (list_id, updated_at)
  WHERE status = 'confirmed';

-- The `member-signup` and `order-paid` triggers read members proven and orders
-- paid since their watermark (identity's and commerce's queries).
CREATE INDEX members_verified_at ON members (email_verified_at) WHERE email_verified_at IS NOT NULL;
CREATE INDEX orders_paid_at ON orders (paid_at) WHERE paid_at IS NOT NULL;
