package views_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/pacer-dev/pacer/views"
)

// The -update flag rewrites the golden files. Other test files of this package may define the
// same flag, so it is defined here only if nobody has, and read when needed.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const digestBase = "https://pacer.example.com"

// digestFixture is a fixed, display-ready digest: what package digest builds from a week
// with activity in every section, including text that must be escaped.
func digestFixture() views.DigestEmail {
	q := "?by=week&from=2026-02-23&to=2026-03-01&team=money"
	return views.DigestEmail{
		Subject:      "Pacer 2026-W09 · money: cycle time p50 1d 4h, 23 deployments",
		Preheader:    "Rework rate 8.7% · change failure rate 4.3% · coverage 81.4%",
		Week:         "2026-W09",
		Dates:        "23 Feb – 1 Mar 2026",
		Scope:        "Team money",
		DashboardURL: digestBase + "/" + q,
		Highlights: []string{"Cycle time p50 fell 12% to 1d 4h.", "2 rework deployments in payments (1 rollback).",
			"2 deployments outside the deploy window."},
		Headline: []views.DigestFigure{
			{Label: "Cycle time p50", Value: "1d 4h", N: "from 31 MRs", URL: digestBase + "/cycle-time" + q,
				VsPrev: views.DigestChange{Text: "−12%", Tone: "good", Title: "last week 1d 8h"},
				VsAvg:  views.DigestChange{Text: "+3%", Tone: "bad", Title: "4-week average 1d 3h (4 weeks with data)"}},
			{Label: "Deployments", Value: "23", URL: digestBase + "/deployments" + q,
				VsPrev: views.DigestChange{Text: "no change", Title: "last week 23"},
				VsAvg:  views.DigestChange{Text: "+15%", Tone: "good", Title: "4-week average 20"}},
			{Label: "Rework rate", Value: "8.7%", N: "from 23 deployments", URL: digestBase + "/rework" + q,
				VsPrev: views.DigestChange{Text: "+4.3 pts", Tone: "bad", Title: "last week 4.3%"},
				VsAvg:  views.DigestChange{Text: "—", Title: "no data in the 4 weeks before"}},
			{Label: "Coverage", Value: "—", N: "no data this week",
				VsPrev: views.DigestChange{Text: "—"}, VsAvg: views.DigestChange{Text: "—"}},
		},
		Releases: []views.DigestRelease{
			{Service: "payments", Count: "15", PerDay: "2.14/day", Rework: "2 rework", URL: digestBase + "/releases?service=payments",
				VsPrev: views.DigestChange{Text: "+25%", Tone: "good", Title: "last week 12"}},
			{Service: "checkout", Count: "8", PerDay: "1.14/day", URL: digestBase + "/releases?service=checkout",
				VsPrev: views.DigestChange{Text: "−27%", Tone: "bad", Title: "last week 11"}},
		},
		ReleasesURL: digestBase + "/releases" + q,
		Agreements: views.DigestAgreements{
			Note: "2 slipped since last week, 1 recovered, 2 still broken; 4 of 8 checks hold.",
			URL:  digestBase + "/agreements" + q,
			Changes: []views.DigestAgreementChange{
				{Status: "slipped", Tone: "bad", Agreement: "Deployments outside the window", Service: "All services",
					Detail: "2 of 23 deployments", Target: "0%", LastWeek: "0%", ThisWeek: "8.7%",
					URL: digestBase + "/deployments?by=week&from=2026-02-23&outside_window=true&team=money&to=2026-03-01"},
				{Status: "slipped", Tone: "bad", Agreement: "Merged without approval", Service: "pay<ments>",
					Detail: "1 of 31 MRs", Target: "0%", LastWeek: "0%", ThisWeek: "3.2%",
					URL: digestBase + "/merge-requests?approvals_below=1&service=pay%3Cments%3E"},
				{Status: "recovered", Tone: "good", Agreement: "Cycle time p50", Service: "checkout",
					Detail: "0 of 9 MRs slower than 2d", Target: "≤ 2d", LastWeek: "2d 6h", ThisWeek: "1d 4h", URL: digestBase + "/agreements?service=checkout"},
			},
			Broken: []views.DigestAgreementBroken{
				{Agreement: "Coverage", Target: "≥ 90%", Items: []views.DigestAgreementItem{
					{Service: "all services", Value: "81.4%", URL: digestBase + "/coverage" + q},
					{Service: "checkout", Value: "74.9%", URL: digestBase + "/coverage?service=checkout"},
				}, More: "and 3 more services."},
			},
		},
		Rework: []views.DigestRework{
			{Service: "payments", Environment: "production", When: "Tue 24 Feb 14:05 UTC", SHA: "9f8e7d6c",
				Reasons: "rollback, ships rework MRs", Failure: "Answers the change failure of Tue 24 Feb 11:55 UTC (1a2b3c4d), after 2h 10m.",
				URL: digestBase + "/deployments?service=payments", JobURL: "https://gitlab.example.com/acme/payments/-/jobs/77",
				MRs: []views.DigestMRRef{
					{Ref: "!412", Title: `Revert "Use <b>new</b> ledger & cache"`, URL: "https://gitlab.example.com/acme/payments/-/merge_requests/412", Rework: true},
					{Ref: "!409", Title: "Bump client timeout", URL: "https://gitlab.example.com/acme/payments/-/merge_requests/409", Note: "deployed before merge"},
				}},
		},
		ReworkNote: "2 of 23 deployments (8.7%).",
		ReworkURL:  digestBase + "/rework" + q,
		Slowest: []views.DigestMR{
			{Ref: "acme/payments!398", Title: `<script>alert("x")</script> Rework the refund flow`, Author: "renée",
				Service: "payments", Cycle: "9d 2h", Stages: "coding 6d 1h · pickup 1d 20h · review 1d 4h · deploy 1h 5m",
				URL: "https://gitlab.example.com/acme/payments/-/merge_requests/398", DashURL: digestBase + "/merge-requests?service=payments"},
			{Ref: "acme/checkout!77", Title: "Split basket service", Author: "omar", Service: "checkout", Cycle: "6d 3h",
				Stages: "coding 3d · pickup 2d · review 1d 3h · not deployed", URL: "javascript:alert(1)"},
		},
		SlowestURL: digestBase + "/cycle-time" + q,
		Coverage: []views.DigestCoverage{
			{Service: "checkout", Before: "78.2%", After: "74.9%", URL: digestBase + "/coverage?service=checkout",
				Change: views.DigestChange{Text: "−3.3 pts", Tone: "bad", Title: "last week 78.2%"}},
			{Service: "ledger", Before: "—", After: "66%", Change: views.DigestChange{Text: "new"}},
		},
		CoverageNote: "1 other service unchanged.",
		CoverageURL:  digestBase + "/coverage" + q,
		Window: &views.DigestWindow{
			Window: "Mon–Fri 09:00–17:30 Europe/Paris",
			Count:  "2 of 23 deployments finished outside it (8.7%).",
			Items: []views.DigestWindowItem{
				{Service: "payments", When: "Sat 28 Feb 22:14 CET", URL: digestBase + "/deployments?service=payments"},
				{Service: "checkout", When: "Mon 23 Feb 07:02 CET"},
			},
			URL: digestBase + "/releases" + q,
		},
		Footer: "Pacer digest of 2026-W09 (23 Feb – 1 Mar 2026) for team money.",
	}
}

func digestGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./views -run Digest -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended, run go test ./views -run Digest -update and review the diff.\n--- got ---\n%s", name, got)
	}
}

func renderDigest(t *testing.T, m views.DigestEmail) string {
	t.Helper()
	var b bytes.Buffer
	if err := views.DigestEmailDoc(m).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDigestGolden(t *testing.T) {
	m := digestFixture()
	digestGolden(t, "digest.golden.html", []byte(renderDigest(t, m)))
	digestGolden(t, "digest.golden.txt", []byte(views.DigestText(m)))

	quiet := views.DigestEmail{
		Subject: "Pacer 2026-W09: no MRs delivered, no deployments", Week: "2026-W09", Dates: "23 Feb – 1 Mar 2026",
		Scope: "Everyone", Quiet: true, CoverageNote: "No coverage was reported in this scope.",
		Agreements: views.DigestAgreements{Note: "No agreement could be checked this week: no merge request was delivered, nothing was deployed and no coverage was reported in this scope."},
		Notes:      []string{"Links into the dashboard appear once base_url is set in the configuration file."},
	}
	digestGolden(t, "digest_quiet.golden.html", []byte(renderDigest(t, quiet)))
	digestGolden(t, "digest_quiet.golden.txt", []byte(views.DigestText(quiet)))
}

// TestDigestHTMLIsSafeForMail parses the message as a browser would and checks what mail
// clients care about: no scripts, no images or external resources, no event handlers, untrusted
// text escaped, unsafe URLs neutralised, and tables for layout.
func TestDigestHTMLIsSafeForMail(t *testing.T) {
	out := renderDigest(t, digestFixture())
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var tables, links int
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "img", "iframe", "object", "embed", "link", "form", "input", "video", "audio":
				t.Errorf("the email has a <%s> element", n.Data)
			case "table":
				tables++
			case "a":
				links++
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s> has an event handler %s", n.Data, a.Key)
				}
				if a.Key == "href" && !strings.HasPrefix(a.Val, "https://") && !strings.HasPrefix(a.Val, "about:invalid") {
					t.Errorf("link %q is not an https URL (unsafe URLs must be neutralised)", a.Val)
				}
				if a.Key == "src" || a.Key == "background" {
					t.Errorf("<%s> loads %s=%q", n.Data, a.Key, a.Val)
				}
			}
		}
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if tables < 5 {
		t.Errorf("only %d tables: the layout should be tables", tables)
	}
	if links < 10 {
		t.Errorf("only %d links into the dashboard and GitLab", links)
	}
	// The untrusted titles survive as text, not markup.
	for _, s := range []string{`<script>alert("x")</script> Rework the refund flow`, `Revert "Use <b>new</b> ledger & cache"`, "renée", "pay<ments>"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text %q is missing from the parsed message", s)
		}
	}
	if strings.Contains(out, "<script>alert") || strings.Contains(out, "<b>new</b>") || strings.Contains(out, "pay<ments>") {
		t.Error("untrusted text reached the HTML unescaped")
	}
	// Data tables keep their semantics for screen readers; only layout tables are presentation.
	if n := strings.Count(out, `<th scope="col"`); n < 15 {
		t.Errorf("%d column headers with scope, want every one", n)
	}
	var hasTH func(n *html.Node) bool
	hasTH = func(n *html.Node) bool {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.Data == "table" {
				continue // a nested table speaks for itself
			}
			if (c.Type == html.ElementNode && c.Data == "th") || hasTH(c) {
				return true
			}
		}
		return false
	}
	var tablesWalk func(n *html.Node)
	tablesWalk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "table" && hasTH(n) {
			for _, a := range n.Attr {
				if a.Key == "role" && a.Val == "presentation" {
					t.Error("a data table (it has column headers) is marked as presentation")
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			tablesWalk(c)
		}
	}
	tablesWalk(doc)
	for _, s := range []string{`name="color-scheme" content="light dark"`, "prefers-color-scheme: dark", "<title>Pacer 2026-W09"} {
		if !strings.Contains(out, s) {
			t.Errorf("the HTML lacks %q", s)
		}
	}
}

