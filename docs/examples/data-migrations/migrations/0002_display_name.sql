-- Expand: a nullable column that new code writes and old code ignores.
-- depends: 0001_accounts

ALTER TABLE accounts ADD COLUMN display_name text;
