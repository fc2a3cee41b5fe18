-- Rollback of 20260207_120000_integrations_and_entitlements: back to purchases and usage.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers.

DROP TABLE organization_entitlements;

DROP TABLE integration_accounts;

DROP TABLE global_integrations;
