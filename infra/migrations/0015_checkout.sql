-- Checkout (issue 11): how the payer pays an order (the sub-channel) and what the
-- provider answered for the frontend, kept so a repeated checkout answers the same;
-- and the Idempotency-Keys members sent, each bound to one order and one request
-- body (the same key with another body is refused).

ALTER TABLE orders
  ADD COLUMN method text CHECK (method IN
    ('payment_intent', 'checkout_session', 'page', 'wap', 'qr', 'native', 'jsapi', 'h5')),
  ADD COLUMN payment jsonb;

CREATE TABLE checkout_requests (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
  -- SHA-256 of the request as parsed, hex.
  request_hash text NOT NULL,
  order_id bigint NOT NULL REFERENCES orders (id),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (member_id, idempotency_key)
);
