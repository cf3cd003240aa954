package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The GitLab events a webhook delivery may name (the object_kind of its payload).
const (
	HookMergeRequest = "merge_request"
	HookPipeline     = "pipeline"
	HookDeployment   = "deployment"
)

// The states of a webhook delivery.
const (
	HookQueued = "queued" // waiting for the worker (due, or waiting to be retried)
	HookDone   = "done"   // the worker fetched what it names (or found nothing to fetch)
	HookFailed = "failed" // every retry failed; polling brings the change instead
)

// WebhookDelivery is one GitLab webhook delivery in the queue: what it names, and what the
// worker made of it.
type WebhookDelivery struct {
	ID            string // the queue's key: see EnqueueWebhook
	Delivery      string // GitLab's delivery id as sent (Idempotency-Key or X-Gitlab-Event-UUID)
	Event         string // HookMergeRequest, HookPipeline or HookDeployment
	ProjectID     int64
	ProjectPath   string
	ObjectID      int64 // the MR's iid, the pipeline's id or the deployment's id
	ReceivedAt    time.Time
	State         string
	Outcome       string
	Attempts      int64
	NextAttemptAt time.Time
	LastError     string
	FinishedAt    *time.Time
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMs(v int64) time.Time { return time.UnixMilli(v).UTC() }

// EnqueueWebhook queues a delivery unless one with its ID is there already (GitLab repeats a
// delivery it thinks failed; a project hook and a group hook may both send one event). It
// reports whether the delivery was new. It is due at once, or at NextAttemptAt when that is
// later. It does not take the collector's write queue: a
// webhook must be answered at once, whatever a sync is writing.
func (s *Store) EnqueueWebhook(ctx context.Context, d WebhookDelivery) (bool, error) {
	if d.ID == "" || d.Event == "" || d.ProjectID == 0 {
		return false, errors.New("store: enqueue webhook: id, event and project are required")
	}
	due := d.ReceivedAt
	if d.NextAttemptAt.After(due) {
		due = d.NextAttemptAt // a follow-up the worker schedules for later
	}
	res, err := s.DB.ExecContext(ctx, `INSERT INTO webhook_deliveries(id, delivery, event, project_id, project_path,
			object_id, received_at, state, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		d.ID, d.Delivery, d.Event, d.ProjectID, d.ProjectPath, d.ObjectID, ms(d.ReceivedAt), HookQueued, ms(due))
	if err != nil {
		return false, fmt.Errorf("store: enqueue webhook %s: %w", d.Delivery, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: enqueue webhook %s: %w", d.Delivery, err)
	}
	return n == 1, nil
}

const webhookColumns = `id, delivery, event, project_id, project_path, object_id, received_at, state, outcome,
	attempts, next_attempt_at, last_error, finished_at`

func scanWebhook(sc interface{ Scan(...any) error }) (WebhookDelivery, error) {
	var d WebhookDelivery
	var received, next int64
	var finished sql.NullInt64
	if err := sc.Scan(&d.ID, &d.Delivery, &d.Event, &d.ProjectID, &d.ProjectPath, &d.ObjectID, &received, &d.State,
		&d.Outcome, &d.Attempts, &next, &d.LastError, &finished); err != nil {
		return d, err
	}
	d.ReceivedAt, d.NextAttemptAt = fromMs(received), fromMs(next)
	if finished.Valid {
		t := fromMs(finished.Int64)
		d.FinishedAt = &t
	}
	return d, nil
}

func (s *Store) queryWebhooks(ctx context.Context, q string, args ...any) ([]WebhookDelivery, error) {
	return queryAll(ctx, s, "webhook deliveries", q, scanWebhook, args...)
}

// ClaimWebhooks leases to owner, until `until`, up to limit queued deliveries due at now,
// oldest first, and returns them. Projects whose deliveries another worker holds are left to
// that worker, so one project is never fetched by two workers at once (several `pacer serve`
// processes may share the database). A lease that ran out (its worker died) is taken over.
func (s *Store) ClaimWebhooks(ctx context.Context, owner string, now, until time.Time, limit int) ([]WebhookDelivery, error) {
	if owner == "" || !until.After(now) {
		return nil, errors.New("store: claim webhooks: an owner and a lease in the future are required")
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		// The conditions are repeated outside the subquery: a second claimant that waited for
		// this one's row locks (PostgreSQL) checks them again and skips what was taken.
		_, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?
			WHERE state = ? AND lease_until < ? AND id IN (
				SELECT id FROM webhook_deliveries
				WHERE state = ? AND next_attempt_at <= ? AND lease_until < ?
					AND project_id NOT IN (SELECT project_id FROM webhook_deliveries
						WHERE state = ? AND lease_until >= ? AND lease_owner <> ?)
				ORDER BY received_at, id LIMIT ?)`,
			owner, ms(until), HookQueued, ms(now), HookQueued, ms(now), ms(now), HookQueued, ms(now), owner, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim webhooks: %w", err)
	}
	return s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhook_deliveries
		WHERE state = ? AND lease_owner = ? AND lease_until = ? ORDER BY received_at, id`, HookQueued, owner, ms(until))
}

// WebhookResult is what the worker made of one claimed delivery.
type WebhookResult struct {
	ID      string
	Outcome string // done: what was fetched, or why nothing was ("not a default-branch pipeline")
	// Err is the failed fetch's message; empty when the delivery is done.
	Err string
	// RetryAt is when a failed delivery is tried again; zero gives up (state failed).
	RetryAt time.Time
}

// FinishWebhooks records what the worker made of deliveries it holds (owner), in one
// transaction, and releases them. A delivery whose lease another worker took over meanwhile is
// left to that worker.
func (s *Store) FinishWebhooks(ctx context.Context, owner string, at time.Time, results []WebhookResult) error {
	if len(results) == 0 {
		return nil
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		for _, r := range results {
			var err error
			switch {
			case r.Err == "":
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, outcome = ?, attempts = attempts + 1,
						last_error = '', finished_at = ?, lease_owner = '', lease_until = 0
					WHERE id = ? AND lease_owner = ?`, HookDone, r.Outcome, ms(at), r.ID, owner)
			case r.RetryAt.IsZero():
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET state = ?, outcome = ?, attempts = attempts + 1,
						last_error = ?, finished_at = ?, lease_owner = '', lease_until = 0
					WHERE id = ? AND lease_owner = ?`, HookFailed, r.Outcome, r.Err, ms(at), r.ID, owner)
			default:
				_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?,
						next_attempt_at = ?, lease_owner = '', lease_until = 0
					WHERE id = ? AND lease_owner = ?`, r.Err, ms(r.RetryAt), r.ID, owner)
			}
			if err != nil {
				return fmt.Errorf("delivery %s: %w", r.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: finish webhooks: %w", err)
	}
	return nil
}

