-- 0002_auth_linking: sign-in throttling, pending OAuth authorizations,
-- analytics purge requests and the token refresher's claim on links.

-- Sign-in attempts that count against the throttle (AdmitLogin): one row per
-- attempt and throttle key, deleted when the sign-in succeeds or the row
-- expires. Keys are SHA-256 digests of (email, client network) or of the
-- client network alone; neither the address nor the IP is stored.
CREATE TABLE login_attempts (
    key        bytea       NOT NULL CHECK (length(key) = 32),
    attempt_id uuid        NOT NULL,
    at         timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key, attempt_id)
);
CREATE INDEX login_attempts_expires_at_idx ON login_attempts (expires_at);

-- Authorize requests in flight (CreateOAuthState). Single-use: the callback
-- deletes the row it redeems. Bound to the session that started it, which
-- ends (logout, expiry, user deletion) take the row with them.
CREATE TABLE oauth_states (
    -- sha256 of the state parameter; the state itself is never stored.
    state_hash   bytea       PRIMARY KEY CHECK (length(state_hash) = 32),
    session_id   bytea       NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform     text        NOT NULL CHECK (platform <> ''),
    -- The PKCE code verifier, AES-256-GCM under the user's data key, bound
    -- to (user, state). NULL when the platform does not use PKCE.
    verifier_enc bytea,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX oauth_states_session_id_idx ON oauth_states (session_id, created_at);
CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at);

-- Analytics rows still to delete for deleted users (DeleteUser enqueues,
-- ClaimPurges/PurgeDone drain). No foreign key: the user is gone.
CREATE TABLE purge_requests (
    user_id         uuid        PRIMARY KEY,
    requested_at    timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    -- Successful purges still to run: a second one, PurgeRepeatDelay after
    -- the first, removes rows that were in flight in the pipeline.
    passes_left     integer     NOT NULL DEFAULT 2 CHECK (passes_left > 0),
    last_error      text        NOT NULL DEFAULT ''
);
CREATE INDEX purge_requests_next_attempt_at_idx ON purge_requests (next_attempt_at);

-- The refresher's lease on a link whose token it is renewing
-- (ClaimExpiringLinks); cleared when a new token is stored.
ALTER TABLE links ADD COLUMN refresh_claimed_until timestamptz;
CREATE INDEX links_active_expires_at_idx ON links (expires_at)
    WHERE status = 'active' AND expires_at IS NOT NULL;
