package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pacer-dev/pacer/config"
)

// withTechDebt adds a tech-debt MR to acme/web, merged in W11 and never deployed:
// W10 is then 1 rework and 3 feature MRs, W11 1 tech-debt and 2 feature MRs. Every MR is
// alice's, so her approvals of the acme/web MRs do not count: 4 MRs have no approval.
func withTechDebt(f *fixture) {
	f.t.Helper()
	w11 := week10.AddDate(0, 0, 7).Unix()
	f.mr(2, 3, "chore: bump deps", "chore/deps", `["dependencies"]`, w11, w11+2*86400+5*3600)
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (2, 3, 'w3', ?)`, w11-3600)
	f.note(2, 3, "approved", 1, "alice", w11+2*86400)
	f.start()
}

// The new pages and predicates, as full pages and as HTMX fragments.
func TestInvestmentAndAgreementsPages(t *testing.T) {
	f := newFixture(t)
	withTechDebt(f)
	rng := "period=custom&from=2026-03-02&to=2026-03-15"
	pages := []struct {
		path, title string
		want        []string
	}{
		{"/investment?" + rng, "Investment", []string{
			`id="investment-shares"`, `<svg class="plot"`, "Where the delivered MRs go, by category",
			"2 Mar · rework: 25% (1 of 4 MRs)", "9 Mar · tech debt: 33.3% (1 of 3 MRs)", "tech debt target 20%",
			`href="/merge-requests?category=tech+debt&amp;from=2026-03-09&amp;period=custom&amp;to=2026-03-15"`,
			`id="investment-table"`, "Whole range", "1 MR", "7 MRs",
			`href="/export/merge-requests.csv?from=2026-03-02&amp;period=custom&amp;to=2026-03-15"`,
			`href="/export/metrics.csv?from=2026-03-02&amp;period=custom&amp;to=2026-03-15"`,
			"Tech debt: share of MRs and share of effort", "Tech-debt share", "9 Mar · Share of MRs: 33.3% (n=3 MRs)", "author-days"}},
		{"/agreements?" + rng, "Agreements", []string{
			"Week of 9 Mar 2026 (2026-W11)", "trend from 19 Jan", "All services", "acme/<wbr>api", `<svg class="trend"`,
			"2026-W10 (2 Mar): 25% (n=4 MRs)",
			`href="/merge-requests?approvals_below=1&amp;from=2026-03-02&amp;period=custom&amp;to=2026-03-08"`,
			`href="/coverage?below_target=true&amp;from=2026-03-09&amp;period=custom&amp;to=2026-03-15"`,
			`href="/merge-requests?category=tech+debt&amp;from=2026-03-09&amp;period=custom&amp;to=2026-03-15"`,
			"≥ 1 approval before merge, ≤ 5% of MRs may miss it", "≥ 90%", "20% ± 5 pts of MRs",
			"no [deploy_window] is configured", "cycle_time_p50",
			`href="/export/metrics.csv?from=2026-03-02&amp;period=custom&amp;to=2026-03-15"`,
			`href="/export/merge-requests.csv?from=2026-03-02&amp;period=custom&amp;to=2026-03-15"`}},
		{"/merge-requests?category=tech+debt&" + rng, "Merge requests", []string{"1 merge request delivered", "chore: bump deps", "category tech debt", `<input type="hidden" name="category" value="tech debt">`}},
		{"/merge-requests?category=REWORK&" + rng, "Merge requests", []string{"1 merge request delivered", "Fix the crash in checkout", "category rework"}},
		{"/merge-requests?category=feature&" + rng, "Merge requests", []string{"5 merge requests delivered"}},
		{"/merge-requests?approvals_below=1&" + rng, "Merge requests", []string{"4 merge requests delivered", "no approval note before merge"}},
		{"/merge-requests?approvals_below=2&" + rng, "Merge requests", []string{"7 merge requests delivered", "fewer than 2 approvals"}},
		{"/deployments?id=102&" + rng, "Deployments", []string{"1 production deployment", "deployment 102", "Fix the crash in checkout"}},
		{"/coverage?below_target=true&" + rng, "Coverage", []string{"Projects under the target of 90% on 15 Mar 2026", "pipelines/501", "Every project", `<input type="hidden" name="below_target" value="true">`}},
		{"/rework?" + rng, "Rework", []string{"Two figures, two questions", "rework deployments ÷ deployments", "change failures ÷ deployments",
			"1 of 3 deployments", "Latest change failures and the deployment that blamed each",
			`blamed by <a href="/deployments?from=2026-03-03&amp;id=102&amp;period=custom&amp;to=2026-03-03">#102 (2026-03-03 12:30 UTC)</a>`,
			`blames <a href="/deployments?from=2026-03-03&amp;id=101&amp;period=custom&amp;to=2026-03-03">#101 (2026-03-03 10:30 UTC)</a>`}},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			for _, htmx := range []bool{false, true} {
				rec := f.get(p.path, htmx)
				if rec.Code != http.StatusOK {
					t.Fatalf("htmx %v: status %d\n%s", htmx, rec.Code, rec.Body)
				}
				body := rec.Body.String()
				mustContain(t, body, "<title>"+p.title+" · Pacer</title>", `href="/investment?`, `href="/agreements?`)
				mustContain(t, body, p.want...)
				if htmx == strings.Contains(body, "<!doctype html>") {
					t.Errorf("htmx %v: full page and fragment mixed up", htmx)
				}
				checkHeaders(t, rec)
				if htmx && rec.Header().Get("HX-Push-Url") == "" {
					t.Error("fragment does not push its canonical URL")
				}
			}
		})
	}
	if body := f.get("/coverage?below_target=true&"+rng, false).Body.String(); strings.Contains(body, "pipelines/502") {
		t.Error("below_target lists acme/web, at 93% over the target")
	}
}

