-- The catalogue (issue 11): what members can buy, and the finance role that reads
-- what they bought.

ALTER TABLE staff_users DROP CONSTRAINT staff_users_role_check;
ALTER TABLE staff_users ADD CONSTRAINT staff_users_role_check
  CHECK (role IN ('admin', 'editor', 'author', 'finance'));

-- A product is what an entitlement names (`kind`/`code`, as `entitlements` and
-- `article_products` spell it): a plan, or a course (for life, or `access_days`
-- from purchase). Products are never deleted (orders will point at them): they are
-- deactivated.
CREATE TABLE products (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  kind text NOT NULL CHECK (kind IN ('plan', 'course')),
  code text NOT NULL CHECK (code ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(code) <= 64),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
  description text NOT NULL DEFAULT '',
  access_days integer CHECK (access_days BETWEEN 1 AND 3650),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, code),
  CONSTRAINT products_access_days_for_courses CHECK (kind = 'course' OR access_days IS NULL)
);

-- How a product is sold, Stripe's way: a price is immutable (a new amount is a new
-- price; the old one is deactivated, so orders keep pointing at what was paid).
-- Plans are sold by period, prepaid (a month or a year added to the member's
-- access) or as a subscription Stripe renews; courses once. Amounts are minor units
-- (fen, cents). At most one active price per product, currency and terms.
CREATE TABLE prices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  product_id bigint NOT NULL REFERENCES products (id),
  currency text NOT NULL CHECK (currency IN ('CNY', 'USD')),
  amount bigint NOT NULL CHECK (amount BETWEEN 1 AND 100000000),
  billing text NOT NULL CHECK (billing IN ('prepaid', 'subscription', 'one_time')),
  period text CHECK (period IN ('month', 'year')),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT prices_period_unless_one_time CHECK ((billing = 'one_time') = (period IS NULL))
);
CREATE UNIQUE INDEX prices_one_active ON prices (product_id, currency, billing, coalesce(period, ''))
  WHERE active;
