-- The secret every instance shares: challenge MACs and refresh-token hashes derive from it.
CREATE TABLE auth_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL CHECK (length(value) = 32)
);

-- One row per sign-in. token_hash is an HMAC of the one current refresh token.
CREATE TABLE auth_sessions (
    id bytea PRIMARY KEY CHECK (length(id) = 16),
    claims jsonb NOT NULL,
    token_hash bytea NOT NULL CHECK (length(token_hash) = 32),
    generation bigint NOT NULL DEFAULT 0,
    token_expires_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX auth_sessions_live ON auth_sessions (ends_at) WHERE revoked_at IS NULL;

-- Wallet challenges already used, until they expire.
CREATE TABLE auth_spent_challenges (
    id bytea PRIMARY KEY CHECK (length(id) = 16),
    expires_at timestamptz NOT NULL,
    verified boolean NOT NULL
);
CREATE INDEX auth_spent_challenges_expiry ON auth_spent_challenges (expires_at);
