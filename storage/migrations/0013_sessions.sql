-- Review desk sessions held by the server (issue 18): a signed cookie alone stays valid until it expires,
-- so a copied cookie outlived logout and a password change. The cookie now carries a random token; the
-- session is live only while its row is here (id: the token's SHA-256, so reading this table gives no
-- usable cookie). Logout, a password, role or sites change and disabling a user delete the user's rows.

-- A disabled account keeps its row (the audit trail names it) but cannot log in; NULL: enabled.
ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;

CREATE TABLE IF NOT EXISTS desk_sessions (
    id            text PRIMARY KEY,                -- hex SHA-256 of the cookie's token
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),  -- the idle timeout counts from here
    expires_at    timestamptz NOT NULL,                -- the lifetime: no activity extends it
    client        text NOT NULL DEFAULT ''             -- the address it was opened from, for the audit
);
CREATE INDEX IF NOT EXISTS desk_sessions_user ON desk_sessions (user_id);
CREATE INDEX IF NOT EXISTS desk_sessions_expires ON desk_sessions (expires_at);

-- The code ends the sessions itself (alerts/review/auth.py, to count them for the operator); the trigger
-- is the net under every other way an account changes (a re-run of `users add`, SQL by hand), so no path
-- leaves a session open with rights or a password the user no longer has.
CREATE OR REPLACE FUNCTION jianguan_end_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM desk_sessions WHERE user_id = NEW.id;
    RETURN NEW;
END;
$$;

DROP TRIGGER IF EXISTS users_end_sessions ON users;
CREATE TRIGGER users_end_sessions AFTER UPDATE OF password_hash, role, sites, disabled_at ON users
    FOR EACH ROW
    WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.sites IS DISTINCT FROM NEW.sites OR OLD.disabled_at IS DISTINCT FROM NEW.disabled_at)
    EXECUTE FUNCTION jianguan_end_user_sessions();
