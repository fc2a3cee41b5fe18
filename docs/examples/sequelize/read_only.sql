-- SequelizeMeta made read-only, after the bridge 'mig new bridge --from' writes (docs/adopt.md,
-- steps 3 and 6): what a schema comparison never sees, so no generated migration holds it.
-- Run once, in one transaction, right after the bridge:
--
--   psql "$DATABASE_URL" --single-transaction -v ON_ERROR_STOP=1 -f read_only.sql
--
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
