package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
)

// Every page, as a full document and as an HTMX fragment.
func TestPagesFullAndFragment(t *testing.T) {
	f := newFixture(t)
	pages := []struct {
		path, title string
		want        []string
	}{
		{"/", "Overview", []string{"Cycle time (median)", "Production deployments", "Coverage"}},
		{"/cycle-time", "Cycle time", []string{"Where the time goes", "Distribution of cycle time", "Slowest merge requests"}},
		{"/releases", "Releases", []string{"Deployments per service (least first)", "weekday × hour", "No deploy window is configured"}},
		{"/rework", "Rework", []string{"Latest rework deployments and the MRs they shipped", "Fix the crash in checkout"}},
		{"/coverage", "Coverage", []string{"Latest coverage per service", "target 90%", "acme/api"}},
		{"/approvals", "Approvals", []string{"Latest MRs merged without approval"}},
		{"/merge-requests", "Merge requests", []string{"6 merge requests delivered"}},
		{"/deployments", "Deployments", []string{"3 production deployments"}},
		{"/sync", "Sync status", []string{"acme/api", "never"}},
		{"/merge-requests?rework=true", "Merge requests", []string{"1 merge request delivered", "rework MRs"}},
		{"/deployments?weekday=2&hour=10", "Deployments", []string{"1 production deployment", "on Tuesdays"}},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			full := f.get(p.path, false)
			if full.Code != http.StatusOK {
				t.Fatalf("full page: status %d\n%s", full.Code, full.Body)
			}
			body := full.Body.String()
			mustContain(t, body, "<!doctype html>", "<title>"+p.title+" · Pacer</title>", `id="nav"`, `id="page"`)
			mustContain(t, body, p.want...)
			checkHeaders(t, full)

			frag := f.get(p.path, true)
			if frag.Code != http.StatusOK {
				t.Fatalf("fragment: status %d\n%s", frag.Code, frag.Body)
			}
			fb := frag.Body.String()
			if strings.Contains(fb, "<html") || strings.Contains(fb, "<!doctype") {
				t.Error("fragment has the whole document")
			}
			mustContain(t, fb, "<title>"+p.title+" · Pacer</title>", `hx-swap-oob="true"`, `<div id="page">`)
			mustContain(t, fb, p.want...)
			checkHeaders(t, frag)
			if p.path != "/sync" && frag.Header().Get("HX-Push-Url") == "" {
				t.Error("fragment does not push its canonical URL")
			}
		})
	}
}

// A boosted navigation and a history restore get the whole page.
func TestBoostedAndHistoryRestoreGetFullPage(t *testing.T) {
	f := newFixture(t)
	for _, h := range []string{"HX-Boosted", "HX-History-Restore-Request"} {
		req := httptest.NewRequest(http.MethodGet, "/cycle-time", nil)
		req.Header.Set("HX-Request", "true")
		req.Header.Set(h, "true")
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<!doctype html>") {
			t.Errorf("%s: want the full page, got %d", h, rec.Code)
		}
	}
}

func checkHeaders(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	h := rec.Header()
	if vary := strings.Join(h.Values("Vary"), ", "); !strings.Contains(vary, "HX-Request") {
		t.Errorf("Vary = %q, want HX-Request", vary)
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("missing nosniff or frame denial: %v", h)
	}
}

// The CSP forbids inline scripts, styles and event handlers, so the markup must have none.
func TestNoInlineScriptOrStyle(t *testing.T) {
	f := newFixture(t)
	inline := regexp.MustCompile(`(?i)<script>|<script[^>]*>[^<]|<style|\sstyle=|\son[a-z]+=|hx-on|javascript:`)
	for _, p := range []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements", "/merge-requests", "/deployments", "/sync", "/?from=bad"} {
		body := f.get(p, false).Body.String()
		if m := inline.FindString(body); m != "" {
			t.Errorf("%s has inline code: %q", p, m)
		}
	}
}

