-- Per project, counters that every write to the raw rows its facts come from moves, kept by
-- triggers so that no write path can forget them: a refresh compares counters instead of
-- summarising every table (that took seconds at a million MRs, even when nothing had changed).
-- An update that changes none of the columns the facts read (the collector saves the MRs of its
-- overlap window again on every sync) moves nothing. Pipelines move a counter of their own:
-- they only change coverage.
CREATE TABLE project_revisions (
    project_id INTEGER PRIMARY KEY,
    revision   INTEGER NOT NULL DEFAULT 0,   -- MRs, commits, notes, deployments, their links, environments
    pipelines  INTEGER NOT NULL DEFAULT 0    -- pipelines (coverage)
);

CREATE TRIGGER merge_requests_insert_revision AFTER INSERT ON merge_requests BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER merge_requests_delete_revision AFTER DELETE ON merge_requests BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER merge_requests_update_revision AFTER UPDATE ON merge_requests
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.updated_at IS NOT OLD.updated_at OR NEW.details_updated_at IS NOT OLD.details_updated_at OR NEW.merged_at IS NOT OLD.merged_at OR NEW.target_branch IS NOT OLD.target_branch OR NEW.sha IS NOT OLD.sha OR NEW.title IS NOT OLD.title OR NEW.labels IS NOT OLD.labels
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER mr_commits_insert_revision AFTER INSERT ON mr_commits BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER mr_commits_delete_revision AFTER DELETE ON mr_commits BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER mr_commits_update_revision AFTER UPDATE ON mr_commits
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.authored_at IS NOT OLD.authored_at OR NEW.author IS NOT OLD.author OR NEW.reverts IS NOT OLD.reverts
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER mr_notes_insert_revision AFTER INSERT ON mr_notes BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER mr_notes_delete_revision AFTER DELETE ON mr_notes BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER mr_notes_update_revision AFTER UPDATE ON mr_notes
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.kind IS NOT OLD.kind OR NEW.author_id IS NOT OLD.author_id OR NEW.created_at IS NOT OLD.created_at
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER deployments_insert_revision AFTER INSERT ON deployments BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER deployments_delete_revision AFTER DELETE ON deployments BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER deployments_update_revision AFTER UPDATE ON deployments
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.finished_at IS NOT OLD.finished_at OR NEW.links_fetched_at IS NOT OLD.links_fetched_at OR NEW.status IS NOT OLD.status OR NEW.sha IS NOT OLD.sha OR NEW.ref IS NOT OLD.ref OR NEW.environment_id IS NOT OLD.environment_id
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER deployment_merge_requests_insert_revision AFTER INSERT ON deployment_merge_requests BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER deployment_merge_requests_delete_revision AFTER DELETE ON deployment_merge_requests BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER deployment_merge_requests_update_revision AFTER UPDATE ON deployment_merge_requests
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.mr_iid IS NOT OLD.mr_iid
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER environments_insert_revision AFTER INSERT ON environments BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER environments_delete_revision AFTER DELETE ON environments BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;
CREATE TRIGGER environments_update_revision AFTER UPDATE ON environments
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.name IS NOT OLD.name OR NEW.tier IS NOT OLD.tier OR NEW.production IS NOT OLD.production
BEGIN
    INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
    INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER pipelines_insert_revision AFTER INSERT ON pipelines BEGIN
    INSERT INTO project_revisions(project_id, pipelines) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET pipelines = pipelines + 1;
END;
CREATE TRIGGER pipelines_delete_revision AFTER DELETE ON pipelines BEGIN
    INSERT INTO project_revisions(project_id, pipelines) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET pipelines = pipelines + 1;
END;
CREATE TRIGGER pipelines_update_revision AFTER UPDATE ON pipelines
WHEN NEW.project_id IS NOT OLD.project_id OR NEW.status IS NOT OLD.status OR NEW.finished_at IS NOT OLD.finished_at OR NEW.coverage IS NOT OLD.coverage OR NEW.ref IS NOT OLD.ref OR NEW.sha IS NOT OLD.sha
BEGIN
    INSERT INTO project_revisions(project_id, pipelines) VALUES (NEW.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET pipelines = pipelines + 1;
    INSERT INTO project_revisions(project_id, pipelines) VALUES (OLD.project_id, 1)
    ON CONFLICT(project_id) DO UPDATE SET pipelines = pipelines + 1;
END;

-- The pipelines counters coverage was last derived from.
ALTER TABLE fact_state ADD COLUMN coverage_marker TEXT NOT NULL DEFAULT '';
