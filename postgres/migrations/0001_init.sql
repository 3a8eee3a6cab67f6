-- 0001_init: users, sessions, per-user data keys and linked accounts.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    -- argon2id PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique case-insensitively; lookups use lower(email).
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sessions (
    -- sha256 of the bearer token; the token itself is never stored.
    id           bytea       PRIMARY KEY CHECK (length(id) = 32),
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- One AES-256 data key per user, stored wrapped by a master key. Deleting
-- the row crypto-shreds the user's token ciphertexts.
CREATE TABLE data_keys (
    user_id       uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    master_key_id text        NOT NULL CHECK (master_key_id <> ''),
    wrapped_key   bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    rotated_at    timestamptz
);
-- Master key rotation finds keys not under the current master key.
CREATE INDEX data_keys_master_key_id_idx ON data_keys (master_key_id);

CREATE TABLE links (
    id                uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- topics.Platform; not constrained here so a new platform needs no migration.
    platform          text        NOT NULL CHECK (platform <> ''),
    account_id        text        NOT NULL CHECK (account_id <> ''),
    handle            text        NOT NULL DEFAULT '',
    status            text        NOT NULL DEFAULT 'active'
                                  CHECK (status IN ('active', 'needs_reauth', 'revoked')),
    status_reason     text        NOT NULL DEFAULT '',
    status_at         timestamptz NOT NULL DEFAULT now(),
    -- AES-256-GCM under the user's data key, bound to (user, link, field).
    access_token_enc  bytea       NOT NULL,
    refresh_token_enc bytea,
    token_type        text        NOT NULL DEFAULT '',
    expires_at        timestamptz,
    scopes            text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_fetched_at   timestamptz,
    -- When the scheduler emits the next fetch. ClaimDueLinks pushes it out
    -- by a lease while a claimed link is being emitted.
    next_fetch_at     timestamptz NOT NULL DEFAULT now(),
    -- When the user last asked for a refresh (RequestRefresh); NULL once the
    -- fetch it asked for is scheduled (MarkScheduled).
    refresh_requested_at timestamptz,
    UNIQUE (user_id, platform, account_id)
);
-- The scheduler's claim (ClaimDueLinks): platform = $p AND status = 'active'
-- AND next_fetch_at <= $now ORDER BY next_fetch_at.
CREATE INDEX links_platform_status_next_fetch_at_idx ON links (platform, status, next_fetch_at);
