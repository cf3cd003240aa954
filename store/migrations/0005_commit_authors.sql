-- What the rules of SPEC section 3 need from an MR's commits beyond their authored instant:
-- who authored each (for author-days, the tech-debt effort share) and which commits a commit
-- says it reverts (git's "This reverts commit S." line, for change failures blamed through
-- reverts). Only the reverted SHAs of a message are kept, not the message: a year of a large
-- organisation holds millions of commits.
ALTER TABLE mr_commits ADD COLUMN author TEXT NOT NULL DEFAULT '';   -- lower-cased author email, else name; '' for commits fetched before 0005
ALTER TABLE mr_commits ADD COLUMN reverts TEXT NOT NULL DEFAULT '';  -- space-separated full SHAs named by "This reverts commit S"

-- Commits fetched before this migration have neither. Their MRs' details are fetched again on
-- the next sync where a revert is likely (GitLab's revert button titles the MR 'Revert "…"' and
-- names the branch revert-…); any other MR gets them whenever it changes. Until then a commit
-- without an author counts for its MR's author.
UPDATE merge_requests SET details_updated_at = NULL
WHERE merged_at IS NOT NULL AND (lower(title) LIKE 'revert%' OR lower(source_branch) LIKE 'revert%');
