package web

import (
	"net/http"
	"strings"
	"testing"
)

// withTimelineCases adds to acme/web the MRs whose timelines show the rules:
//
//   - !5 "Try it live": its only commit is after it was opened; deployment 202 ran its branch at
//     its head before the merge (a deploy before merge); bob's comment came after that;
//     deployment 203 links it after the merge (the same environment: not counted).
//   - !6 "Old change": merged 10 days before W10, linked only by deployment 204, the first
//     deployment of production-eu, in W11 (the 7-day rule).
func withTimelineCases(f *fixture) {
	f.t.Helper()
	w11 := week10.AddDate(0, 0, 7).Unix()
	hour, day := int64(3600), int64(86400)
	f.mr(2, 5, "Try it live", "try-prod", "[]", w11+4*day, w11+4*day+6*hour)
	f.exec(`UPDATE merge_requests SET sha = 'feed01' WHERE project_id = 2 AND iid = 5`)
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (2, 5, 'w5', ?)`, w11+4*day+hour)
	f.deploy(202, 2, 21, "feed01", w11+4*day+2*hour)
	f.exec(`UPDATE deployments SET ref = 'try-prod' WHERE id = 202`)
	f.note(2, 5, "comment", 2, "bob", w11+4*day+3*hour)
	f.deploy(203, 2, 21, "bbbbbbbbbbbb3", w11+4*day+8*hour, 5)

	old := week10.Unix() - 10*day
	f.mr(2, 6, "Old change", "old", "[]", old-4*day, old)
	f.exec(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at) VALUES (2, 6, 'w6', ?)`, old-5*day)
	f.exec(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (22, 2, 'production-eu', 'production', 1)`)
	f.deploy(204, 2, 22, "bbbbbbbbbbbb4", w11, 6)
	f.start()
}

func TestTimelinePageShowsTheRules(t *testing.T) {
	f := newFixture(t)
	withTimelineCases(f)
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/merge-requests/2/5", []string{"Try it live", "acme/web!5 in GitLab", `href="https://gitlab.example.com/p2/-/merge_requests/5"`,
			"first commit after opening: opened used", "deployed before merge", "review after it reached production",
			"only the first deployment of production to ship an MR counts it", `href="https://gitlab.example.com/jobs/202"`,
			`<svg class="plot"`, "<title>deployment #202 to production", "Coding", "Pickup", "Review", "Deploy", "category", "feature",
			`href="/authors/alice?period=12w"`}},
		{"/merge-requests/2/6", []string{"Old change", "first deployment ignored by the 7-day rule", "not deployed: delivered at the merge"}},
		{"/merge-requests/1/3", []string{"Fix the crash in checkout", "rework", "first approval by someone other than the author",
			"in production, deploy stage ends", `href="https://gitlab.example.com/jobs/102"`, "commit c3"}},
		{"/merge-requests/1/1", []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "unapproved", "no review before the merge"}},
	} {
		for _, htmx := range []bool{false, true} {
			rec := f.get(c.path, htmx)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: %d\n%s", c.path, rec.Code, rec.Body)
			}
			body := rec.Body.String()
			mustContain(t, body, c.want...)
			if strings.Contains(body, "<script>alert") {
				t.Errorf("%s: the hostile title is not escaped", c.path)
			}
			if htmx == strings.Contains(body, "<html") {
				t.Errorf("%s (htmx %v): wrong document shape", c.path, htmx)
			}
		}
	}
	for _, p := range []string{"/merge-requests/1/99", "/merge-requests/9/1", "/merge-requests/x/1", "/merge-requests/0/1", "/merge-requests/1/-2"} {
		if rec := f.get(p, false); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
	if rec := f.get("/merge-requests/1/1?sort=slowest", false); rec.Code != http.StatusBadRequest {
		t.Errorf("a list parameter on the timeline: %d, want 400", rec.Code)
	}
}

// Every MR row links to its timeline: lists, drill-downs, the deployments' MRs.
func TestMRRowsLinkToTheirTimeline(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/merge-requests", "/cycle-time", "/approvals", "/deployments", "/rework"} {
		body := f.get(p, false).Body.String()
		if !strings.Contains(body, `href="/merge-requests/1/`) && !strings.Contains(body, `href="/merge-requests/2/`) {
			t.Errorf("%s links to no MR timeline", p)
		}
	}
}

// An MR in a project the person may not read is not found, and its page says nothing of it.
func TestTimelineRespectsVisibility(t *testing.T) {
	f, cookie := signedInFixture(t)
	for path, want := range map[string]int{"/merge-requests/1/1": http.StatusOK, "/merge-requests/3/1": http.StatusNotFound, "/merge-requests/2/1": http.StatusNotFound} {
		req := newRequest(path)
		req.AddCookie(cookie)
		rec := serve(f, req)
		if rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
		for _, w := range invisible {
			if strings.Contains(rec.Body.String(), w) {
				t.Errorf("%s mentions %q", path, w)
			}
		}
	}
}
