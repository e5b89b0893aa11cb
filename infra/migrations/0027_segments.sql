-- Segments: saved rules (marketing::segments::Rules, checked before they are stored)
-- that narrow a campaign's lists to the subscribers who match.
CREATE TABLE segments (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  rules jsonb NOT NULL CHECK (jsonb_typeof(rules) = 'object'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER segments_updated_at BEFORE UPDATE ON segments
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A finished campaign forgets a deleted segment; an unfinished one keeps it from
-- being deleted (marketing::segments::delete).
ALTER TABLE campaigns ADD COLUMN segment_id bigint REFERENCES segments (id) ON DELETE SET NULL;
