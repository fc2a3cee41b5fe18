-- The application role's privileges: it reads and writes the rows of the product's tables and
-- changes nothing else. It owns nothing, so it can create, alter or drop no table; audit_logs
-- gets SELECT and INSERT only (append-only, by privilege as well as by trigger).
-- depends: 20260208_120000_system_config_and_audit_logs
--
-- The role's name is mig's app_role setting (--app-role, MIG_APP_ROLE, app_role in [mig];
-- default "app"), which mig passes to this migration as the session setting mig.app_role; run
-- by plain yoyo, the name is "app". A missing role is created NOLOGIN when the migrating role
-- may create roles (give it LOGIN and a password afterwards, or grant it to a login role);
-- otherwise the migration stops and says so. The role stays when this migration is rolled back:
-- roles belong to the whole server, not to this database.
--
-- Default privileges give the role the same rights on the tables and sequences that the
-- migrating role creates later in this schema, so later migrations need no grants of their
-- own; one whose table must not get them (append-only, like audit_logs) revokes them there.
-- The role may also read the migration records (yoyo's table of applied migrations, _yoyo_log,
-- _mig_migrations), so that 'mig status' and 'mig wait' work with the application's credentials.

DO $$
DECLARE
    app text := coalesce(nullif(current_setting('mig.app_role', true), ''), 'app');
    records text[] := ARRAY[
        coalesce(nullif(current_setting('mig.migration_table', true), ''), '_yoyo_migration'),
        '_yoyo_log', '_mig_migrations'];
    -- every table the migrations create, audit_logs apart
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
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = app) THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'undefined_object',
                MESSAGE = format('the application role %I does not exist, and the migrating '
                                 'role %I may not create it', app, current_user),
                HINT = format('create it first (CREATE ROLE %I LOGIN PASSWORD ...), or set '
                              'app_role (MIG_APP_ROLE) to the role the application uses', app);
        END IF;
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', app);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by a migration of another database on this server
        END;
    END IF;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = app) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_grant_operation',
            MESSAGE = format('the application role %I is a superuser: no privilege limits it',
                             app),
            HINT = format('ALTER ROLE %I NOSUPERUSER, or set app_role (MIG_APP_ROLE) to '
                          'another role', app);
    END IF;
    -- (checked second: a superuser counts as a member of every role)
    IF pg_has_role(app, current_user, 'MEMBER') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'invalid_grant_operation',
            MESSAGE = format('the application role %I is, or is a member of, the migrating '
                             'role %I, which owns the tables: it could alter and drop them',
                             app, current_user),
            HINT = 'run the application as a role of its own: set app_role (MIG_APP_ROLE)';
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', target_schema, app);
    FOREACH tbl IN ARRAY read_write LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE %I TO %I', tbl, app);
    END LOOP;
    EXECUTE format('GRANT SELECT, INSERT ON TABLE audit_logs TO %I', app);
    -- Sequences behind serial and identity columns (none today: keys are UUIDs).
    FOR seq IN
        SELECT DISTINCT d.objid::regclass FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND s.relkind = 'S'
          AND d.refobjid IN (SELECT to_regclass(quote_ident(t))
                             FROM unnest(read_write || 'audit_logs'::text) t)
    LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, app);
    END LOOP;
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I '
                   'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', target_schema, app);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE ON SEQUENCES TO %I',
                   target_schema, app);
    FOREACH tbl IN ARRAY records LOOP
        IF to_regclass(quote_ident(tbl)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON TABLE %I TO %I', tbl, app);
        END IF;
    END LOOP;
    -- Before PostgreSQL 15 every role may create tables in public (the PUBLIC grant): only
    -- the schema's owner can take that away, so say so rather than fail.
    IF has_schema_privilege(app, target_schema, 'CREATE') THEN
        RAISE WARNING USING
            MESSAGE = format('the application role %I may create tables in schema %I (through '
                             'a grant to PUBLIC or to the role)', app, target_schema),
            HINT = format('as the owner of the schema: REVOKE CREATE ON SCHEMA %I FROM PUBLIC',
                          target_schema);
    END IF;
END
$$;
