-- 0006_signups: sign-ups waiting for their address to be verified
-- (RequestSignUp, VerifySignUp). The account is created only when the link
-- mailed to the address is opened; a new sign-up for the same address
-- replaces the pending one (its link stops working), so whoever holds the
-- mailbox decides which password the account gets.
CREATE TABLE signups (
    -- sha256 of the verification token; the token itself is never stored.
    token_hash    bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX signups_email_key ON signups (lower(email));
CREATE INDEX signups_expires_at_idx ON signups (expires_at);
