-- Rollback of 20260128_104444_users: back to an empty schema.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers.

DROP TABLE users;

DROP FUNCTION set_updated_at();
