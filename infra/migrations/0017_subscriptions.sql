-- Stripe-billed subscriptions (issue 11): the member's Stripe customer, and each
-- subscription with the order that started it. Every invoice Stripe collects is an
-- order of its own (the first one is the checkout's), named by the invoice's id, so
-- Stripe's two events for one invoice (invoice.paid, invoice.payment_succeeded)
-- extend access once.

CREATE TABLE stripe_customers (
  member_id bigint PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
  customer_id text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  member_id bigint NOT NULL REFERENCES members (id),
  price_id bigint NOT NULL REFERENCES prices (id),
  -- The checkout's order: paid by the first invoice.
  order_id bigint NOT NULL UNIQUE REFERENCES orders (id),
  provider_ref text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'incomplete' CHECK (status IN
    ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'unpaid', 'canceled', 'paused')),
  cancel_at_period_end boolean NOT NULL DEFAULT false,
  current_period_end timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_member_idx ON subscriptions (member_id, created_at DESC);

ALTER TABLE orders DROP CONSTRAINT orders_method_check;
ALTER TABLE orders ADD CONSTRAINT orders_method_check CHECK (method IN
  ('payment_intent', 'checkout_session', 'subscription', 'page', 'wap', 'qr', 'native', 'jsapi', 'h5'));
ALTER TABLE orders ADD COLUMN invoice_ref text UNIQUE;
