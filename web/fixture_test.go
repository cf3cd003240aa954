package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// The fixture's clock: Wednesday 2026-03-25 12:00 UTC, in ISO week 2026-W13. The default
// preset (12 weeks) then covers Monday 2026-01-05 through 2026-03-25.
var (
	testNow = time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)
	// week10 is Monday 2026-03-02, the start of 2026-W10.
	week10 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
)

const hostileTitle = `<script>alert(1)</script> "quoted" & <b>bold</b>`

// fixture is a small organisation written straight into the raw tables, as the collector
// would, with facts known by construction:
//
//   - acme/api: MRs 1..4 merged in W10 and deployed on Tuesday 2026-03-03 10:30 (deployment
//     101 ships 1 and 2, deployment 102 ships 3 and 4); MR 3 is a hotfix (so 102 is a rework
//     deployment and 101 a change failure, recovered in 2h). MR 1 has the hostile title and
//     no approval; the others are approved by bob.
//   - acme/web: MRs 1..2 merged in W11, deployed Thursday 2026-03-12 15:00 (deployment 201).
//   - Coverage: acme/api 81.5% on 2026-03-03, acme/web 93% on 2026-03-12.
type fixture struct {
	t   *testing.T
	st  *store.Store
	cfg *config.Config
	eng *metrics.Engine
	srv *Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, st: storetest.New(t)}
	f.project(1, "acme/api")
	f.project(2, "acme/web")
	f.exec(`INSERT INTO users(id, username, bot, fetched_at) VALUES (1, 'alice', 0, 0), (2, 'bob', 0, 0)`)
	f.exec(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (11, 1, 'production', 'production', 1), (21, 2, 'production', 'production', 1)`)

	w10 := week10.Unix()
	hour := int64(3600)
	day := 24 * hour
	for iid := int64(1); iid <= 4; iid++ {
		title, source, labels := "Improve api part "+strconv.FormatInt(iid, 10), "feature-"+strconv.FormatInt(iid, 10), "[]"
		if iid == 1 {
			title = hostileTitle
		}
		if iid == 3 {
			title, source, labels = "Fix the crash in checkout", "hotfix/checkout", `["hotfix"]`
		}
		created := w10 - 2*day + iid*hour
		f.mr(1, iid, title, source, labels, created, w10+iid*hour)
		f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (?, ?, ?, ?)`, 1, iid, "c"+strconv.FormatInt(iid, 10), created-day)
		if iid != 1 {
			f.note(1, iid, "approved", 2, "bob", w10+iid*hour-600)
		}
	}
	f.deploy(101, 1, 11, "aaaaaaaaaaaa1", w10+day+10*hour+30*60, 1, 2)
	f.deploy(102, 1, 11, "aaaaaaaaaaaa2", w10+day+12*hour+30*60, 3, 4)

	w11 := w10 + 7*day
	for iid := int64(1); iid <= 2; iid++ {
		created := w11 - day
		f.mr(2, iid, "Web change "+strconv.FormatInt(iid, 10), "feature", "[]", created, w11+2*day+iid*hour)
		f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (?, ?, ?, ?)`, 2, iid, "w"+strconv.FormatInt(iid, 10), created-2*hour)
		f.note(2, iid, "approved", 1, "alice", w11+2*day)
	}
	f.deploy(201, 2, 21, "bbbbbbbbbbbb1", w11+3*day+15*hour, 1, 2)

	f.exec(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url) VALUES
		(501, 1, 'main', 'aaaaaaaaaaaa1', 'success', ?, ?, ?, 81.5, 'https://gitlab.example.com/acme/api/-/pipelines/501'),
		(502, 2, 'main', 'bbbbbbbbbbbb1', 'success', ?, ?, ?, 93, 'https://gitlab.example.com/acme/web/-/pipelines/502')`,
		w10+day, w10+day, w10+day+600, w11+3*day, w11+3*day, w11+3*day+600)

	f.cfg = config.Default()
	f.start()
	return f
}

// start (re)builds the engine and server over the fixture's rows and configuration.
func (f *fixture) start() {
	f.t.Helper()
	f.eng = metrics.New(f.st, f.cfg)
	f.eng.SetClock(func() time.Time { return testNow })
	if err := f.eng.Refresh(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	if f.cfg.Auth.SignIn() {
		f.srv = authServer(f.t, f, nil)
		return
	}
	srv, err := New(Options{Store: f.st, Engine: f.eng, Config: f.cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		f.t.Fatal(err)
	}
	srv.access.baseHost = "example.com" // httptest.NewRequest's host, as if it were base_url's
	f.srv = srv
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.st.DB.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) project(id int64, path string) {
	f.exec(`INSERT INTO projects(id, path, name, default_branch, web_url, discovered_at) VALUES (?, ?, ?, 'main', ?, 0)`,
		id, path, path, "https://gitlab.example.com/"+path)
}

func (f *fixture) mr(project, iid int64, title, source, labels string, created, merged int64) {
	f.exec(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
		source_branch, target_branch, created_at, updated_at, merged_at, web_url)
		VALUES (?, ?, ?, ?, 'merged', 1, 'alice', ?, ?, 'main', ?, ?, ?, ?)`,
		project, iid, project*1000+iid, title, labels, source, created, merged, merged,
		"https://gitlab.example.com/p"+strconv.FormatInt(project, 10)+"/-/merge_requests/"+strconv.FormatInt(iid, 10))
}

var noteID int64

func (f *fixture) note(project, iid int64, kind string, authorID int64, username string, at int64) {
	noteID++
	f.exec(`INSERT INTO mr_notes(project_id, mr_iid, note_id, kind, author_id, author_username, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		project, iid, noteID, kind, authorID, username, at)
}

func (f *fixture) deploy(id, project, env int64, sha string, finished int64, iids ...int64) {
	f.exec(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at, job_url)
		VALUES (?, ?, ?, ?, 'production', ?, 'success', ?, ?, ?, ?)`, id, id, project, env, sha, finished, finished, finished,
		"https://gitlab.example.com/jobs/"+strconv.FormatInt(id, 10))
	for _, iid := range iids {
		f.exec(`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (?, ?, ?)`, id, project, iid)
	}
}

// get requests path through the real router; htmx makes it an HTMX (fragment) request.
func (f *fixture) get(path string, htmx bool) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func mustContain(t *testing.T, body string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(body, p) {
			t.Errorf("response lacks %q", p)
		}
	}
}