// NextWebhookDue is when the next queued delivery falls due (zero, false: none is queued).
func (s *Store) NextWebhookDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.DB.QueryRowContext(ctx, `SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END)
		FROM webhook_deliveries WHERE state = ?`, HookQueued).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next webhook due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMs(next.Int64), true, nil
}

// PruneWebhooks deletes deliveries that became done or failed before `before`. Until then a
// repeat of one is still recognised and ignored.
func (s *Store) PruneWebhooks(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE state <> ? AND finished_at < ?`, HookQueued, ms(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune webhooks: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// WebhookStatus is the state of the webhook queue, for the sync-status page and /metrics.
type WebhookStatus struct {
	Queued   int64 // deliveries waiting for the worker, retries included
	Retrying int64 // of those, deliveries whose fetch failed and waits to be tried again
	Failed   int64 // deliveries given up on (kept until pruned)
	Done     int64 // deliveries done (kept until pruned)
	// Last is the delivery received last; nil when none was ever received (or all were pruned).
	Last *WebhookDelivery
	// OldestQueued is when the oldest queued delivery was received; nil when none waits.
	OldestQueued *time.Time
	// Problems are the deliveries waiting for a retry or given up on, latest first (at most
	// the number asked for).
	Problems []WebhookDelivery
}

// WebhookQueueStatus summarises the queue, with up to problems failing deliveries. Projects
// outside visible (when visible is not nil) are left out of Last and Problems, not of the
// counts: the counts say how busy the worker is, not what happened in a project.
func (s *Store) WebhookQueueStatus(ctx context.Context, problems int, visible func(projectID int64) bool) (WebhookStatus, error) {
	var st WebhookStatus
	var oldest sql.NullInt64
	err := s.DB.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN state = ? AND attempts > 0 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),
			MIN(CASE WHEN state = ? THEN received_at END)
		FROM webhook_deliveries`, HookQueued, HookQueued, HookFailed, HookDone, HookQueued).
		Scan(&st.Queued, &st.Retrying, &st.Failed, &st.Done, &oldest)
	if err != nil {
		return st, fmt.Errorf("store: webhook status: %w", err)
	}
	if oldest.Valid {
		t := fromMs(oldest.Int64)
		st.OldestQueued = &t
	}
	// The last delivery the caller may see: a few recent ones are read, most recent first.
	recent, err := s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhook_deliveries
		ORDER BY received_at DESC, id DESC LIMIT 50`)
	if err != nil {
		return st, err
	}
	for i := range recent {
		if visible == nil || visible(recent[i].ProjectID) {
			st.Last = &recent[i]
			break
		}
	}
	if problems > 0 {
		bad, err := s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhook_deliveries
			WHERE state = ? OR (state = ? AND attempts > 0)
			ORDER BY received_at DESC, id DESC LIMIT ?`, HookFailed, HookQueued, problems*4)
		if err != nil {
			return st, err
		}
		for _, d := range bad {
			if len(st.Problems) == problems {
				break
			}
			if visible == nil || visible(d.ProjectID) {
				st.Problems = append(st.Problems, d)
			}
		}
	}
	return st, nil
}

