-- Registration that reveals nothing (issue 10, item 4): a new registration is a
-- pending account without a password until its mailbox is proven. The password
-- chosen at registration rides on the verification link it mailed and becomes the
-- account's when that link is used, so whoever registers an address they do not own
-- never learns or sets its password. Used and ended links forget it.

ALTER TABLE members ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE member_tokens ADD COLUMN password_hash text;
