-- Access tokens are no longer recorded: each names its session (sid), its jti carries its
-- expiry under a MAC, and revoking a session or a subject lists one entry. The list keeps
-- its table; its jti column holds the entry's key (a jti, sid:HEX or sub:SECONDS:SUBJECT).
DROP TABLE IF EXISTS auth_access_tokens;
