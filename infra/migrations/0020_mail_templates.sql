-- Marketing templates (issue 12): a subject, an HTML body and a text body with
-- minijinja variables, checked when saved (marketing::templates).

CREATE TABLE mail_templates (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  document_id text NOT NULL UNIQUE DEFAULT replace(gen_random_uuid()::text, '-', ''),
  name text NOT NULL,
  subject text NOT NULL,
  html text NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER mail_templates_updated_at BEFORE UPDATE ON mail_templates
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