// WebhookDeliveries lists the deliveries of the queue, oldest first (for tests and the
// operator's look into the queue).
func (s *Store) WebhookDeliveries(ctx context.Context) ([]WebhookDelivery, error) {
	return s.queryWebhooks(ctx, `SELECT `+webhookColumns+` FROM webhook_deliveries ORDER BY received_at, id`)
}

// The rows a webhook brings are written without moving the sync cursors: a cursor says that
// everything up to it was committed, and one MR or deployment fetched because an event named
// it says nothing about the others. Each write keeps the newer version when the row is there
// already (GitLab's updated_at only moves forward), so a late fetch never undoes a newer one.

// SaveHookMergeRequest upserts one MR as GitLab returned it for a webhook, unless the stored
// row is newer. Derived facts and the details mark are kept, as SaveMergeRequests keeps them.
func (s *Store) SaveHookMergeRequest(ctx context.Context, m MergeRequest) error {
	labels := m.Labels
	if labels == nil {
		labels = []string{}
	}
	lj, err := json.Marshal(labels)
	if err != nil {
		return fmt.Errorf("store: save MR %d!%d: %w", m.ProjectID, m.IID, err)
	}
	_, err = s.ingestExec(ctx, `INSERT INTO merge_requests(project_id, iid, id, title, state, draft,
			author_id, author_username, labels, source_branch, target_branch, created_at, updated_at,
			merged_at, closed_at, sha, merge_commit_sha, squash_commit_sha, web_url, user_notes_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id, iid) DO UPDATE SET id = excluded.id, title = excluded.title,
			state = excluded.state, draft = excluded.draft, author_id = excluded.author_id,
			author_username = excluded.author_username, labels = excluded.labels,
			source_branch = excluded.source_branch, target_branch = excluded.target_branch,
			created_at = excluded.created_at, updated_at = excluded.updated_at,
			merged_at = excluded.merged_at, closed_at = excluded.closed_at, sha = excluded.sha,
			merge_commit_sha = excluded.merge_commit_sha, squash_commit_sha = excluded.squash_commit_sha,
			web_url = excluded.web_url, user_notes_count = excluded.user_notes_count
		WHERE excluded.updated_at >= merge_requests.updated_at`,
		m.ProjectID, m.IID, m.ID, m.Title, m.State, m.Draft, m.AuthorID, m.AuthorUsername, string(lj), m.SourceBranch,
		m.TargetBranch, m.CreatedAt.Unix(), m.UpdatedAt.Unix(), epochPtr(m.MergedAt), epochPtr(m.ClosedAt), m.SHA,
		m.MergeCommitSHA, m.SquashCommitSHA, m.WebURL, m.UserNotesCount)
	if err != nil {
		return fmt.Errorf("store: save MR %d!%d: %w", m.ProjectID, m.IID, err)
	}
	return nil
}

