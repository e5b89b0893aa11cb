-- Permissions a staff member holds beyond their role, by scope name (e.g. an editor
-- who also runs the newsletter: marketing.read, marketing.write). Checked in Rust
-- against identity::access::Permission; managing staff, tokens and webhooks is
-- never granted this way.
ALTER TABLE staff_users ADD COLUMN grants text[] NOT NULL DEFAULT '{}';
