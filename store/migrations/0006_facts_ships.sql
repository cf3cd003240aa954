-- Facts for the rules of issue "deploy before merge, investment share, working agreements"
-- (SPEC section 3: ships, reverts and blame, investment categories, author-days). All derived:
-- metrics bumps its facts version, so the next refresh fills them from the raw history.
ALTER TABLE mr_facts ADD COLUMN category TEXT NOT NULL DEFAULT '';
ALTER TABLE mr_facts ADD COLUMN approvals INTEGER NOT NULL DEFAULT 0;      -- distinct human non-author approvers at or before the merge
ALTER TABLE mr_facts ADD COLUMN before_merge INTEGER NOT NULL DEFAULT 0;   -- delivered by a deploy before merge

ALTER TABLE deployment_facts ADD COLUMN ref TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_facts ADD COLUMN blamed_by INTEGER NOT NULL DEFAULT 0; -- the first rework deployment blaming this change failure
ALTER TABLE deployment_facts ADD COLUMN blames INTEGER NOT NULL DEFAULT 0;    -- the deployment this rework deployment blames
ALTER TABLE deployment_facts ADD COLUMN blames_at INTEGER;                     -- and its finish time

ALTER TABLE deployment_mr_facts ADD COLUMN before_merge INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployment_mr_facts ADD COLUMN reverts TEXT NOT NULL DEFAULT '';   -- space-separated iids of the MRs it reverts
