-- PostgreSQL twin of ../0006_facts_ships.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- Facts for the rules of issue "deploy before merge, investment share, working agreements"
-- (SPEC section 3: ships, reverts and blame, investment categories, author-days). All derived:
-- metrics bumps its facts version, so the next refresh fills them from the raw history.
ALTER TABLE mr_facts ADD COLUMN category TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE mr_facts ADD COLUMN approvals BIGINT NOT NULL DEFAULT 0;      -- distinct human non-author approvers at or before the merge
ALTER TABLE mr_facts ADD COLUMN before_merge BIGINT NOT NULL DEFAULT 0;   -- delivered by a deploy before merge

ALTER TABLE deployment_facts ADD COLUMN ref TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE deployment_facts ADD COLUMN blamed_by BIGINT NOT NULL DEFAULT 0; -- the first rework deployment blaming this change failure
ALTER TABLE deployment_facts ADD COLUMN blames BIGINT NOT NULL DEFAULT 0;    -- the deployment this rework deployment blames
ALTER TABLE deployment_facts ADD COLUMN blames_at BIGINT;                     -- and its finish time

ALTER TABLE deployment_mr_facts ADD COLUMN before_merge BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployment_mr_facts ADD COLUMN reverts TEXT COLLATE "C" NOT NULL DEFAULT '';   -- space-separated iids of the MRs it reverts
