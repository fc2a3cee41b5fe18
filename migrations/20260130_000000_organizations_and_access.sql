-- Organizations and access control: organizations, roles, permissions, role_permissions, organization_members, invitations.
-- depends: 20260128_104444_users

CREATE TABLE organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT organizations_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 63)
);

CREATE UNIQUE INDEX organizations_slug_live_key ON organizations (slug) WHERE deleted_at IS NULL;

CREATE TRIGGER organizations_set_updated_at BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Built-in roles (owner, admin, member) have no organization; an organization may add its own.
CREATE TABLE roles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A custom role goes with its organization.
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    key text NOT NULL,
    name text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT roles_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    CONSTRAINT roles_name_not_blank CHECK (btrim(name) <> '')
);

-- Two partial indexes because NULLs never collide in a unique index: one for built-in roles,
-- one per organization for custom roles.
CREATE UNIQUE INDEX roles_builtin_key_key ON roles (key)
    WHERE organization_id IS NULL AND deleted_at IS NULL;

CREATE UNIQUE INDEX roles_organization_key_key ON roles (organization_id, key)
    WHERE organization_id IS NOT NULL AND deleted_at IS NULL;

CREATE TRIGGER roles_set_updated_at BEFORE UPDATE ON roles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The permission catalogue, e.g. 'members.invite'. Not soft-deleted: a permission that is
-- removed from the catalogue is deleted, and its grants with it.
CREATE TABLE permissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT permissions_key_key UNIQUE (key),
    CONSTRAINT permissions_key_format
        CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(key) <= 128)
);

CREATE TRIGGER permissions_set_updated_at BEFORE UPDATE ON permissions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE role_permissions (
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    permission_id uuid NOT NULL REFERENCES permissions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT role_permissions_pkey PRIMARY KEY (role_id, permission_id)
);

CREATE INDEX role_permissions_permission_idx ON role_permissions (permission_id);

CREATE TABLE organization_members (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NO ACTION rather than RESTRICT: a role in use cannot be deleted, but deleting an
    -- organization removes its custom roles and its memberships in the same statement, and
    -- NO ACTION checks at the end of that statement.
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE NO ACTION,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE UNIQUE INDEX organization_members_live_key ON organization_members (organization_id, user_id)
    WHERE deleted_at IS NULL;

CREATE INDEX organization_members_user_idx ON organization_members (user_id);

CREATE INDEX organization_members_role_idx ON organization_members (role_id);

CREATE TRIGGER organization_members_set_updated_at BEFORE UPDATE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email text NOT NULL,
    -- NO ACTION for the same reason as organization_members.role_id.
    role_id uuid NOT NULL REFERENCES roles (id) ON DELETE NO ACTION,
    -- The invitation survives the account of whoever sent it.
    invited_by uuid REFERENCES users (id) ON DELETE SET NULL,
    -- A hash of the token sent by mail; the token itself is never stored.
    token_hash text NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    expires_at timestamptz NOT NULL DEFAULT now() + interval '7 days',
    accepted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT invitations_email_format CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    CONSTRAINT invitations_status_check
        CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    CONSTRAINT invitations_accepted_at_check
        CHECK ((status = 'accepted') = (accepted_at IS NOT NULL)),
    CONSTRAINT invitations_expires_after_created CHECK (expires_at > created_at)
);

CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);

-- One open invitation per address and organization.
CREATE UNIQUE INDEX invitations_pending_key ON invitations (organization_id, lower(email))
    WHERE status = 'pending' AND deleted_at IS NULL;

CREATE INDEX invitations_role_idx ON invitations (role_id);

CREATE INDEX invitations_invited_by_idx ON invitations (invited_by);

CREATE TRIGGER invitations_set_updated_at BEFORE UPDATE ON invitations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
