-- Users: the accounts that sign in. Email is unique case-insensitively among live (not soft-deleted) users.
-- Also creates set_updated_at(), the trigger function every later table uses to keep updated_at current.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- created_at is fixed at insert. A no-op UPDATE (nothing changed) leaves updated_at
    -- alone, so idempotent upserts such as seed loads do not look like edits.
    NEW.created_at := OLD.created_at;
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL,
    -- NULL: the account cannot sign in with a password (invited, not yet set, or SSO only).
    password_hash text,
    full_name text,
    is_superuser boolean NOT NULL DEFAULT false,
    last_login_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT users_email_format CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    CONSTRAINT users_password_hash_not_blank CHECK (password_hash IS NULL OR password_hash <> '')
);

-- Case-insensitive without the citext extension; soft-deleted users free their address.
CREATE UNIQUE INDEX users_email_live_key ON users (lower(email)) WHERE deleted_at IS NULL;

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