// Bad input gets a 400 (or 404) page or fragment that says what was wrong; never a 500.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path   string
		status int
		want   string
	}{
		{"/?from=2026-13-01", 400, `from=&#34;2026-13-01&#34; is not a date`},
		{"/cycle-time?to=yesterday", 400, "is not a date: use YYYY-MM-DD"},
		{"/?by=year", 400, "by=&#34;year&#34; is not a period"},
		{"/releases?period=3w", 400, "is not a period: use one of 4w, 12w, 26w, 52w"},
		{"/?from=2026-03-10&to=2026-03-01", 400, "The range is reversed"},
		{"/?from=1970-01-01&to=2026-01-01", 400, "at most five years"},
		{"/?by=day&from=2025-01-01&to=2026-03-01", 400, "A daily view covers at most"},
		{"/merge-requests?rework=maybe", 400, "use rework=true or rework=false"},
		{"/merge-requests?sort=fastest-first", 400, "is not an order of this list: use one of recent, oldest, slowest"},
		{"/merge-requests?limit=0", 400, "limit"},
		{"/deployments?hour=25", 400, "hour=&#34;25&#34; is not a whole number from 0 to 23"},
		{"/deployments?outside_window=true", 400, "No deploy window is configured"},
		{"/?service=acme/nope", 404, "unknown service &#34;acme/nope&#34;"},
		{"/rework?service=" + url.QueryEscape("<script>alert(1)</script>"), 404, "unknown service &#34;&lt;script&gt;"},
		{"/?team=platform", 404, "unknown team"},
		{"/no-such-page", 404, "There is no page at this address"},
		{"/export/secrets.csv", 404, "There is no export called"},
		{"/export/merge-requests.csv?from=2026-02-30", 400, "is not a date"},
		{"/export/deployments.csv?service=acme/nope", 404, "unknown service"},
		{"/static/site.0000000000.css", 404, "no static file"},
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
			if htmx == strings.Contains(body, "<!doctype html>") {
				t.Errorf("%s (htmx %v): full page and fragment mixed up", c.path, htmx)
			}
			if strings.Contains(body, "<script>alert") {
				t.Errorf("%s: user input echoed unescaped", c.path)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("%s: error answered as %q", c.path, ct)
			}
			if rec.Header().Get("Content-Disposition") != "" {
				t.Errorf("%s: an error must not be a download", c.path)
			}
		}
	}
}

// MR titles come from GitLab and are escaped wherever they are shown.
func TestHostileTitleEscaped(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/merge-requests", "/merge-requests?unapproved=true", "/cycle-time", "/approvals", "/deployments", "/deployments?change_failure=true"} {
		body := f.get(p, false).Body.String()
		if strings.Contains(body, "<script>alert(1)") || strings.Contains(body, "<b>bold</b>") {
			t.Errorf("%s: title rendered as markup", p)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: escaped title missing", p)
		}
	}
}

// The drill-down lists count exactly the fixture's items.
func TestDrillDownMatchesFixture(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		path string
		want string
	}{
		// W10: the four acme/api MRs; one is rework, one unapproved.
		{"/merge-requests?period=custom&from=2026-03-02&to=2026-03-08", "4 merge requests delivered"},
		{"/merge-requests?period=custom&from=2026-03-02&to=2026-03-08&unapproved=true", "1 merge request delivered"},
		{"/merge-requests?service=acme/web", "2 merge requests delivered"},
		{"/deployments?rework=true", "1 production deployment"},
		{"/deployments?change_failure=true", "1 production deployment"},
		{"/deployments?service=acme/web", "1 production deployment"},
		{"/deployments?weekday=4&hour=15", "1 production deployment"},
		{"/deployments?weekday=1", "0 production deployments"},
	}
	for _, c := range cases {
		rec := f.get(c.path, false)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", c.path, rec.Code)
		}
		mustContain(t, rec.Body.String(), c.want)
	}
	// The change failure links to GitLab's job and lists the MRs it shipped.
	body := f.get("/deployments?change_failure=true", false).Body.String()
	mustContain(t, body, `href="https://gitlab.example.com/jobs/101"`, "!1", "!2", "2h")
}

// Chart points and cards link to the list of the items behind them, with n.
func TestFiguresLinkToItems(t *testing.T) {
	f := newFixture(t)
	body := f.get("/?period=custom&from=2026-03-02&to=2026-03-15", false).Body.String()
	// The W10 deployments bar: 2 deployments, linking to that week's deployments.
	mustContain(t, body, "2 Mar · 2 (n=2)", `href="/deployments?from=2026-03-02&amp;period=custom&amp;to=2026-03-08"`)
	// Headline cards show the last full week (W11) against W10.
	mustContain(t, body, "n = 1 deployment · week of 9 Mar", "n = 2 MRs · week of 9 Mar")
}

