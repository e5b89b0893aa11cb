-- Sign in with WeChat (issue 11): a member may have an email, a WeChat identity, or
-- both, and linking is explicit. A WeChat identity is the openid WeChat's web
-- authorisation names the user by; openids are per app, so the app id is part of
-- the key. WeChat Pay's JSAPI needs the payer's openid for the paying app.

-- A member who signed in with WeChat alone has no email (and no password).
ALTER TABLE members ALTER COLUMN email DROP NOT NULL;

CREATE TABLE member_identities (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  provider text NOT NULL CHECK (provider IN ('wechat')),
  app_id text NOT NULL,
  -- The openid.
  subject text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- One member per WeChat user of an app, and one WeChat user per member and app.
  UNIQUE (provider, app_id, subject),
  UNIQUE (member_id, provider, app_id)
);
