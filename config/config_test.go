package config

import (
	"strings"
	"testing"
	"time"
)

const specExample = `
gitlab_url = "https://gitlab.example.com"
groups     = ["acme"]
projects   = ["other/tool"]
database   = "pacer.db"
timezone   = "Europe/Malta"
base_url   = "https://pacer.example.com"

[production]
environments = "^(production|prod)(/|$)"

[[service]]
name     = "payments"
projects = ["acme/payments-api", "acme/payments-worker"]

[[service]]
name         = "checkout"
projects     = ["acme/monolith"]
environments = ["production/checkout"]

[[team]]
name     = "money"
services = ["payments", "checkout"]
authors  = []

[rework]
labels   = ["hotfix", "bug", "incident", "regression", "revert", "rollback"]
titles   = ["(?i)^(revert|hotfix)"]
branches = ["^(hotfix|revert)[/-]"]

[deploy_window]
days  = ["mon", "tue", "wed", "thu", "fri"]
start = "09:00"
end   = "17:30"
timezone = "Europe/Paris"

[[investment.category]]
name     = "tech debt"
labels   = ["tech-debt", "refactor"]
titles   = ["(?i)^(refactor|chore)"]
branches = ["^refactor/"]

[agreements]
approvals        = 1
tech_debt_share  = 0.20
cycle_time_p50   = "48h"

[bots]
usernames = ["renovate-bot"]

[smtp]
host = "smtp.example.com"
port = 587
tls  = "starttls"
username = "pacer"
from = "Pacer <pacer@example.com>"

[digest]
weekday = "mon"
time    = "08:00"

[[digest.subscription]]
to = ["eng-leads@example.com"]

[[digest.subscription]]
to   = ["money@example.com"]
team = "money"
`

