-- Lists that cost what they show (issue "every page in under 50 ms"): the MR and deployment
-- lists, their drill-downs and the slowest MRs are read a page at a time, walking an index in
-- the list's order from a cursor (the sort key and a unique tie-breaker), so that the first
-- page costs the same at a million MRs as at a thousand. Everything here is derived: metrics
-- bumps its facts version, so the next refresh fills the new columns and tables.

-- The facts are derived again from scratch (the facts version moved): emptied here, the new
-- indexes are made on empty tables instead of over every row of a large organisation.
DELETE FROM deployment_mr_facts;
DELETE FROM deployment_facts;
DELETE FROM mr_facts;
DELETE FROM fact_projects;

-- Sort keys the refresh computes, so that an order is an index and is the same on every
-- database: text lower-cased as Go lower-cases it (SQLite's lower() only knows ASCII), and
-- durations that may be unknown with -1 for unknown (last in a longest-first order).
ALTER TABLE mr_facts ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
ALTER TABLE mr_facts ADD COLUMN author_key TEXT NOT NULL DEFAULT '';
ALTER TABLE mr_facts ADD COLUMN service_key TEXT NOT NULL DEFAULT '';
ALTER TABLE mr_facts ADD COLUMN deploy_key BIGINT NOT NULL DEFAULT -1;

ALTER TABLE deployment_facts ADD COLUMN service_key TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_facts ADD COLUMN environment_key TEXT NOT NULL DEFAULT '';
ALTER TABLE deployment_facts ADD COLUMN recovery_key BIGINT NOT NULL DEFAULT -1;

-- A hash of each fact row as written (a deployment's with its links), and each project's rows
-- with their keys and hashes in one index: a refresh that derives a project again compares
-- hashes and rewrites only the rows that changed.
ALTER TABLE mr_facts ADD COLUMN row_hash BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deployment_facts ADD COLUMN row_hash BIGINT NOT NULL DEFAULT 0;
DROP INDEX mr_facts_project;
CREATE INDEX mr_facts_project ON mr_facts(project_id, iid, delivered_at, row_hash);
DROP INDEX deployment_facts_project;
CREATE INDEX deployment_facts_project ON deployment_facts(project_id, id, finished_at, row_hash);

-- One index per order of the MR list (delivered_at's is the primary key). Each ends with the
-- tie-breaker of every order, the most recently delivered first; text orders run A to Z with
-- that tie-breaker, hence the descending columns. Then the columns filters read (service,
-- author, the flags), so that walking an index in its order skips the rows a filter leaves out
-- without reading them from the table. The service and author ones also serve the service,
-- team and author filters: a list narrowed to a few rows reads them there, with the numeric
-- sort keys, and orders them.
CREATE INDEX mr_facts_cycle ON mr_facts(cycle_seconds, delivered_at, project_id, iid, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_coding ON mr_facts(coding_seconds, delivered_at, project_id, iid, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_pickup ON mr_facts(pickup_seconds, delivered_at, project_id, iid, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_review ON mr_facts(review_seconds, delivered_at, project_id, iid, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_deploy ON mr_facts(deploy_key, delivered_at, project_id, iid, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_title ON mr_facts(title_key, delivered_at DESC, project_id DESC, iid DESC, service, author_key, rework, unapproved);
CREATE INDEX mr_facts_author ON mr_facts(author_key, delivered_at DESC, project_id DESC, iid DESC, service, rework, unapproved,
    cycle_seconds, coding_seconds, pickup_seconds, review_seconds, deploy_key);
CREATE INDEX mr_facts_service ON mr_facts(service_key, delivered_at DESC, project_id DESC, iid DESC, service, author_key, rework, unapproved,
    cycle_seconds, coding_seconds, pickup_seconds, review_seconds, deploy_key);

-- The deployment list's orders (finished_at's is the primary key), and its service filter.
CREATE INDEX deployment_facts_service ON deployment_facts(service_key, finished_at DESC, id DESC, project_id, service,
    rework, rollback, change_failure, out_of_window, merge_requests, recovery_key);
CREATE INDEX deployment_facts_environment ON deployment_facts(environment_key, finished_at DESC, id DESC, project_id, service,
    rework, rollback, change_failure, out_of_window);
CREATE INDEX deployment_facts_mrs ON deployment_facts(merge_requests, finished_at, id, project_id, service,
    rework, rollback, change_failure, out_of_window);
CREATE INDEX deployment_facts_recovery ON deployment_facts(recovery_key, finished_at, id, project_id, service,
    rework, rollback, change_failure, out_of_window);

-- The packed per-day records, now split into parts by project (project id modulo a small
-- number, metrics/pack.go): a refresh that derives one project again rewrites only its part of
-- each day, not every record of the organisation. n counts the records, so that a list can
-- weigh its ways of reading (an index in its order, or the rows of its filter) without
-- decoding them.
DROP TABLE fact_days;
CREATE TABLE fact_days (
    kind BIGINT NOT NULL,
    day  BIGINT NOT NULL,
    part BIGINT NOT NULL,
    n    BIGINT NOT NULL,
    data BLOB   NOT NULL,
    PRIMARY KEY (kind, day, part)
);
