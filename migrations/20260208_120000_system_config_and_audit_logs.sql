-- System configuration and the audit log: system_config (key to JSON value) and audit_logs (append-only).
-- depends: 20260207_120000_integrations_and_entitlements

CREATE TABLE system_config (
    key text PRIMARY KEY,
    value jsonb NOT NULL,
    description text,
    updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_config_key_format
        CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(key) <= 128)
);

CREATE INDEX system_config_updated_by_idx ON system_config (updated_by);

CREATE TRIGGER system_config_set_updated_at BEFORE UPDATE ON system_config
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Who did what, where. Append-only: see audit_logs_refuse_change().
CREATE TABLE audit_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- An entry survives its organization and its actor: ON DELETE SET NULL is the one change
    -- the append-only trigger lets through.
    organization_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    actor_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    action text NOT NULL,
    target_type text,
    target_id text,
    ip_address inet,
    user_agent text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_logs_action_format
        CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(action) <= 128),
    CONSTRAINT audit_logs_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX audit_logs_organization_time_idx ON audit_logs (organization_id, created_at);

CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id);

CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- The only change let through: forgetting a deleted organization or actor (the
        -- foreign keys' ON DELETE SET NULL, run by the server's referential-integrity
        -- trigger, hence a nested trigger level), with every other column unchanged.
        IF pg_trigger_depth() > 1
            AND (NEW.organization_id IS NULL OR NEW.organization_id = OLD.organization_id)
            AND (NEW.actor_user_id IS NULL OR NEW.actor_user_id = OLD.actor_user_id)
            AND to_jsonb(NEW) - 'organization_id' - 'actor_user_id'
                = to_jsonb(OLD) - 'organization_id' - 'actor_user_id'
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit_logs is append-only: ' || TG_OP || ' is not allowed',
        ERRCODE = 'restrict_violation',
        HINT = 'Record a new audit entry instead of changing or removing one.';
END;
$$;

CREATE TRIGGER audit_logs_append_only BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();

CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();