// A list page carries its predicate through the filter form.
func TestListKeepsPredicateInForm(t *testing.T) {
	f := newFixture(t)
	body := f.get("/merge-requests?rework=true&sort=slowest", false).Body.String()
	mustContain(t, body, `<input type="hidden" name="rework" value="true">`, `<input type="hidden" name="sort" value="slowest">`)
}

// The CSV export gives exactly what metrics.WriteCSV (and so `pacer export`) writes.
func TestCSVExportMatchesWriteCSV(t *testing.T) {
	f := newFixture(t)
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC)
	for _, ds := range metrics.Datasets {
		rec := f.get("/export/"+ds+".csv?period=custom&from=2026-03-01&to=2026-03-20&service=acme/api", false)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", ds, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("%s: content type %q", ds, ct)
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="pacer-`+ds+`-2026-03-01-2026-03-20.csv"` {
			t.Errorf("%s: disposition %q", ds, cd)
		}
		var want bytes.Buffer
		if err := metrics.WriteCSV(context.Background(), &want, f.eng, ds, metrics.Filter{From: from, To: to, Services: []string{"acme/api"}, By: metrics.Week}); err != nil {
			t.Fatal(err)
		}
		if rec.Body.String() != want.String() {
			t.Errorf("%s: web CSV differs from WriteCSV:\n%s\nwant:\n%s", ds, rec.Body, want.String())
		}
		if strings.Count(want.String(), "\n") < 2 {
			t.Errorf("%s: expected rows in the fixture's range, got %q", ds, want.String())
		}
	}
	// The hostile title is quoted, not altered.
	body := f.get("/export/merge-requests.csv?period=custom&from=2026-03-01&to=2026-03-20", false).Body.String()
	mustContain(t, body, `"<script>alert(1)</script> ""quoted"" & <b>bold</b>"`)
}

// Every page links a CSV beside its tables and charts, with the page's filters.
func TestCSVLinksCarryFilters(t *testing.T) {
	f := newFixture(t)
	body := f.get("/cycle-time?service=acme/api&by=day&period=4w", false).Body.String()
	mustContain(t, body, `href="/export/metrics.csv?by=day&amp;period=4w&amp;service=acme%2Fapi"`, `href="/export/merge-requests.csv?by=day&amp;period=4w&amp;service=acme%2Fapi"`)
}

func TestStaticAssetsAreHashedAndCached(t *testing.T) {
	f := newFixture(t)
	body := f.get("/", false).Body.String()
	m := regexp.MustCompile(`/static/(site|htmx\.min)\.[0-9a-f]{10}\.(css|js)`).FindAllString(body, -1)
	if len(m) != 2 {
		t.Fatalf("want the hashed CSS and JS in the page, got %v", m)
	}
	for _, u := range m {
		rec := f.get(u, false)
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d %v", u, rec.Code, rec.Header())
		}
		if strings.HasSuffix(u, ".js") && !strings.Contains(rec.Body.String(), `version:"2.0.9"`) {
			t.Errorf("%s is not htmx 2.0.9", u)
		}
	}
}

func TestGzip(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodGet, "/releases", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("not compressed: %v", rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	mustContain(t, string(plain), "Deployments per service")
}

func TestHead(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/", "/healthz", "/releases?period=4w"} {
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, p, nil))
		if rec.Code != 200 {
			t.Errorf("HEAD %s: %d", p, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/?by=year", nil))
	if rec.Code != 400 || rec.Body.Len() != 0 {
		t.Errorf("HEAD with a bad filter: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	rec := f.get("/healthz", false)
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	f.st.Close()
	if rec := f.get("/healthz", false); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("closed database: %d", rec.Code)
	}
}

// An empty database explains how to get data instead of showing empty charts.
func TestEmptyDatabase(t *testing.T) {
	f := newFixture(t)
	f.exec(`DELETE FROM projects`)
	f.start()
	mustContain(t, f.get("/", false).Body.String(), "Nothing has been synced yet", "pacer demo")
	mustContain(t, f.get("/sync", false).Body.String(), "Nothing has been synced yet")
	mustContain(t, f.get("/releases", false).Body.String(), "No production deployments in this range", "deployment_tier: production")
	mustContain(t, f.get("/coverage", false).Body.String(), "No coverage reported in this range")
	// Every page says why it is empty, as a page and as a fragment (a filter change).
	for _, p := range []string{"/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements", "/merge-requests", "/deployments"} {
		for _, htmx := range []bool{false, true} {
			if body := f.get(p, htmx).Body.String(); strings.Count(body, "Nothing has been synced yet") != 1 {
				t.Errorf("%s (htmx %v): no single explanation that nothing has been synced", p, htmx)
			}
		}
	}
	if n := strings.Count(f.get("/", false).Body.String(), "Nothing has been synced yet"); n != 1 {
		t.Errorf("the overview explains it %d times", n)
	}
}

// With a deploy window, the releases page shows the window and the deployments outside it.
func TestDeployWindow(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("test.toml", []byte("[deploy_window]\ndays = [\"mon\", \"tue\", \"wed\"]\nstart = \"09:00\"\nend = \"12:00\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	body := f.get("/releases", false).Body.String()
	mustContain(t, body, "Mon, Tue, Wed 09:00–12:00 (UTC)", "Latest deployments outside the window", "outside window")
	// 101 (Tue 10:30) is inside; 102 (Tue 12:30) and 201 (Thu 15:00) are outside.
	mustContain(t, f.get("/deployments?outside_window=true", false).Body.String(), "2 production deployments")
	mustContain(t, f.get("/deployments?outside_window=false", false).Body.String(), "1 production deployment")
}

// Sync status shows a project's error and cursors.
func TestSyncStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	start := time.Date(2026, 3, 25, 9, 0, 0, 0, time.UTC)
	if err := f.st.StartProjectSync(ctx, 1, start); err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishProjectSync(ctx, 1, start.Add(time.Minute), 42, errString("list deployments: 403 <Forbidden>")); err != nil {
		t.Fatal(err)
	}
	body := f.get("/sync", false).Body.String()
	mustContain(t, body, "state-error", "list deployments: 403 &lt;Forbidden&gt;", "2026-03-25 09:00", "42", "1 project failed")
}

type errString string

func (e errString) Error() string { return string(e) }

// No query a user can type makes a page fail on the server side.
func TestHostileQueriesNeverFail(t *testing.T) {
	f := newFixture(t)
	queries := []string{
		"from=%00", "to=9999-12-31", "from=0000-00-00", "from=2026-03-01&to=2026-03-01", "period=custom", "period=custom&from=2026-03-25",
		"by=", "by=WEEK", "service=", "service=%20", "service=all", "service=" + strings.Repeat("a", 5000), "team=%3Cb%3E",
		"limit=-1", "limit=99999999999999999999", "limit=2000", "sort=", "weekday=-1", "hour=1.5", "cycle_min=5&cycle_max=1",
		"rework=TRUE", "unapproved=1", "deployed=false", "outside_window=", "from=2026-03-01&from=2026-02-01", "%zz=1", "period=12w&was=",
		"period=52w&by=day", "from=2026-03-25&to=2027-03-25", "service=acme/api&service=acme/web&team=",
	}
	for _, p := range []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements", "/merge-requests", "/deployments", "/export/metrics.csv", "/sync"} {
		for _, q := range queries {
			for _, htmx := range []bool{false, true} {
				if rec := f.get(p+"?"+q, htmx); rec.Code >= 500 {
					t.Errorf("%s?%s: %d\n%s", p, q, rec.Code, rec.Body)
				}
			}
		}
	}
}

// The slowest-MRs section grows in place through its own endpoint; without HTMX the same
// link leads to the full list.
func TestSlowestSection(t *testing.T) {
	f := newFixture(t)
	page := f.get("/cycle-time?period=custom&from=2026-03-01&to=2026-03-20", false).Body.String()
	// Six MRs, ten shown: nothing more to show.
	if strings.Contains(page, "/cycle-time/slowest") {
		t.Error("all MRs are shown, yet the section offers more")
	}
	rec := f.get("/cycle-time/slowest?period=custom&from=2026-03-01&to=2026-03-20&limit=2", true)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	if !strings.HasPrefix(body, `<section class="section" id="slowest">`) || strings.Count(body, "<tr>") != 3 {
		t.Errorf("want the section alone with 2 rows:\n%s", body)
	}
	mustContain(t, body, `hx-get="/cycle-time/slowest?from=2026-03-01&amp;limit=50&amp;period=custom&amp;to=2026-03-20"`,
		`href="/merge-requests?from=2026-03-01&amp;period=custom&amp;sort=slowest&amp;to=2026-03-20"`, "All 6 MRs, slowest first")
	noJS := f.get("/cycle-time/slowest?period=4w", false)
	if noJS.Code != http.StatusSeeOther || noJS.Header().Get("Location") != "/merge-requests?period=4w&sort=slowest" {
		t.Errorf("without HTMX: %d %q", noJS.Code, noJS.Header().Get("Location"))
	}
	if rec := f.get("/cycle-time/slowest?limit=500", true); rec.Code != 400 {
		t.Errorf("limit over the section's maximum: %d", rec.Code)
	}
}

// A monorepo split into services by environment is not "the service that releases least":
// its deployments all count under the split services.
func TestReleasesLeastSkipsSplitProject(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("test.toml", []byte("[[service]]\nname = \"api-prod\"\nprojects = [\"acme/api\"]\nenvironments = [\"production\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	body := f.get("/releases?period=custom&from=2026-03-02&to=2026-03-15", false).Body.String()
	card := body[strings.Index(body, "Releases least"):]
	card = card[:strings.Index(card, "</article>")]
	// acme/web shipped once, api-prod (all of acme/api's deployments) twice.
	mustContain(t, card, "acme/<wbr>web", "n = 1 deployment in the range")
	if strings.Contains(body, "acme/<wbr>api") {
		t.Errorf("the split project acme/api is listed among the services by deployments")
	}
	mustContain(t, body, "api-prod")
}

// Coverage figures link to the coverage page as it stood at the end of their period, where
// each project's last pipeline links out to GitLab.
func TestCoverageFiguresLinkToPipelines(t *testing.T) {
	f := newFixture(t)
	w10 := `/coverage?from=2026-03-02&amp;period=custom&amp;to=2026-03-08`
	// W10: acme/api's 81.5% (pipeline 501); acme/web's first pipeline is in W11.
	mustContain(t, f.get("/coverage?period=custom&from=2026-03-02&to=2026-03-15", false).Body.String(), `<a href="`+w10+`">81.5% (n=1)</a>`)
	mustContain(t, f.get("/?period=custom&from=2026-03-02&to=2026-03-15", false).Body.String(), `<a href="`+w10+`">81.5% (n=1)</a>`)
	body := f.get(strings.ReplaceAll(w10, "&amp;", "&"), false).Body.String()
	mustContain(t, body, "https://gitlab.example.com/acme/api/-/pipelines/501")
	if strings.Contains(body, "pipelines/502") {
		t.Error("the W10 coverage page lists acme/web's W11 pipeline")
	}
}

// A long parameter is refused without being echoed back whole (an error page repeating
// 20,000 characters, twice, is no message).
func TestLongParametersAreNotEchoed(t *testing.T) {
	f := newFixture(t)
	long := strings.Repeat("x", 20000)
	filters := []string{"period", "by", "team", "service", "from", "to"}
	reads := map[string][]string{
		"/":                   filters,
		"/merge-requests":     append([]string{"sort"}, filters...),
		"/export/metrics.csv": filters,
		"/digest":             {"week", "format", "team", "service"},
	}
	for p, params := range reads {
		for _, k := range params {
			for _, htmx := range []bool{false, true} {
				rec := f.get(p+"?"+k+"="+long, htmx)
				if rec.Code < 400 || rec.Code >= 500 {
					t.Errorf("%s?%s=xxx…: status %d, want 400 or 404", p, k, rec.Code)
				}
				if strings.Contains(rec.Body.String(), strings.Repeat("x", 200)) {
					t.Errorf("%s?%s=xxx…: the error echoes the whole parameter", p, k)
				}
			}
		}
	}
}

// An error page's filter form shows the period the request meant, so the user corrects the
// value at fault rather than finding the period changed under them.
func TestErrorPageKeepsThePeriod(t *testing.T) {
	f := newFixture(t)
	cases := map[string]string{
		"/rework?from=2026-02-30":            `<option value="custom" selected>`,
		"/rework?to=yesterday":               `<option value="custom" selected>`,
		"/rework?service=acme/nope":          `<option value="12w" selected>`,
		"/rework?period=26w&by=year":         `<option value="26w" selected>`,
		"/rework?period=4w&service=nope":     `<option value="4w" selected>`,
		"/merge-requests?sort=sideways":      `<option value="12w" selected>`,
		"/deployments?hour=25&period=custom": `<option value="custom" selected>`,
	}
	for path, want := range cases {
		for _, htmx := range []bool{false, true} {
			rec := f.get(path, htmx)
			if rec.Code != 400 && rec.Code != 404 {
				t.Errorf("%s: status %d", path, rec.Code)
			}
			mustContain(t, rec.Body.String(), want)
		}
	}
	// On an empty database the error is the message: no "nothing synced" notice beside it.
	f.exec(`DELETE FROM projects`)
	f.start()
	if body := f.get("/merge-requests?sort=sideways", false).Body.String(); strings.Contains(body, "Nothing has been synced yet") {
		t.Error("an error page carries the empty-database notice")
	}
}

// A view of several services keeps them through the filter form: its select offers a
// multiple choice with each of them chosen, so a period change does not drop them.
func TestFormKeepsSeveralServices(t *testing.T) {
	f := newFixture(t)
	for _, htmx := range []bool{false, true} {
		body := f.get("/rework?service=acme/api&service=acme/web", htmx).Body.String()
		mustContain(t, body, `<select name="service" multiple`, `<option value="acme/api" selected>`, `<option value="acme/web" selected>`)
	}
	// One service: the plain select.
	body := f.get("/rework?service=acme/api", false).Body.String()
	mustContain(t, body, `<select name="service">`, `<option value="acme/api" selected>`)
}

// Every deployment links out to GitLab: its job when GitLab gave one, and always its commit
// (a deployment created through the API has no job).
func TestDeploymentsLinkToTheirCommit(t *testing.T) {
	f := newFixture(t)
	f.exec(`UPDATE deployments SET job_url = '' WHERE id = 201`)
	f.exec(`DELETE FROM fact_state`) // derive every fact again
	f.start()
	body := f.get("/deployments?period=custom&from=2026-03-02&to=2026-03-15", false).Body.String()
	mustContain(t, body,
		`href="https://gitlab.example.com/jobs/101"`,
		`<a href="https://gitlab.example.com/acme/api/-/commit/aaaaaaaaaaaa1" rel="noopener" target="_blank"><code>aaaaaaaa</code></a>`,
		`<a href="https://gitlab.example.com/acme/web/-/commit/bbbbbbbbbbbb1" rel="noopener" target="_blank"><code>bbbbbbbb</code></a>`)
	if strings.Contains(body, "jobs/201") {
		t.Error("deployment 201 has no job, yet links to one")
	}
	for _, c := range []struct{ web, sha, want string }{
		{"https://gitlab.example.com/acme/api/", "abc", "https://gitlab.example.com/acme/api/-/commit/abc"},
		{"javascript:alert(1)", "abc", ""},
		{"", "abc", ""},
		{"https://gitlab.example.com/a", "", ""},
		{"https://gitlab.example.com/a", "../x", ""},
	} {
		if got := commitURL(c.web, c.sha); got != c.want {
			t.Errorf("commitURL(%q, %q) = %q, want %q", c.web, c.sha, got, c.want)
		}
	}
}

// A service outside the team also asked for matches nothing; the page says why instead of
// showing only empty charts.
func TestServiceOutsideTeamIsExplained(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("test.toml", []byte("[[team]]\nname = \"api-team\"\nservices = [\"acme/api\"]\n\n[[team]]\nname = \"people\"\nauthors = [\"alice\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	for _, htmx := range []bool{false, true} {
		mustContain(t, f.get("/releases?service=acme/web&team=api-team", htmx).Body.String(),
			"acme/web is not part of team api-team", "one of the team&#39;s services: acme/api")
	}
	for _, p := range []string{"/releases?service=acme/api&team=api-team", "/releases?service=acme/web&team=people", "/releases?team=api-team"} {
		if strings.Contains(f.get(p, false).Body.String(), "is not part of team") {
			t.Errorf("%s: explained as outside the team", p)
		}
	}
}
