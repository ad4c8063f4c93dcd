-- The DPoP key (RFC 9449) a session is bound to, by its RFC 7638 thumbprint (SHA-256,
-- base64url): a refresh of the session needs a proof by that key. NULL: an unbound session.
ALTER TABLE auth_sessions
    ADD COLUMN dpop_jkt text CHECK (length(dpop_jkt) = 43);
