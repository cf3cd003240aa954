-- PostgreSQL twin of ../0010_project_sync_api.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- Which API a project's merge requests were read through on its last sync: 'graphql' or
-- 'rest' (issue 15); empty for syncs before this column, which were all REST.
ALTER TABLE project_syncs ADD COLUMN api TEXT COLLATE "C" NOT NULL DEFAULT '';
