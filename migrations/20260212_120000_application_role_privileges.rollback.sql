-- Rollback of 20260212_120000_application_role_privileges: revokes exactly what it granted,
-- from the role named by mig.app_role (as when it was applied). The role itself stays: roles
-- belong to the whole server, not to this database.

DO $$
DECLARE
    app text := coalesce(nullif(current_setting('mig.app_role', true), ''), 'app');
    records text[] := ARRAY[
        coalesce(nullif(current_setting('mig.migration_table', true), ''), '_yoyo_migration'),
        '_yoyo_log', '_mig_migrations'];
    read_write text[] := ARRAY[
        'users',
        'organizations', 'roles', 'permissions', 'role_permissions', 'organization_members',
        'invitations',
        'tools', 'features', 'plans', 'plan_limits', 'bundle_groups', 'bundles', 'bundle_plans',
        'subscriptions',
        'one_time_purchases', 'tool_usage',
        'global_integrations', 'integration_accounts', 'organization_entitlements',
        'system_config'];
    target_schema text := current_schema();
    tbl text;
    seq regclass;
BEGIN
    -- Revoking from a role that was never granted anything would leave the real one its rights.
    IF NOT EXISTS (
        SELECT FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'users'::regclass AND a.grantee = (SELECT oid FROM pg_roles
                                                          WHERE rolname = app))
    THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('the application role %I holds no privileges granted by this '
                             'migration', app),
            HINT = 'roll back with the app_role (MIG_APP_ROLE) it was applied with';
    END IF;

    FOREACH tbl IN ARRAY records LOOP
        IF to_regclass(quote_ident(tbl)) IS NOT NULL THEN
            EXECUTE format('REVOKE SELECT ON TABLE %I FROM %I', tbl, app);
        END IF;
    END LOOP;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE USAGE ON SEQUENCES FROM %I',
                   target_schema, app);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM %I', target_schema, app);
    FOR seq IN
        SELECT DISTINCT d.objid::regclass FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND s.relkind = 'S'
          AND d.refobjid IN (SELECT to_regclass(quote_ident(t))
                             FROM unnest(read_write || 'audit_logs'::text) t)
    LOOP
        EXECUTE format('REVOKE USAGE ON SEQUENCE %s FROM %I', seq, app);
    END LOOP;
    EXECUTE format('REVOKE SELECT, INSERT ON TABLE audit_logs FROM %I', app);
    FOREACH tbl IN ARRAY read_write LOOP
        EXECUTE format('REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLE %I FROM %I', tbl, app);
    END LOOP;
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM %I', target_schema, app);
END
$$;
