-- Every access token issued, until it expires, so that it can be revoked.
CREATE TABLE auth_access_tokens (
    jti text PRIMARY KEY,
    session_id bytea NOT NULL,
    subject text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX auth_access_tokens_session ON auth_access_tokens (session_id);
-- Hash indexes: a wallet subject (an ML-DSA-65 key in hex) is longer than a btree entry may be.
CREATE INDEX auth_access_tokens_subject ON auth_access_tokens USING hash (subject);
CREATE INDEX auth_access_tokens_expiry ON auth_access_tokens (expires_at);

-- The revocation list. Rows are added under an advisory lock, so seq follows commit order
-- and a reader asking for seq > n never misses a row committed later with a smaller seq.
CREATE TABLE auth_revoked_tokens (
    seq bigserial PRIMARY KEY,
    jti text NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL
);
CREATE INDEX auth_revoked_tokens_expiry ON auth_revoked_tokens (expires_at);

CREATE INDEX auth_sessions_subject ON auth_sessions USING hash ((claims->>'sub'));
