-- The refresh token spent by a session's latest rotation (its keyed hash, like token_hash) and
-- when that rotation happened: within refresh_reuse_grace_seconds, that one token presented
-- again gets its successor (a retry) instead of revoking the session.
ALTER TABLE auth_sessions
    ADD COLUMN previous_hash bytea CHECK (length(previous_hash) = 32),
    ADD COLUMN rotated_at timestamptz;