func TestDigestTextCarriesEverything(t *testing.T) {
	m := digestFixture()
	txt := views.DigestText(m)
	for _, s := range []string{
		"Week 2026-W09 (23 Feb – 1 Mar 2026)",
		"Cycle time p50", "−12% (better)", "+4.3 pts (worse)",
		"payments [2 rework]", "Answers the change failure",
		`!412 Revert "Use <b>new</b> ledger & cache" [rework]`,
		"9d 2h  acme/payments!398", "checkout      78.2%      74.9%  −3.3 pts (worse)",
		"Window: Mon–Fri 09:00–17:30 Europe/Paris.", "Open the dashboard: " + m.DashboardURL,
		"Agreements\n----------\n  " + m.Agreements.URL + "\n2 slipped since last week",
		"* Deployments outside the window · All services [slipped]: 0% last week, 8.7% this week\n  2 of 23 deployments · target 0%\n  https://",
		"* Coverage (target ≥ 90%): all services 81.4% · checkout 74.9% and 3 more services.",
		"!409 Bump client timeout (deployed before merge)",
	} {
		if !strings.Contains(txt, s) {
			t.Errorf("the text part lacks %q:\n%s", s, txt)
		}
	}
	for _, l := range strings.Split(txt, "\n") {
		if strings.HasSuffix(l, " ") {
			t.Errorf("line %q has trailing spaces (some clients show them as a soft line break)", l)
		}
	}
}

func TestDigestTextPre(t *testing.T) {
	var b bytes.Buffer
	if err := views.DigestTextPre(digestFixture()).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "&lt;script&gt;") || !strings.HasPrefix(b.String(), "<pre") {
		t.Errorf("the text preview is not an escaped <pre>: %.200s", b.String())
	}
}

