-- Refunds (issue 11): each asked of the provider once, by our own request id (Alipay's
-- out_request_no, WeChat Pay's out_refund_no, Stripe's idempotency key), so asking
-- again, or the provider notifying twice, changes nothing. An order keeps what has
-- been refunded of it, never more than it captured.

CREATE TABLE refunds (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  order_id bigint NOT NULL REFERENCES orders (id),
  request_id text NOT NULL UNIQUE CHECK (length(request_id) BETWEEN 1 AND 64),
  amount bigint NOT NULL CHECK (amount > 0),
  reason text CHECK (length(reason) <= 200),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  -- The provider's id of the refund, once it gave one.
  provider_ref text,
  -- Who asked: the audit log's actor (a staff member or an API token).
  requested_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  CONSTRAINT refunds_settled CHECK ((status = 'pending') = (settled_at IS NULL))
);
CREATE INDEX refunds_order_idx ON refunds (order_id);
CREATE INDEX refunds_settled_idx ON refunds (settled_at) WHERE status = 'succeeded';

ALTER TABLE orders ADD COLUMN refunded bigint NOT NULL DEFAULT 0
  CONSTRAINT orders_refunded CHECK (refunded BETWEEN 0 AND amount);
CREATE INDEX orders_paid_idx ON orders (paid_at) WHERE paid_at IS NOT NULL;
