-- Every verified notification a payment provider sends (issue 11), once: the unique
-- (provider, event_id) is inserted in the transaction that acts on the event, so a
-- redelivered or replayed event finds its row and changes nothing.

CREATE TABLE payment_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  provider text NOT NULL CHECK (provider IN ('stripe', 'alipay', 'wechat')),
  event_id text NOT NULL,
  kind text NOT NULL,
  order_id bigint REFERENCES orders (id),
  -- What it did: fulfilled, already_paid, late, mismatch, unknown_order, ignored.
  outcome text NOT NULL DEFAULT 'received',
  received_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, event_id)
);
