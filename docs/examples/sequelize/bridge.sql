-- Bridge: from the schema sequelize-cli left (its fix-up history included) to the schema of
-- mig's migrations up to 20260130_000000_organizations_and_access. Written by hand from the
-- list 'mig diff --to 20260130_000000_organizations_and_access' prints, run once, in one
-- transaction, before 'mig baseline' (docs/adopt.md):
--
--   psql "$DATABASE_URL" --single-transaction -v ON_ERROR_STOP=1 -f bridge.sql
--
-- Every statement is metadata-only or validates existing rows; none rewrites a table
-- (varchar -> text needs no rewrite). On a large production table, the CHECK constraints can
-- be added NOT VALID first and validated in a second step.

-- The trigger function of mig's first migration, exactly as that migration writes it (the
-- comparison reads function bodies as written).
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

-- users: text instead of varchar(255); ids and timestamps defaulted by the database;
-- email unique among live rows, case-insensitively, instead of a plain UNIQUE.
ALTER TABLE users
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN email TYPE text,
    ALTER COLUMN password_hash TYPE text,
    ALTER COLUMN full_name TYPE text,
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    DROP CONSTRAINT users_email_key,
    DROP CONSTRAINT users_email_check,
    ADD CONSTRAINT users_email_format CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    ADD CONSTRAINT users_password_hash_not_blank CHECK (password_hash IS NULL OR password_hash <> '');
CREATE UNIQUE INDEX users_email_live_key ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- organizations
ALTER TABLE organizations
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN name TYPE text,
    ALTER COLUMN slug TYPE text,
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    DROP CONSTRAINT organizations_slug_key,
    ADD CONSTRAINT organizations_name_not_blank CHECK (btrim(name) <> ''),
    ADD CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 63);
CREATE UNIQUE INDEX organizations_slug_live_key ON organizations (slug) WHERE deleted_at IS NULL;
CREATE TRIGGER organizations_set_updated_at BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- roles: the foreign key fixed in 20260205090000 keeps its behaviour under mig's name; one
-- unique index for built-in roles and one per organization, instead of UNIQUE (organization_id,
-- key), under which built-in roles (organization_id NULL) never collide.
ALTER TABLE roles
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN key TYPE text,
    ALTER COLUMN name TYPE text,
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    DROP CONSTRAINT roles_organization_id_key_key,
    ADD CONSTRAINT roles_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    ADD CONSTRAINT roles_name_not_blank CHECK (btrim(name) <> '');
ALTER TABLE roles RENAME CONSTRAINT fk_roles_organization TO roles_organization_id_fkey;
CREATE UNIQUE INDEX roles_builtin_key_key ON roles (key)
    WHERE organization_id IS NULL AND deleted_at IS NULL;
CREATE UNIQUE INDEX roles_organization_key_key ON roles (organization_id, key)
    WHERE organization_id IS NOT NULL AND deleted_at IS NULL;
CREATE TRIGGER roles_set_updated_at BEFORE UPDATE ON roles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- permissions
ALTER TABLE permissions
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN key TYPE text,
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    ADD CONSTRAINT permissions_key_format
        CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(key) <= 128);
CREATE TRIGGER permissions_set_updated_at BEFORE UPDATE ON permissions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- role_permissions
ALTER TABLE role_permissions ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE role_permissions RENAME CONSTRAINT fk_role_permissions_role TO role_permissions_role_id_fkey;
ALTER TABLE role_permissions
    RENAME CONSTRAINT fk_role_permissions_permission TO role_permissions_permission_id_fkey;
CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

-- organization_members: membership unique among live rows only
ALTER TABLE organization_members
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    DROP CONSTRAINT organization_members_organization_id_user_id_key;
ALTER TABLE organization_members
    RENAME CONSTRAINT fk_members_organization TO organization_members_organization_id_fkey;
ALTER TABLE organization_members RENAME CONSTRAINT fk_members_user TO organization_members_user_id_fkey;
CREATE UNIQUE INDEX organization_members_live_key ON organization_members (organization_id, user_id)
    WHERE deleted_at IS NULL;
CREATE INDEX organization_members_user_idx ON organization_members (user_id);
CREATE INDEX organization_members_role_idx ON organization_members (role_id);
CREATE TRIGGER organization_members_set_updated_at BEFORE UPDATE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- invitations: the ENUM status becomes text with a CHECK (a status added later is then a
-- constraint change, not ALTER TYPE ... ADD VALUE outside a transaction)
ALTER TABLE invitations ALTER COLUMN status DROP DEFAULT;
ALTER TABLE invitations
    ALTER COLUMN id SET DEFAULT gen_random_uuid(),
    ALTER COLUMN email TYPE text,
    ALTER COLUMN token_hash TYPE text,
    ALTER COLUMN status TYPE text USING status::text,
    ALTER COLUMN status SET DEFAULT 'pending',
    ALTER COLUMN expires_at SET DEFAULT now() + interval '7 days',
    ALTER COLUMN created_at SET DEFAULT now(),
    ALTER COLUMN updated_at SET DEFAULT now(),
    DROP CONSTRAINT invitations_token_hash_key,
    ADD CONSTRAINT invitations_email_format CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    ADD CONSTRAINT invitations_status_check
        CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    ADD CONSTRAINT invitations_accepted_at_check
        CHECK ((status = 'accepted') = (accepted_at IS NOT NULL)),
    ADD CONSTRAINT invitations_expires_after_created CHECK (expires_at > created_at);
DROP TYPE enum_invitations_status;
ALTER TABLE invitations
    RENAME CONSTRAINT fk_invitations_organization TO invitations_organization_id_fkey;
ALTER TABLE invitations RENAME CONSTRAINT fk_invitations_inviter TO invitations_invited_by_fkey;
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_pending_key ON invitations (organization_id, lower(email))
    WHERE status = 'pending' AND deleted_at IS NULL;
CREATE INDEX invitations_role_idx ON invitations (role_id);
CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);
CREATE TRIGGER invitations_set_updated_at BEFORE UPDATE ON invitations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- SequelizeMeta stays, read-only, for one release: the previous release's start-up
-- ('sequelize-cli db:migrate') finds every entry applied and does nothing, so rolling the
-- application back needs no database change. No row may be added, changed or deleted by any
-- role, the owner included (the role sequelize-cli runs as, usually): a constraint and a rule
-- hold for the owner, where a REVOKE would not (an owner grants itself its privileges back).
ALTER TABLE "SequelizeMeta" ADD CONSTRAINT "SequelizeMeta_read_only" CHECK (false) NOT VALID;
CREATE RULE "SequelizeMeta_keep" AS ON DELETE TO "SequelizeMeta" DO INSTEAD
    SELECT ('SequelizeMeta is read-only: mig keeps the migration history now (docs/adopt.md,'
            ' step 6); not deleted: ' || old.name)::integer;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "SequelizeMeta" FROM PUBLIC;
DO $$
DECLARE
    writer text;
BEGIN
    FOR writer IN
        SELECT DISTINCT grantee FROM information_schema.role_table_grants
        WHERE table_name = 'SequelizeMeta' AND grantee <> 'PUBLIC'
          AND privilege_type IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')
          AND grantee <> (SELECT tableowner FROM pg_tables WHERE tablename = 'SequelizeMeta')
    LOOP
        EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "SequelizeMeta" FROM %I',
                       writer);
    END LOOP;
END
$$;