// TestDigestFullWeekStaysUnderGmailClip renders the largest digest the lists allow (15 service
// rows, 6 rework deployments with 7 MR lines each, 5 slow MRs, 10 coverage rows, 10 deployments
// outside the window, the agreements section at its caps, long titles) and checks the HTML stays well under the ~102 KB at which
// Gmail clips a message.
func TestDigestFullWeekStaysUnderGmailClip(t *testing.T) {
	m := digestFixture()
	long := strings.Repeat("Rework the settlement reconciliation ", 3)
	url := digestBase + "/deployments?by=week&from=2026-02-23&service=acme%2Fplatform%2Fpayments-gateway&to=2026-03-01"
	m.Releases, m.Rework, m.Slowest, m.Coverage = nil, nil, nil, nil
	for i := 0; i < 16; i++ {
		m.Releases = append(m.Releases, views.DigestRelease{Service: "acme/platform/payments-gateway", Count: "148", PerDay: "21.14/day",
			Rework: "16 rework", URL: url, VsPrev: views.DigestChange{Text: "+13%", Tone: "good", Title: "last week 131"}})
	}
	for i := 0; i < 6; i++ {
		r := views.DigestRework{Service: "acme/platform/payments-gateway", Environment: "production/payments", When: "Mon 16 Nov 08:28 UTC",
			SHA: "04d5c20e", Reasons: "rollback, ships rework MRs", Failure: "Answers the change failure of Fri 13 Nov 16:07 UTC (f1e6f05b), after 2d 16h.",
			URL: url, JobURL: "https://gitlab.example.com/acme/platform/payments-gateway/-/jobs/7168292"}
		for k := 0; k < 7; k++ {
			r.MRs = append(r.MRs, views.DigestMRRef{Ref: "!1234", Title: long, URL: "https://gitlab.example.com/acme/platform/payments-gateway/-/merge_requests/1234", Rework: k == 0})
		}
		m.Rework = append(m.Rework, r)
	}
	for i := 0; i < 5; i++ {
		m.Slowest = append(m.Slowest, views.DigestMR{Ref: "acme/platform/payments-gateway!1234", Title: long, Author: "someone.with.a.long.name",
			Service: "acme/platform/payments-gateway", Cycle: "12d 14h", Stages: "coding 6d 1h · pickup 1d 20h · review 1d 4h · deploy 1h 5m",
			URL: "https://gitlab.example.com/acme/platform/payments-gateway/-/merge_requests/1234", DashURL: url})
	}
	for i := 0; i < 10; i++ {
		m.Coverage = append(m.Coverage, views.DigestCoverage{Service: "acme/platform/payments-gateway", Before: "78.2%", After: "74.9%", URL: url,
			Change: views.DigestChange{Text: "−3.3 pts", Tone: "bad", Title: "last week 78.2%"}})
	}
	for i := 0; i < 10; i++ {
		m.Window.Items = append(m.Window.Items, views.DigestWindowItem{Service: "acme/platform/payments-gateway", When: "Sat 28 Feb 22:14 CET", URL: url})
	}
	// The agreements section at its caps: eight changes and five still-broken lines of three services.
	m.Agreements.Changes, m.Agreements.Broken = nil, nil
	for i := 0; i < 8; i++ {
		m.Agreements.Changes = append(m.Agreements.Changes, views.DigestAgreementChange{Status: "slipped", Tone: "bad", Agreement: "Deployments outside the window",
			Service: "acme/platform/payments-gateway", Detail: "12 of 148 deployments", Target: "≤ 5%", LastWeek: "4.1%", ThisWeek: "8.1%", URL: url})
	}
	for i := 0; i < 5; i++ {
		b := views.DigestAgreementBroken{Agreement: "Merged with fewer than 2 approvals", Target: "≤ 5%", More: "and 31 more services."}
		for k := 0; k < 3; k++ {
			b.Items = append(b.Items, views.DigestAgreementItem{Service: "acme/platform/payments-gateway", Value: "12.5%", URL: url})
		}
		m.Agreements.Broken = append(m.Agreements.Broken, b)
	}
	html := renderDigest(t, m)
	if n := len(html); n > 80_000 {
		t.Fatalf("the fullest digest is %d bytes of HTML; keep it under 80 KB (quoted-printable adds a few percent, Gmail clips at about 102 KB)", n)
	} else {
		t.Logf("fullest digest: %d bytes of HTML, %d of text", n, len(views.DigestText(m)))
	}
}
