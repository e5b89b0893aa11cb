-- Promotion codes (issue 11; Ghost's offers, Medusa's promotions): a percentage or
-- a fixed amount off, for one product or any, within a window, with a limit of
-- redemptions in all and per member. A code is applied when the order is made (the
-- order keeps the discount it was promised) and redeemed when the order is paid,
-- once: `promotion_redemptions.order_id` is unique.

CREATE TABLE promotions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  code text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]{3,32}$'),
  percent_off integer CHECK (percent_off BETWEEN 1 AND 99),
  amount_off bigint CHECK (amount_off BETWEEN 1 AND 100000000),
  currency text CHECK (currency IN ('CNY', 'USD')),
  product_id bigint REFERENCES products (id),
  starts_at timestamptz NOT NULL DEFAULT now(),
  ends_at timestamptz,
  max_redemptions integer CHECK (max_redemptions > 0),
  max_per_member integer NOT NULL DEFAULT 1 CHECK (max_per_member > 0),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT promotions_one_discount CHECK (
    (percent_off IS NOT NULL AND amount_off IS NULL AND currency IS NULL)
    OR (percent_off IS NULL AND amount_off IS NOT NULL AND currency IS NOT NULL)),
  CONSTRAINT promotions_window CHECK (ends_at IS NULL OR ends_at > starts_at)
);

CREATE TABLE promotion_redemptions (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  promotion_id bigint NOT NULL REFERENCES promotions (id),
  order_id bigint NOT NULL UNIQUE REFERENCES orders (id),
  member_id bigint NOT NULL REFERENCES members (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promotion_redemptions_member_idx ON promotion_redemptions (promotion_id, member_id);

ALTER TABLE orders
  ADD COLUMN promotion_id bigint REFERENCES promotions (id),
  ADD COLUMN discount bigint NOT NULL DEFAULT 0 CHECK (discount >= 0);
