-- PostgreSQL twin of ../0005_commit_authors.sql: the same tables, columns, keys and indexes, with the types
-- spelled for PostgreSQL, where INTEGER is 32-bit (SQLite's is 64-bit: ids and Unix times need
-- BIGINT), REAL is 4 bytes (DOUBLE PRECISION is SQLite's REAL), BLOB is BYTEA, WITHOUT ROWID does
-- not exist, and text sorts by the server's locale unless told otherwise (COLLATE "C" sorts
-- bytewise as SQLite does, so lists and exports come out in the same order on both).

-- What the rules of SPEC section 3 need from an MR's commits beyond their authored instant:
-- who authored each (for author-days, the tech-debt effort share) and which commits a commit
-- says it reverts (git's "This reverts commit S." line, for change failures blamed through
-- reverts). Only the reverted SHAs of a message are kept, not the message: a year of a large
-- organisation holds millions of commits.
ALTER TABLE mr_commits ADD COLUMN author TEXT COLLATE "C" NOT NULL DEFAULT '';   -- lower-cased author email, else name; '' for commits fetched before 0005
ALTER TABLE mr_commits ADD COLUMN reverts TEXT COLLATE "C" NOT NULL DEFAULT '';  -- space-separated full SHAs named by "This reverts commit S"

-- Commits fetched before this migration have neither. Their MRs' details are fetched again on
-- the next sync where a revert is likely (GitLab's revert button titles the MR 'Revert "…"' and
-- names the branch revert-…); any other MR gets them whenever it changes. Until then a commit
-- without an author counts for its MR's author.
UPDATE merge_requests SET details_updated_at = NULL
WHERE merged_at IS NOT NULL AND (lower(title) LIKE 'revert%' OR lower(source_branch) LIKE 'revert%');