func TestParseSpecExample(t *testing.T) {
	c, err := Parse("pacer.toml", []byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if c.Location.String() != "Europe/Malta" {
		t.Errorf("location %v", c.Location)
	}
	if len(c.Services) != 2 || c.Services[1].Environments[0] != "production/checkout" {
		t.Errorf("services %+v", c.Services)
	}
	w := c.DeployWindow
	if w == nil || !w.Weekdays[time.Friday] || w.Weekdays[time.Saturday] || w.StartMinute != 540 || w.EndMinute != 1050 || w.Location.String() != "Europe/Paris" {
		t.Errorf("deploy window %+v", w)
	}
	if c.Digest.Day != time.Monday || c.Digest.Minute != 480 || c.Digest.Location.String() != "Europe/Malta" {
		t.Errorf("digest %+v", c.Digest)
	}
	if len(c.Digest.Subscriptions) != 2 || c.Digest.Subscriptions[1].Team != "money" {
		t.Errorf("subscriptions %+v", c.Digest.Subscriptions)
	}
	if !c.Production.Pattern.MatchString("prod/eu") || c.Production.Pattern.MatchString("preprod") {
		t.Errorf("production pattern %v", c.Production.Pattern)
	}
}

func TestDefaults(t *testing.T) {
	c := Default()
	if c.DeployWindow != nil {
		t.Error("no window unless configured")
	}
	if c.Digest.Day != time.Monday || c.Digest.Minute != 8*60 {
		t.Errorf("digest default %+v", c.Digest)
	}
	if c.SMTP.TLS != "starttls" || c.SMTP.Port != 587 {
		t.Errorf("smtp default %+v", c.SMTP)
	}
	if len(c.Rework.Labels) != 6 || !c.Rework.TitlePatterns[0].MatchString("REVERT: x") || !c.Rework.BranchPatterns[0].MatchString("Hotfix-1") {
		t.Errorf("rework defaults %+v", c.Rework)
	}
	if c.Coverage.Target != 90 {
		t.Errorf("coverage target %v", c.Coverage.Target)
	}
}

func TestErrorsNameKeyLineAndFix(t *testing.T) {
	src := "timezone = \"Mars/Olympus\"\ncolour = \"red\"\n[deploy_window]\nstart = \"25:00\"\n[smtp]\ntls = \"ssl\"\n[[digest.subscription]]\nto = [\"x\"]\nteam = \"nope\"\n"
	_, err := Parse("p.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`p.toml:2: unknown key "colour"`,
		`p.toml:1: timezone: unknown time zone "Mars/Olympus"`,
		`p.toml:4: deploy_window.start: "25:00" is not a time of day`,
		`p.toml:6: smtp.tls: "ssl" is not a TLS mode (use starttls, tls or none)`,
		`"x" is not an email address`,
		`no [[team]] is named "nope"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	_, err := Parse("p.toml", []byte("groups = [\"a\"\n\nx = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:") {
		t.Fatalf("got %v", err)
	}
}

func TestServiceAndTeamRules(t *testing.T) {
	src := `
[[service]]
name = "a"
projects = ["x/y", "x/z"]
environments = ["production/a"]
[[service]]
name = "a"
projects = ["q/r"]
[[team]]
name = "t"
`
	_, err := Parse("p.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"exactly one project", `service "a" is named twice`, "a team needs services or authors"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestDeployWindowContains(t *testing.T) {
	c, err := Parse("p.toml", []byte("[deploy_window]\ndays = [\"mon\"]\nstart = \"09:00\"\nend = \"17:30\"\ntimezone = \"Europe/Paris\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := c.DeployWindow
	for _, tc := range []struct {
		at   string
		want bool
	}{
		{"2026-03-02T08:00:00Z", true},  // Monday 09:00 in Paris (UTC+1): start is inside
		{"2026-03-02T07:59:59Z", false}, // 08:59:59 in Paris
		{"2026-03-02T16:29:59Z", true},
		{"2026-03-02T16:30:00Z", false}, // 17:30 in Paris: end is outside
		{"2026-03-03T10:00:00Z", false}, // Tuesday
		{"2026-06-01T07:30:00Z", true},  // Monday 09:30 in Paris summer time (UTC+2)
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		if got := w.Contains(at); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.at, got, tc.want)
		}
	}
	if !(*DeployWindow)(nil).Contains(time.Now()) {
		t.Error("no window contains everything")
	}
}

// TestServiceClaimsAreUnambiguous: "all" names the aggregate of every service in figures and
// filters, and a project (or a monorepo's environment) claimed by two services would be
// attributed to one of them silently.
func TestServiceClaimsAreUnambiguous(t *testing.T) {
	src := `
[[service]]
name = "all"
projects = ["x/all"]
[[service]]
name = "pay"
projects = ["x/pay-api", "x/pay-worker"]
[[service]]
name = "money"
projects = ["x/pay-worker"]
[[service]]
name = "checkout"
projects = ["x/mono"]
environments = ["production/checkout"]
[[service]]
name = "shop"
projects = ["x/mono"]
environments = ["production/checkout", "production/shop"]
[[service]]
name = "mono-rest"
projects = ["x/mono"]
`
	_, err := Parse("p.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`p.toml:3: service[0].name: "all" is reserved`,
		`service[2].projects: project "x/pay-worker" is already in service "pay"`,
		`service[4].environments: environment "production/checkout" of x/mono is already service "checkout"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "mono-rest") {
		t.Errorf("a monorepo may also be grouped for its other items: %v", err)
	}
}

// TestErrorLinesInArrayTables: an error in the second [[service]], [[team]] or
// [[digest.subscription]] names the line in that table, not the same key in the first one.
func TestErrorLinesInArrayTables(t *testing.T) {
	src := `[[service]]
name = "a"
projects = ["x/y"]

[[service]] # the second
name = "b"
projects = []

[[team]]
name = "t"
services = ["a"]

[[team]]
name = "u"

[[digest.subscription]]
to = ["a@example.com"]

[[digest.subscription]]
to = ["not an address"]
`
	_, err := Parse("p.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		"p.toml:7: service[1].projects:",
		"p.toml:13: team[1]: a team needs services or authors",
		`p.toml:20: digest.subscription[1].to: "not an address"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestTypeErrorsAndSecretKeysSayHowToFix(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"database = \"x\"\ngroups = \"acme\"\n", `p.toml:2: groups: a string in quotes where a list such as ["a", "b"] is expected`},
		{"[smtp]\nport = \"587\"\n", "p.toml:2: smtp.port: a string in quotes where a whole number is expected"},
		{"[smtp]\npassword = \"hunter2\"\n", `p.toml:2: unknown key "smtp.password" (the SMTP password is read only from the environment: set PACER_SMTP_PASSWORD)`},
		{"gitlab_token = \"glpat-x\"\n", `p.toml:1: unknown key "gitlab_token" (the GitLab token is read only from the environment: set PACER_GITLAB_TOKEN)`},
	} {
		_, err := Parse("p.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "glpat-x")) {
			t.Errorf("a secret reached the message: %v", err)
		}
	}
}

func TestInvestmentAndAgreements(t *testing.T) {
	c, err := Parse("spec.toml", []byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	cats := c.Investment.Categories
	// The configured category, then "other" for what no rule matches.
	if len(cats) != 2 || cats[0].Name != "tech debt" || len(cats[0].TitlePatterns) != 1 || cats[1].Name != "other" {
		t.Errorf("categories %+v", cats)
	}
	if a := c.Agreements; a.Approvals != 1 || a.TechDebtShare != 0.20 || a.CycleTime != 48*time.Hour || *a.AllowedBreaks != 0.05 {
		t.Errorf("agreements %+v", a)
	}
	d := Default()
	if len(d.Investment.Categories) != 3 || !d.Investment.Categories[0].Rework || !IsTechDebt(d.Investment.Categories[1].Name) ||
		d.Investment.Categories[2].Name != "feature" {
		t.Errorf("built-in categories %+v", d.Investment.Categories)
	}
	if d.Agreements.CycleTime != 0 || d.Agreements.TechDebtTolerance != 0.05 {
		t.Errorf("default agreements %+v", d.Agreements)
	}
	src := "[[investment.category]]\nname = \"debt\"\ntitles = [\"(\"]\ncolour = 1\n[agreements]\ntech_debt_share = 1.5\ncycle_time_p50 = \"two days\"\nallowed_breaks = -1\n"
	_, err = Parse("p.toml", []byte(src))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`p.toml:4: unknown key "investment.category.colour"`,
		`p.toml:3: investment.category[0].titles: "(" is not a regular expression`,
		`p.toml:6: agreements.tech_debt_share: 1.5 is not a share`,
		`p.toml:7: agreements.cycle_time_p50: "two days" is not a positive duration`,
		`p.toml:8: agreements.allowed_breaks: -1 is not a share`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestAuth(t *testing.T) {
	c, err := Parse("p.toml", []byte("gitlab_url = \"https://gitlab.example.com\"\nbase_url = \"https://pacer.example.com\"\n[auth]\nmode = \"gitlab\"\nclient_id = \"abc\"\nsession_idle = \"2h\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Auth.SignIn() || c.Auth.ClientID != "abc" || c.Auth.Idle != 2*time.Hour || c.Auth.Max != DefaultSessionMax {
		t.Errorf("auth = %+v", c.Auth)
	}
	if c, err := Parse("p.toml", []byte("[auth]\nmode = \"none\"\n")); err != nil || c.Auth.Mode != AuthNone || c.Auth.SignIn() {
		t.Errorf("mode none: %+v, %v", c, err)
	}
	if c := Default(); c.Auth.Mode != "" || c.Auth.SignIn() {
		t.Errorf("no [auth]: mode %q", c.Auth.Mode)
	}
}

func TestAuthErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[auth]\nmode = \"ldap\"\n", `p.toml:2: auth.mode: "ldap" is not a sign-in mode (use "gitlab" or "none")`},
		{"[auth]\n", `p.toml:1: auth.mode: [auth] needs a mode`},
		{"gitlab_url = \"https://g.example.com\"\nbase_url = \"https://p.example.com\"\n[auth]\nmode = \"gitlab\"\n", `p.toml:3: auth.client_id: sign-in with GitLab needs the OAuth application's id`},
		{"base_url = \"https://p.example.com\"\n[auth]\nclient_id = \"x\"\n", `p.toml:2: auth.mode: sign-in with GitLab needs gitlab_url`},
		{"gitlab_url = \"https://g.example.com\"\n[auth]\nmode = \"gitlab\"\nclient_id = \"x\"\n", `p.toml:3: auth.mode: sign-in with GitLab needs base_url`},
		{"base_url = \"pacer.example.com\"\n", `p.toml:1: base_url: "pacer.example.com" is not the address of a web server`},
		{"[auth]\nmode = \"none\"\nsession_idle = \"soon\"\n", `p.toml:3: auth.session_idle: "soon" is not a duration`},
		{"[auth]\nmode = \"none\"\nsession_idle = \"48h\"\nsession_max = \"24h\"\n", `p.toml:3: auth.session_idle: 48h0m0s is longer than session_max 24h0m0s`},
		{"[auth]\nmode = \"none\"\nclient_secret = \"s3cr3t\"\n", `p.toml:3: unknown key "auth.client_secret" (the OAuth client secret is read only from the environment: set PACER_OAUTH_SECRET)`},
	} {
		_, err := Parse("p.toml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
			continue
		}
		if strings.Count(err.Error(), "auth.") > 1 && !strings.Contains(tc.src, "secret") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%q: want one problem named, without the secret: %v", tc.src, err)
		}
	}
}

func TestDisplaySmallSample(t *testing.T) {
	c, err := Parse("p.toml", []byte(""))
	if err != nil {
		t.Fatal(err)
	}
	if c.Display.SmallSample != DefaultSmallSample {
		t.Errorf("default small_sample = %d, want %d", c.Display.SmallSample, DefaultSmallSample)
	}
	c, err = Parse("p.toml", []byte("[display]\nsmall_sample = 5\n"))
	if err != nil || c.Display.SmallSample != 5 {
		t.Fatalf("small_sample = 5: %v, %+v", err, c.Display)
	}
	_, err = Parse("p.toml", []byte("[display]\nsmall_sample = -3\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:2: display.small_sample: -3 is not a number of items") {
		t.Errorf("small_sample = -3: %v", err)
	}
}
