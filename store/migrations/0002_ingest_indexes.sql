-- Indexes for the collector's per-project work queues (store/merge_requests.go,
-- store/deployments.go): merged MRs whose details are stale, deployments whose MR links are due.
CREATE INDEX merge_requests_project_state ON merge_requests(project_id, state, updated_at);
CREATE INDEX deployments_project_finished ON deployments(project_id, finished_at);
