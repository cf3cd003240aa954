package metrics

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// t0 is Monday 2026-03-02 00:00 UTC, the start of ISO week 2026-W10.
var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const (
	hour = int64(3600)
	day  = 24 * hour
)

// at is t0 plus seconds, as Unix seconds.
func at(sec int64) int64 { return t0.Unix() + sec }

// fixture fills the raw tables by hand, as the collector would.
type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
}

func newFixture(t *testing.T) *fixture {
	return &fixture{t: t, ctx: context.Background(), st: storetest.New(t)}
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.st.DB.ExecContext(f.ctx, q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) project(id int64, path string) {
	f.exec(`INSERT INTO projects(id, path, name, default_branch, web_url, discovered_at) VALUES (?, ?, ?, 'main', ?, 0)`,
		id, path, path, "https://gitlab.example.com/"+path)
}

func (f *fixture) user(id int64, username string, bot bool) {
	f.exec(`INSERT INTO users(id, username, bot, fetched_at) VALUES (?, ?, ?, 0)`, id, username, bot)
}

// mrSpec is a merge request row; zero fields take defaults.
type mrSpec struct {
	project, iid    int64
	title           string
	authorID        int64
	author          string
	labels          []string
	source, target  string
	created, merged int64 // merged 0: not merged
	storedApproval  int64
}

func (f *fixture) mr(m mrSpec) {
	f.t.Helper()
	if m.title == "" {
		m.title = "Change"
	}
	if m.author == "" {
		m.author, m.authorID = "alice", 1
	}
	if m.source == "" {
		m.source = "feature"
	}
	if m.target == "" {
		m.target = "main"
	}
	labels, _ := json.Marshal(m.labels)
	if m.labels == nil {
		labels = []byte("[]")
	}
	state := "opened"
	var merged, approval any
	if m.merged != 0 {
		state, merged = "merged", m.merged
	}
	if m.storedApproval != 0 {
		approval = m.storedApproval
	}
	f.exec(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
		source_branch, target_branch, created_at, updated_at, merged_at, web_url, first_approval_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.project, m.iid, m.project*100000+m.iid, m.title, state, m.authorID, m.author, string(labels), m.source,
		m.target, m.created, m.created, merged, "https://gitlab.example.com/mr/"+itoa(m.iid), approval)
}

func (f *fixture) commit(project, iid int64, sha string, authored int64) {
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (?, ?, ?, ?)`, project, iid, sha, authored)
}

var noteSeq int64

func (f *fixture) note(project, iid int64, kind string, authorID int64, username string, created int64) {
	noteSeq++
	f.exec(`INSERT INTO mr_notes(project_id, mr_iid, note_id, kind, author_id, author_username, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		project, iid, noteSeq, kind, authorID, username, created)
}

func (f *fixture) env(id, project int64, name, tier string) {
	f.exec(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (?, ?, ?, ?, 0)`, id, project, name, tier)
}

func (f *fixture) deploy(id, project, envID int64, sha string, finished int64, iids ...int64) {
	f.t.Helper()
	var name string
	if err := f.st.DB.QueryRow(`SELECT name FROM environments WHERE id = ?`, envID).Scan(&name); err != nil {
		f.t.Fatal(err)
	}
	f.exec(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at, job_url)
		VALUES (?, ?, ?, ?, ?, ?, 'success', ?, ?, ?, ?)`, id, id, project, envID, name, sha, finished, finished, finished,
		"https://gitlab.example.com/jobs/"+itoa(id))
	for _, iid := range iids {
		f.exec(`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (?, ?, ?)`, id, project, iid)
	}
}

func (f *fixture) pipeline(id, project int64, ref, status string, finished int64, coverage any) {
	f.exec(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, project, ref, "sha"+itoa(id), status, finished, finished, finished, coverage,
		"https://gitlab.example.com/pipelines/"+itoa(id))
}

// engine returns a refreshed engine with cfg (default when nil) and the clock at now.
func (f *fixture) engine(cfg *config.Config, now time.Time) *Engine {
	f.t.Helper()
	e := New(f.st, cfg)
	e.SetClock(func() time.Time { return now })
	if err := e.Refresh(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return e
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// mrs collects the MergeRequests of a filter by project and iid.
func (f *fixture) mrs(e *Engine, flt Filter) map[int64]*MergeRequest {
	f.t.Helper()
	out := map[int64]*MergeRequest{}
	if err := e.MergeRequests(f.ctx, flt, func(m *MergeRequest) error {
		out[m.ProjectID*100000+m.IID] = m
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *fixture) deployments(e *Engine, flt Filter) map[int64]*Deployment {
	f.t.Helper()
	out := map[int64]*Deployment{}
	if err := e.Deployments(f.ctx, flt, func(d *Deployment) error {
		out[d.ID] = d
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// figure finds one figure, failing when absent.
func figure(t *testing.T, figs []Figure, period, service, metric string) Figure {
	t.Helper()
	for _, fg := range figs {
		if fg.Period == period && fg.Service == service && fg.Metric == metric {
			return fg
		}
	}
	t.Fatalf("no figure %s %s %s in %v", period, service, metric, figs)
	return Figure{}
}

func hasFigure(figs []Figure, period, service, metric string) bool {
	for _, fg := range figs {
		if fg.Period == period && fg.Service == service && fg.Metric == metric {
			return true
		}
	}
	return false
}
