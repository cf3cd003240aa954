-- PostgreSQL twin of ../0009_fact_config.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- The configuration the facts were derived with, kept with them: commands that only read the
-- database use it unless given another one (a demo database knows its services and teams).
ALTER TABLE fact_state ADD COLUMN config_name TEXT COLLATE "C" NOT NULL DEFAULT '';   -- where it came from: a file name, or '' for the built-in defaults
ALTER TABLE fact_state ADD COLUMN config_source TEXT COLLATE "C" NOT NULL DEFAULT ''; -- its TOML text; secrets are never in it (they come from the environment)
