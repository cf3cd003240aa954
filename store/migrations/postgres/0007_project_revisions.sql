-- PostgreSQL twin of ../0007_project_revisions.sql: the same counters, kept by the same
-- triggers, written the way PostgreSQL wants them (a trigger calls a PL/pgSQL function; its
-- WHEN clause says IS DISTINCT FROM where SQLite says IS NOT), with BIGINT counters.

CREATE TABLE project_revisions (
    project_id BIGINT PRIMARY KEY,
    revision   BIGINT NOT NULL DEFAULT 0,   -- MRs, commits, notes, deployments, their links, environments
    pipelines  BIGINT NOT NULL DEFAULT 0    -- pipelines (coverage)
);

CREATE FUNCTION pacer_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO project_revisions(project_id, revision) VALUES (NEW.project_id, 1)
        ON CONFLICT(project_id) DO UPDATE SET revision = project_revisions.revision + 1;
    END IF;
    IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR OLD.project_id IS DISTINCT FROM NEW.project_id) THEN
        INSERT INTO project_revisions(project_id, revision) VALUES (OLD.project_id, 1)
        ON CONFLICT(project_id) DO UPDATE SET revision = project_revisions.revision + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION pacer_bump_pipelines() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO project_revisions(project_id, pipelines) VALUES (NEW.project_id, 1)
        ON CONFLICT(project_id) DO UPDATE SET pipelines = project_revisions.pipelines + 1;
    END IF;
    IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR OLD.project_id IS DISTINCT FROM NEW.project_id) THEN
        INSERT INTO project_revisions(project_id, pipelines) VALUES (OLD.project_id, 1)
        ON CONFLICT(project_id) DO UPDATE SET pipelines = project_revisions.pipelines + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER merge_requests_insert_revision AFTER INSERT OR DELETE ON merge_requests
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER merge_requests_update_revision AFTER UPDATE ON merge_requests
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.details_updated_at IS DISTINCT FROM OLD.details_updated_at OR NEW.merged_at IS DISTINCT FROM OLD.merged_at OR NEW.target_branch IS DISTINCT FROM OLD.target_branch OR NEW.sha IS DISTINCT FROM OLD.sha OR NEW.title IS DISTINCT FROM OLD.title OR NEW.labels IS DISTINCT FROM OLD.labels)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER mr_commits_insert_revision AFTER INSERT OR DELETE ON mr_commits
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER mr_commits_update_revision AFTER UPDATE ON mr_commits
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.authored_at IS DISTINCT FROM OLD.authored_at OR NEW.author IS DISTINCT FROM OLD.author OR NEW.reverts IS DISTINCT FROM OLD.reverts)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER mr_notes_insert_revision AFTER INSERT OR DELETE ON mr_notes
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER mr_notes_update_revision AFTER UPDATE ON mr_notes
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.author_id IS DISTINCT FROM OLD.author_id OR NEW.created_at IS DISTINCT FROM OLD.created_at)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER deployments_insert_revision AFTER INSERT OR DELETE ON deployments
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER deployments_update_revision AFTER UPDATE ON deployments
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.finished_at IS DISTINCT FROM OLD.finished_at OR NEW.links_fetched_at IS DISTINCT FROM OLD.links_fetched_at OR NEW.status IS DISTINCT FROM OLD.status OR NEW.sha IS DISTINCT FROM OLD.sha OR NEW.ref IS DISTINCT FROM OLD.ref OR NEW.environment_id IS DISTINCT FROM OLD.environment_id)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER deployment_merge_requests_insert_revision AFTER INSERT OR DELETE ON deployment_merge_requests
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER deployment_merge_requests_update_revision AFTER UPDATE ON deployment_merge_requests
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.mr_iid IS DISTINCT FROM OLD.mr_iid)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER environments_insert_revision AFTER INSERT OR DELETE ON environments
FOR EACH ROW EXECUTE FUNCTION pacer_bump_revision();
CREATE TRIGGER environments_update_revision AFTER UPDATE ON environments
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.name IS DISTINCT FROM OLD.name OR NEW.tier IS DISTINCT FROM OLD.tier OR NEW.production IS DISTINCT FROM OLD.production)
EXECUTE FUNCTION pacer_bump_revision();

CREATE TRIGGER pipelines_insert_revision AFTER INSERT OR DELETE ON pipelines
FOR EACH ROW EXECUTE FUNCTION pacer_bump_pipelines();
CREATE TRIGGER pipelines_update_revision AFTER UPDATE ON pipelines
FOR EACH ROW WHEN (NEW.project_id IS DISTINCT FROM OLD.project_id OR NEW.status IS DISTINCT FROM OLD.status OR NEW.finished_at IS DISTINCT FROM OLD.finished_at OR NEW.coverage IS DISTINCT FROM OLD.coverage OR NEW.ref IS DISTINCT FROM OLD.ref OR NEW.sha IS DISTINCT FROM OLD.sha)
EXECUTE FUNCTION pacer_bump_pipelines();

-- The pipelines counters coverage was last derived from.
ALTER TABLE fact_state ADD COLUMN coverage_marker TEXT COLLATE "C" NOT NULL DEFAULT '';
