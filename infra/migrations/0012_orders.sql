-- Orders (issue 11): one purchase of one price by one member, through one channel.
-- Every state change is a compare-and-set on `status` in the transaction that
-- records it in `order_events`; the one fulfilment path turns `pending` into `paid`
-- and grants (entitlements.source_ref = the order's document id, unique, so access is
-- granted once however many "paid" signals arrive).

CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  member_id bigint NOT NULL REFERENCES members (id),
  price_id bigint NOT NULL REFERENCES prices (id),
  channel text NOT NULL CHECK (channel IN ('stripe', 'alipay', 'wechat')),
  currency text NOT NULL CHECK (currency IN ('CNY', 'USD')),
  -- What the member is charged, in minor units.
  amount bigint NOT NULL CHECK (amount BETWEEN 1 AND 100000000),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN
    ('pending', 'paid', 'partially_refunded', 'refunded', 'expired', 'failed', 'canceled')),
  -- The provider's id of the payment (PaymentIntent, trade_no, transaction_id).
  provider_ref text,
  expires_at timestamptz NOT NULL,
  paid_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_paid_at CHECK
    ((status IN ('paid', 'partially_refunded', 'refunded')) = (paid_at IS NOT NULL))
);
CREATE INDEX orders_member_idx ON orders (member_id, created_at DESC);
CREATE INDEX orders_pending_idx ON orders (expires_at) WHERE status = 'pending';

-- What happened to an order and what said so: `paid` from a webhook, a provider
-- query or the return page's poll; `late_payment` when a payment arrives for an
-- order that expired, failed, was canceled or refunded (flagged, never re-granted).
CREATE TABLE order_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id bigint NOT NULL REFERENCES orders (id),
  kind text NOT NULL,
  source text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);
