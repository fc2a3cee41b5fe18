-- Rollback of 20260208_120000_system_config_and_audit_logs: back to integrations and entitlements.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers
-- (DROP TABLE is not TRUNCATE: the append-only triggers do not fire).

DROP TABLE audit_logs;

DROP FUNCTION audit_logs_refuse_change();

DROP TABLE system_config;
