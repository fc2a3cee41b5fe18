-- Rollback of 20260204_173000_catalogue_and_subscriptions: back to organizations and access.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers.

DROP TABLE subscriptions;

DROP TABLE bundle_plans;

DROP TABLE bundles;

DROP TABLE bundle_groups;

DROP TABLE plan_limits;

DROP TABLE plans;

DROP TABLE features;

DROP TABLE tools;
