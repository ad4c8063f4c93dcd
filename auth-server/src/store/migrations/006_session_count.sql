-- An upper bound on the rows of auth_sessions that a sign-in reads at once: while it is below
-- max_sessions, the live sessions are fewer still and the sign-in need not count them (a scan
-- of every live row, some 100 ms at a million sessions). Rows added are counted by a
-- sequence, which a rolled-back insert does not give back (the bound errs high, never low)
-- and which takes no lock; rows removed by a counter updated in the deleting transaction.
-- Triggers count every writer, an instance of an earlier version included.
LOCK TABLE auth_sessions IN SHARE MODE;
CREATE SEQUENCE auth_sessions_added MINVALUE 0 START 0;
SELECT setval('auth_sessions_added', (SELECT count(*) FROM auth_sessions));
CREATE TABLE auth_sessions_removed (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    removed bigint NOT NULL
);
INSERT INTO auth_sessions_removed (removed) VALUES (0);
CREATE FUNCTION auth_sessions_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('auth_sessions_added') FROM inserted;
    RETURN NULL;
END
$$;
CREATE TRIGGER auth_sessions_added AFTER INSERT ON auth_sessions
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION auth_sessions_count_added();
CREATE FUNCTION auth_sessions_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_sessions_removed SET removed = removed + (SELECT count(*) FROM deleted);
    RETURN NULL;
END
$$;
CREATE TRIGGER auth_sessions_removed AFTER DELETE ON auth_sessions
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION auth_sessions_count_removed();
