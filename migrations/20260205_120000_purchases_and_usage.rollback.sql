-- Rollback of 20260205_120000_purchases_and_usage: back to the catalogue and subscriptions.
-- yoyo runs the statements of a rollback file top to bottom, so they are written in the
-- reverse order of creation. Dropping a table drops its indexes, constraints and triggers.

DROP TABLE tool_usage;

DROP TABLE one_time_purchases;
