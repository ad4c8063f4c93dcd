-- Entries of the revocation list are unique by a hash of their key: the key of a subject (an
-- ML-DSA wallet address is nearly 4,000 characters) is longer than a btree entry may be.
ALTER TABLE auth_revoked_tokens ADD COLUMN key_hash bytea;
UPDATE auth_revoked_tokens SET key_hash = sha256(convert_to(jti, 'UTF8'));
ALTER TABLE auth_revoked_tokens ALTER COLUMN key_hash SET NOT NULL;
ALTER TABLE auth_revoked_tokens DROP CONSTRAINT auth_revoked_tokens_jti_key;
CREATE UNIQUE INDEX auth_revoked_tokens_key_hash ON auth_revoked_tokens (key_hash);