// The new parameters answer 400 with a message that says what would do; unknown names 404.
func TestInvestmentAndAgreementsBadInput(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{"/merge-requests?category=nope", 400, `category=&#34;nope&#34; is not an investment category: use one of &#34;rework&#34;, &#34;tech debt&#34;, &#34;feature&#34;`},
		{"/merge-requests?category=" + strings.Repeat("x", 300), 400, "is not an investment category"},
		{"/merge-requests?approvals_below=0", 400, "approvals_below=&#34;0&#34; is not a whole number from 1 to 100"},
		{"/merge-requests?approvals_below=two", 400, "approvals_below"},
		{"/deployments?id=abc", 400, "id=&#34;abc&#34; is not a whole number"},
		{"/coverage?below_target=maybe", 400, "use below_target=true or below_target=false"},
		{"/investment?by=year", 400, "by=&#34;year&#34; is not a period"},
		{"/investment?from=2026-02-30", 400, "is not a date"},
		{"/investment?service=acme/nope", 404, "unknown service"},
		{"/agreements?to=yesterday", 400, "is not a date"},
		{"/agreements?period=1w", 400, "is not a period"},
		{"/agreements?team=nope", 404, "unknown team"},
		{"/agreements?service=" + "%3Cscript%3Ealert(1)%3C/script%3E", 404, "unknown service &#34;&lt;script&gt;"},
	}
	for _, c := range cases {
		for _, htmx := range []bool{false, true} {
			rec := f.get(c.path, htmx)
			if rec.Code != c.status {
				t.Errorf("%s (htmx %v): status %d, want %d\n%s", c.path, htmx, rec.Code, c.status, rec.Body)
				continue
			}
			body := rec.Body.String()
			mustContain(t, body, c.want)
			if strings.Contains(body, "<script>alert") || strings.Contains(body, strings.Repeat("x", 200)) {
				t.Errorf("%s: input echoed unescaped or whole", c.path)
			}
			if htmx == strings.Contains(body, "<!doctype html>") {
				t.Errorf("%s (htmx %v): full page and fragment mixed up", c.path, htmx)
			}
		}
	}
	for _, p := range []string{"/investment", "/agreements"} {
		for _, q := range []string{"from=%00", "by=day&period=52w", "period=custom&from=2026-03-25", "service=all", "team=%3Cb%3E", "to=9999-12-31", "category=x", "limit=-1"} {
			if rec := f.get(p+"?"+q, false); rec.Code >= 500 {
				t.Errorf("%s?%s: %d", p, q, rec.Code)
			}
		}
	}
}

