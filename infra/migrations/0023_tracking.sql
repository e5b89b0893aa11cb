-- Opens and clicks of campaign mail (issue 12), through signed links
-- (marketing::tracking). A campaign may send without them.

ALTER TABLE campaigns ADD COLUMN tracking boolean NOT NULL DEFAULT true;

CREATE TABLE tracking_events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  subscriber_id bigint NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('open', 'click')),
  -- A click's destination, as written in the mail.
  url text,
  -- Fetched by a machine (a privacy proxy prefetching, a security scanner): kept,
  -- not counted as a person's open.
  machine boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT tracking_events_click_has_url CHECK ((kind = 'click') = (url IS NOT NULL))
);

CREATE INDEX tracking_events_campaign ON tracking_events (campaign_id, kind);
