package digest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// The fixed dataset: two services over 2026-W08 and 2026-W09, written into the raw tables as
// the collector would, so the numbers go through the real metrics engine. The expected figures
// in the tests are worked out by hand from the comments here.
//
// payments (acme/payments-api, id 1, environment 10), checkout (acme/checkout, id 2, env 20);
// team money = payments. Deploy window Mon–Fri 09:00–17:30 Europe/Paris.
//
// W08 (16–22 Feb):
//   - payments !1: commit 16 Feb 10:00, merged 17 Feb 12:00, deployed D101 17 Feb 14:00 -> cycle 28h
//   - checkout !1: commit 18 Feb 09:00, merged 18 Feb 16:00, deployed D201 19 Feb 10:00 -> cycle 25h
//   - coverage: payments 80.0 (20 Feb), checkout 70.0 (20 Feb)
//
// W09 (23 Feb – 1 Mar):
//   - payments !2 "Add refunds": commit 23 Feb 09:00, merged 24 Feb 10:00, D102 24 Feb 11:00 -> 26h
//   - payments !3 "Hotfix refunds rounding" (label hotfix): commit 24 Feb 12:00, merged 13:00,
//     D103 24 Feb 13:30 -> 1h 30m. D103 is a rework deployment; D102 its change failure
//     (recovery 2h 30m).
//   - payments !4 "Slow <b>migration</b>": commit 16 Feb 08:00, merged 26 Feb 09:00, D104
//     Saturday 28 Feb 22:00 UTC (outside the window) -> 12d 14h
//   - checkout !2: commit 25 Feb 10:00, merged 25 Feb 15:00, never deployed -> 5h
//   - checkout D202 26 Feb 10:00 ships nothing
//   - coverage: payments 82.6 (27 Feb); checkout carried forward at 70.0
//
// Approvals (one is agreed): payments !1, !2 and !4 and checkout !2 were approved by someone
// else before the merge; checkout !1 and payments !3 were not. With cycle_time_p50 = 24h, the
// agreements of W09 against W08 (coverage target 90%, tech debt 20% ± 5 pts, no tech-debt MR):
//
//	                 W08 all / checkout / payments      W09 all / checkout / payments
//	unapproved       50% ✗ / 100% ✗ / 0% ✓              25% ✗ / 0% ✓ / 33.3% ✗
//	out of window    0% ✓ / 0% ✓ / 0% ✓                 25% ✗ / 0% ✓ / 33.3% ✗
//	coverage         75 ✗ / 70 ✗ / 80 ✗                 76.3 ✗ / 70 ✗ / 82.6 ✗
//	tech debt        0% ✗ everywhere                     0% ✗ everywhere
//	cycle time p50   26h30m ✗ / 25h ✗ / 28h ✗           15h30m ✓ / 5h ✓ / 26h ✗
//
// So in W09: slipped approvals (payments) and the window (all, payments); recovered approvals
// (checkout) and cycle time (all, checkout); still broken 8; 4 of 15 checks hold.
//
// W09 everyone: 4 MRs (1h30m, 5h, 26h, 302h): p50 15h 30m, p75 95h = 3d 23h; 4 deployments,
// 1 rework (25%), 1 change failure (25%); coverage (82.6+70)/2 = 76.3%.
// W08 everyone: cycle p50 26h 30m; 2 deployments; rework 0%; coverage 75%.

var w09 = Week{2026, 9}

func ts(month time.Month, day, hour, min int) int64 {
	return time.Date(2026, month, day, hour, min, 0, 0, time.UTC).Unix()
}

func fixtureConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(`
base_url = "https://pacer.example.com"

[[service]]
name = "payments"
projects = ["acme/payments-api"]

[[service]]
name = "checkout"
projects = ["acme/checkout"]

[[team]]
name = "money"
services = ["payments"]

[agreements]
cycle_time_p50 = "24h"

[deploy_window]
days = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end = "17:30"
timezone = "Europe/Paris"

[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
from = "Pacer <pacer@example.com>"

[digest]
weekday = "mon"
time = "08:00"
timezone = "Europe/Malta"

[[digest.subscription]]
to = ["lead@example.com", "cto@example.com"]

[[digest.subscription]]
to = ["money@example.com"]
team = "money"
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type fixture struct {
	t   testing.TB
	st  *store.Store
	cfg *config.Config
}

func (f *fixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.st.DB.Exec(q, args...); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
}

func (f *fixture) mr(project, iid int64, title, labels, author string, authorID, commit, created, merged int64) {
	f.t.Helper()
	path := map[int64]string{1: "acme/payments-api", 2: "acme/checkout"}[project]
	f.exec(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
		source_branch, target_branch, created_at, updated_at, merged_at, web_url)
		VALUES (?, ?, ?, ?, 'merged', ?, ?, ?, 'feature', 'main', ?, ?, ?, ?)`,
		project, iid, project*1000+iid, title, authorID, author, labels, created, merged, merged,
		"https://gitlab.example.com/"+path+"/-/merge_requests/"+itoaTest(iid))
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (?, ?, ?, ?)`, project, iid, "c"+itoaTest(project*1000+iid), commit)
}

func (f *fixture) deploy(id, project, env int64, sha string, finished int64, iids ...int64) {
	f.t.Helper()
	f.exec(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at, job_url)
		VALUES (?, ?, ?, ?, 'production', ?, 'success', ?, ?, ?, ?)`, id, id, project, env, sha, finished, finished, finished,
		"https://gitlab.example.com/jobs/"+itoaTest(id))
	for _, iid := range iids {
		f.exec(`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (?, ?, ?)`, id, project, iid)
	}
}