// Category names come from the config and are escaped wherever they are shown.
func TestCategoryNamesEscaped(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("test.toml", []byte("[[investment.category]]\nname = \"<img src=x onerror=alert(2)>\"\nlabels = [\"hotfix\"]\n\n[[investment.category]]\nname = \"tech debt\"\nlabels = [\"dependencies\"]\n\n[[investment.category]]\nname = \"other\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	for _, p := range []string{"/investment?period=custom&from=2026-03-02&to=2026-03-15", "/merge-requests", "/merge-requests?category=%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E", "/merge-requests?category=x"} {
		body := f.get(p, false).Body.String()
		if strings.Contains(body, "<img src=x") {
			t.Errorf("%s: a category name rendered as markup", p)
		}
		mustContain(t, body, "&lt;img src=x onerror=alert(2)&gt;")
	}
}

// Agreements team by team; an approvals target over 1 and a cycle-time target link to their
// own predicates; a deploy window to the deployments outside it.
func TestAgreementsConfigured(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("test.toml", []byte(`
[[team]]
name = "api-team"
services = ["acme/api"]

[deploy_window]
days = ["mon", "tue", "wed"]
start = "09:00"
end = "12:00"

[agreements]
approvals = 2
cycle_time_p50 = "48h"
`))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	body := f.get("/agreements?period=custom&from=2026-03-02&to=2026-03-08", false).Body.String()
	mustContain(t, body, "Week of 2 Mar 2026 (2026-W10)", `<th scope="rowgroup" colspan="6">Teams</th>`, "api-team",
		"≥ 2 approvals before merge", "Mon, Tue, Wed 09:00–12:00 (UTC)", "median ≤ 2d",
		`href="/merge-requests?approvals_below=2&amp;from=2026-03-02&amp;period=custom&amp;to=2026-03-08"`,
		`href="/deployments?from=2026-03-02&amp;outside_window=true&amp;period=custom&amp;to=2026-03-08"`,
		`href="/merge-requests?cycle_min=172801&amp;from=2026-03-02&amp;period=custom&amp;sort=slowest&amp;to=2026-03-08"`,
		`href="/merge-requests?approvals_below=2&amp;from=2026-03-02&amp;period=custom&amp;team=api-team&amp;to=2026-03-08"`)
	if strings.Contains(body, "is not checked") {
		t.Error("a configured agreement is said not to be checked")
	}
	// The team's own view has no team block: its "all" row is the team.
	team := f.get("/agreements?period=custom&from=2026-03-02&to=2026-03-08&team=api-team", true).Body.String()
	mustContain(t, team, "Team api-team")
	if strings.Contains(team, `colspan="6">Teams<`) {
		t.Error("a team's view repeats the team block")
	}
	// The drill-downs count what the cells say.
	mustContain(t, f.get("/merge-requests?approvals_below=2&period=custom&from=2026-03-02&to=2026-03-08", false).Body.String(), "4 merge requests delivered")
	mustContain(t, f.get("/deployments?outside_window=true&period=custom&from=2026-03-02&to=2026-03-08", false).Body.String(), "1 production deployment")
}

// A deploy before merge is marked on the MR and on the deployment that shipped it, which
// also shows the branch it deployed.
func TestDeployBeforeMergeShown(t *testing.T) {
	f := newFixture(t)
	w11 := week10.AddDate(0, 0, 7).Unix()
	f.exec(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
		source_branch, target_branch, created_at, updated_at, merged_at, web_url, sha)
		VALUES (2, 4, 2004, 'Watched in production first', 'merged', 1, 'alice', '[]', 'feature/pre', 'main', ?, ?, ?, 'https://gitlab.example.com/p2/-/merge_requests/4', 'prehead1')`,
		w11, w11+3*86400+17*3600, w11+3*86400+17*3600)
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (2, 4, 'prehead1', ?)`, w11-3600)
	f.exec(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, ref, sha, status, created_at, updated_at, finished_at, job_url)
		VALUES (202, 202, 2, 21, 'production', 'feature/pre', 'prehead1', 'success', ?, ?, ?, 'https://gitlab.example.com/jobs/202')`,
		w11+3*86400+16*3600, w11+3*86400+16*3600, w11+3*86400+16*3600)
	f.start()
	rng := "period=custom&from=2026-03-09&to=2026-03-15"
	mrs := f.get("/merge-requests?service=acme/web&"+rng, false).Body.String()
	mustContain(t, mrs, "Watched in production first", "deployed before merge")
	if strings.Count(mrs, "deployed before merge</span>") != 1 {
		t.Error("want exactly one MR marked as deployed before merge")
	}
	deps := f.get("/deployments?id=202&"+rng, false).Body.String()
	mustContain(t, deps, "1 production deployment", `title="the branch or tag deployed">feature/pre</span>`, "!4", "before merge</span>")
}