// SaveHookDeployment upserts one production deployment as GitLab returned it for a webhook,
// unless the stored row is newer. When its links were fetched before, the fetch time is kept.
func (s *Store) SaveHookDeployment(ctx context.Context, d Deployment) error {
	_, err := s.ingestExec(ctx, `INSERT INTO deployments(id, iid, project_id, environment_id, environment,
			ref, sha, status, created_at, updated_at, finished_at, job_url)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET iid = excluded.iid, project_id = excluded.project_id,
			environment_id = excluded.environment_id, environment = excluded.environment, ref = excluded.ref,
			sha = excluded.sha, status = excluded.status, created_at = excluded.created_at,
			updated_at = excluded.updated_at, finished_at = excluded.finished_at, job_url = excluded.job_url
		WHERE excluded.updated_at >= deployments.updated_at`,
		d.ID, d.IID, d.ProjectID, d.EnvironmentID, d.Environment, d.Ref, d.SHA, d.Status, d.CreatedAt.Unix(),
		d.UpdatedAt.Unix(), d.FinishedAt.Unix(), d.JobURL)
	if err != nil {
		return fmt.Errorf("store: save deployment %d: %w", d.ID, err)
	}
	return nil
}

// SaveHookPipeline upserts one default-branch pipeline as the single-pipeline endpoint returned
// it for a webhook, with its finish time and coverage (that endpoint has both), unless the
// stored row is newer. A row of the same version keeps a detail read before.
func (s *Store) SaveHookPipeline(ctx context.Context, p Pipeline) error {
	var cov any
	if p.Coverage != nil {
		cov = *p.Coverage
	}
	_, err := s.ingestExec(ctx, `INSERT INTO pipelines(id, iid, project_id, ref, sha, status, source,
			created_at, updated_at, web_url, finished_at, coverage, detail_fetched)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (id) DO UPDATE SET iid = excluded.iid, project_id = excluded.project_id, ref = excluded.ref,
			sha = excluded.sha, status = excluded.status, source = excluded.source, created_at = excluded.created_at,
			updated_at = excluded.updated_at, web_url = excluded.web_url, finished_at = excluded.finished_at,
			coverage = excluded.coverage, detail_fetched = 1
		WHERE excluded.updated_at >= pipelines.updated_at`,
		p.ID, p.IID, p.ProjectID, p.Ref, p.SHA, p.Status, p.Source, p.CreatedAt.Unix(), p.UpdatedAt.Unix(), p.WebURL,
		epochPtr(p.FinishedAt), cov)
	if err != nil {
		return fmt.Errorf("store: save pipeline %d: %w", p.ID, err)
	}
	return nil
}

// DeploymentByID returns one production deployment, or ErrNotFound.
func (s *Store) DeploymentByID(ctx context.Context, id int64) (Deployment, error) {
	ds, err := s.queryDeployments(ctx, `SELECT `+deploymentColumns+` FROM deployments WHERE id = ?`, id)
	if err != nil {
		return Deployment{}, err
	}
	if len(ds) == 0 {
		return Deployment{}, ErrNotFound
	}
	return ds[0], nil
}

// PipelineByID returns one stored pipeline, or ErrNotFound.
func (s *Store) PipelineByID(ctx context.Context, id int64) (Pipeline, error) {
	ps, err := s.queryPipelines(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE id = ?`, id)
	if err != nil {
		return Pipeline{}, err
	}
	if len(ps) == 0 {
		return Pipeline{}, ErrNotFound
	}
	return ps[0], nil
}

// webhookEventNames are the events in words, for messages.
var webhookEventNames = map[string]string{HookMergeRequest: "merge request", HookPipeline: "pipeline", HookDeployment: "deployment"}

// Describe names what a delivery is about, such as "merge request acme/api!12".
func (d WebhookDelivery) Describe() string {
	name := webhookEventNames[d.Event]
	if name == "" {
		name = strings.ReplaceAll(d.Event, "_", " ")
	}
	path := d.ProjectPath
	if path == "" {
		path = fmt.Sprintf("project %d", d.ProjectID)
	}
	switch d.Event {
	case HookMergeRequest:
		return fmt.Sprintf("%s %s!%d", name, path, d.ObjectID)
	default:
		return fmt.Sprintf("%s %d of %s", name, d.ObjectID, path)
	}
}
