-- Grants waiting for the user to choose which of their accounts to link:
-- after consent to a grant covering several accounts (a Facebook login
-- managing several Pages), the callback stores the token here and the
-- user picks; each chosen account becomes its own link with the token.
-- The default is none. A grant is used once and lives LinkTTL (10 min).
CREATE TABLE link_grants (
    id                uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform          text        NOT NULL CHECK (platform <> ''),
    -- The accounts the grant covers, in the platform's order:
    -- [{"id": "...", "handle": "..."}].
    accounts          jsonb       NOT NULL,
    -- The OAuth token, AES-256-GCM under the user's data key, bound to
    -- (user, grant, column).
    access_token_enc  bytea       NOT NULL,
    refresh_token_enc bytea,
    token_type        text        NOT NULL DEFAULT '',
    token_expires_at  timestamptz,
    scopes            text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL
);
CREATE INDEX link_grants_user_id_idx ON link_grants (user_id);
CREATE INDEX link_grants_expires_at_idx ON link_grants (expires_at);
