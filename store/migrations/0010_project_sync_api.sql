-- Which API a project's merge requests were read through on its last sync: 'graphql' or
-- 'rest' (issue 15); empty for syncs before this column, which were all REST.
ALTER TABLE project_syncs ADD COLUMN api TEXT NOT NULL DEFAULT '';
