-- The DPoP proofs (RFC 9449) the latest refreshes of a session came with, by identity (16
-- bytes each, newest last, at most four): a captured refresh request replayed at another
-- instance, whose own record of the proofs it saw does not have it, is refused instead of being
-- taken for a reuse that revokes the session.
ALTER TABLE auth_sessions
    ADD COLUMN dpop_recent_proofs bytea NOT NULL DEFAULT ''::bytea
        CHECK (length(dpop_recent_proofs) <= 64 AND length(dpop_recent_proofs) % 16 = 0);
