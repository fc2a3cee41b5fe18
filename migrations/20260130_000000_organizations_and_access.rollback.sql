-- Rollback of 20260130_000000_organizations_and_access: back to users only.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers.

DROP TABLE invitations;

DROP TABLE organization_members;

DROP TABLE role_permissions;

DROP TABLE permissions;

DROP TABLE roles;

DROP TABLE organizations;