// approve records an "approved this merge request" note by a user other than the author.
func (f *fixture) approve(project, iid, noteID, userID int64, username string, at int64) {
	f.t.Helper()
	f.exec(`INSERT INTO mr_notes(project_id, mr_iid, note_id, kind, author_id, author_username, created_at)
		VALUES (?, ?, ?, 'approved', ?, ?, ?)`, project, iid, noteID, userID, username, at)
}

func (f *fixture) coverage(id, project int64, finished int64, pct float64) {
	f.exec(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url, detail_fetched)
		VALUES (?, ?, 'main', ?, 'success', ?, ?, ?, ?, ?, 1)`, id, project, "p"+itoaTest(id), finished, finished, finished, pct,
		"https://gitlab.example.com/pipelines/"+itoaTest(id))
}

func itoaTest(v int64) string { return strconv.FormatInt(v, 10) }

// newFixture fills a fresh database and returns it with a refreshed engine; extra adds rows
// before the refresh.
func newFixture(t testing.TB, extra ...func(*fixture)) (*fixture, *metrics.Engine) {
	t.Helper()
	f := &fixture{t: t, st: storetest.New(t), cfg: fixtureConfig(t)}
	f.exec(`INSERT INTO projects(id, path, name, default_branch, web_url, discovered_at) VALUES
		(1, 'acme/payments-api', 'payments-api', 'main', 'https://gitlab.example.com/acme/payments-api', 0),
		(2, 'acme/checkout', 'checkout', 'main', 'https://gitlab.example.com/acme/checkout', 0)`)
	f.exec(`INSERT INTO users(id, username, bot, fetched_at) VALUES (1, 'alice', 0, 0), (2, 'bob', 0, 0), (3, 'carol', 0, 0)`)
	f.exec(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (10, 1, 'production', 'production', 1), (20, 2, 'production', 'production', 1)`)

	// W08
	f.mr(1, 1, "Ledger export", "[]", "alice", 1, ts(2, 16, 10, 0), ts(2, 16, 12, 0), ts(2, 17, 12, 0))
	f.deploy(101, 1, 10, "a1", ts(2, 17, 14, 0), 1)
	f.mr(2, 1, "Basket totals", "[]", "bob", 2, ts(2, 18, 9, 0), ts(2, 18, 10, 0), ts(2, 18, 16, 0))
	f.deploy(201, 2, 20, "b1", ts(2, 19, 10, 0), 1)
	f.coverage(901, 1, ts(2, 20, 12, 0), 80.0)
	f.coverage(902, 2, ts(2, 20, 12, 0), 70.0)

	// W09
	f.mr(1, 2, "Add refunds", "[]", "alice", 1, ts(2, 23, 9, 0), ts(2, 23, 10, 0), ts(2, 24, 10, 0))
	f.deploy(102, 1, 10, "a2", ts(2, 24, 11, 0), 2)
	f.mr(1, 3, "Hotfix refunds rounding", `["hotfix"]`, "bob", 2, ts(2, 24, 12, 0), ts(2, 24, 12, 30), ts(2, 24, 13, 0))
	f.deploy(103, 1, 10, "a3", ts(2, 24, 13, 30), 3)
	f.mr(1, 4, "Slow <b>migration</b>", "[]", "carol", 3, ts(2, 16, 8, 0), ts(2, 20, 9, 0), ts(2, 26, 9, 0))
	f.deploy(104, 1, 10, "a4", ts(2, 28, 22, 0), 4)
	f.mr(2, 2, "Checkout copy", "[]", "alice", 1, ts(2, 25, 10, 0), ts(2, 25, 11, 0), ts(2, 25, 15, 0))
	f.deploy(202, 2, 20, "b2", ts(2, 26, 10, 0))
	f.coverage(903, 1, ts(2, 27, 12, 0), 82.6)

	f.approve(1, 1, 5001, 2, "bob", ts(2, 17, 11, 0))
	f.approve(1, 2, 5002, 2, "bob", ts(2, 24, 9, 0))
	f.approve(1, 4, 5004, 1, "alice", ts(2, 26, 8, 0))
	f.approve(2, 2, 5102, 2, "bob", ts(2, 25, 14, 0))

	for _, fn := range extra {
		fn(f)
	}

	eng := metrics.New(f.st, f.cfg)
	eng.SetClock(func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) })
	if err := eng.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	return f, eng
}
