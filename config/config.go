// Package config reads Pacer's TOML configuration file (SPEC section 9) and validates it.
// Every key is optional; flags and environment variables override the file.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration file.
type Config struct {
	GitLabURL    string         `toml:"gitlab_url"`
	Groups       []string       `toml:"groups"`
	Projects     []string       `toml:"projects"`
	Database     string         `toml:"database"`
	API          string         `toml:"api"` // how merge requests are read: auto (default), rest or graphql
	Timezone     string         `toml:"timezone"`
	BaseURL      string         `toml:"base_url"`
	Production   Production     `toml:"production"`
	Services     []Service      `toml:"service"`
	Teams        []Team         `toml:"team"`
	Rework       Rework         `toml:"rework"`
	DeployWindow *DeployWindow  `toml:"deploy_window"`
	Bots         Bots           `toml:"bots"`
	SMTP         SMTP           `toml:"smtp"`
	Digest       Digest         `toml:"digest"`
	Coverage     CoverageTarget `toml:"coverage"`
	Investment   Investment     `toml:"investment"`
	Agreements   Agreements     `toml:"agreements"`
	Display      Display        `toml:"display"`
	Auth         Auth           `toml:"auth"`
	Privacy      Privacy        `toml:"privacy"`

	// Location is Timezone resolved (UTC when unset).
	Location *time.Location `toml:"-"`

	// Name and Source are where the configuration was read from and its TOML text (both empty
	// for the built-in defaults), kept with the facts derived under it.
	Name   string `toml:"-"`
	Source []byte `toml:"-"`
}

// Production says which environments count as production when GitLab gives no tier.
type Production struct {
	Environments string         `toml:"environments"`
	Pattern      *regexp.Regexp `toml:"-"`
}

// Service names a service: a set of projects, or a monorepo split by production environment name.
type Service struct {
	Name         string   `toml:"name"`
	Projects     []string `toml:"projects"`
	Environments []string `toml:"environments"`
}

// Team is a set of services or of authors (usernames).
type Team struct {
	Name     string   `toml:"name"`
	Services []string `toml:"services"`
	Authors  []string `toml:"authors"`
}

// Rework holds the rules that make an MR a rework MR.
type Rework struct {
	Labels   []string `toml:"labels"`
	Titles   []string `toml:"titles"`
	Branches []string `toml:"branches"`

	TitlePatterns  []*regexp.Regexp `toml:"-"`
	BranchPatterns []*regexp.Regexp `toml:"-"`
}

// DeployWindow is when deployments are expected to happen.
type DeployWindow struct {
	Days     []string `toml:"days"`
	Start    string   `toml:"start"`
	End      string   `toml:"end"`
	Timezone string   `toml:"timezone"`

	Weekdays    map[time.Weekday]bool `toml:"-"`
	StartMinute int                   `toml:"-"` // minutes after local midnight
	EndMinute   int                   `toml:"-"`
	Location    *time.Location        `toml:"-"`
}

// Contains says whether instant t falls in the window: on one of its weekdays, at or after
// start and before end, in the window's time zone. A nil window contains everything.
func (w *DeployWindow) Contains(t time.Time) bool {
	if w == nil {
		return true
	}
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	l := t.In(loc)
	if !w.Weekdays[l.Weekday()] {
		return false
	}
	sec := l.Hour()*3600 + l.Minute()*60 + l.Second()
	return sec >= w.StartMinute*60 && sec < w.EndMinute*60
}

// Bots lists extra bot usernames beside GitLab's bot flag and the built-in patterns.
type Bots struct {
	Usernames []string `toml:"usernames"`
}

// SMTP is the mail server the digest goes through. The password comes from PACER_SMTP_PASSWORD.
type SMTP struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	TLS      string `toml:"tls"` // starttls | tls | none
	Username string `toml:"username"`
	From     string `toml:"from"`
	Password string `toml:"-"`
}

// Digest is the weekly email's schedule and subscriptions.
type Digest struct {
	Weekday       string         `toml:"weekday"`
	Time          string         `toml:"time"`
	Timezone      string         `toml:"timezone"`
	Subscriptions []Subscription `toml:"subscription"`

	Day      time.Weekday   `toml:"-"`
	Minute   int            `toml:"-"`
	Location *time.Location `toml:"-"`
}

// Subscription is a set of recipients and the scope they get: everything, a team, or services.
type Subscription struct {
	To       []string `toml:"to"`
	Team     string   `toml:"team"`
	Services []string `toml:"services"`
}

// CoverageTarget is the line drawn on coverage charts (an addition to the spec's keys).
type CoverageTarget struct {
	Target float64 `toml:"target"`
}

// Investment holds the investment categories (SPEC section 3): every delivered MR falls in the
// first category whose rules match it, in configuration order.
type Investment struct {
	Categories []Category `toml:"category"`
}

// Category is one investment category. An MR matches when one of its labels equals one of
// Labels (case-insensitive, whole name), its title matches one of Titles, or its source branch
// matches one of Branches. A category with no rules at all matches every MR (a catch-all).
// Rework = true makes a category match the rework MRs ([rework] rules), as the built-in
// "rework" category does.
type Category struct {
	Name     string   `toml:"name"`
	Labels   []string `toml:"labels"`
	Titles   []string `toml:"titles"`
	Branches []string `toml:"branches"`

	Rework         bool             `toml:"rework"`
	TitlePatterns  []*regexp.Regexp `toml:"-"`
	BranchPatterns []*regexp.Regexp `toml:"-"`
}

// Agreements are the working agreements' targets (SPEC section 3), drawn beside the figures.
type Agreements struct {
	Approvals         int     `toml:"approvals"`           // at least this many approvals before merge; default 1
	TechDebtShare     float64 `toml:"tech_debt_share"`     // target share of tech-debt MRs; default 0.20
	TechDebtTolerance float64 `toml:"tech_debt_tolerance"` // "near": within this of the target; default 0.05
	CycleTimeP50      string  `toml:"cycle_time_p50"`      // optional, a Go duration such as "48h"
	// AllowedBreaks is the share of MRs (approvals) or deployments (deploy window) that may
	// break an agreement while it still holds; default 0.05, 0 for none at all.
	AllowedBreaks *float64 `toml:"allowed_breaks"`

	CycleTime time.Duration `toml:"-"` // CycleTimeP50 parsed; 0 when not set
}

// Display is how figures are shown.
type Display struct {
	// SmallSample: a change computed on fewer items than this is shown muted, neither good nor
	// bad (cards, digest); default 20, 1 to colour every change.
	SmallSample int `toml:"small_sample"`
}

// Auth is how people sign in (SPEC section 10). With no [auth] section Mode is empty: the
// dashboard is open, and pacer serve listens on loopback only.
type Auth struct {
	Mode     string `toml:"mode"`      // gitlab | none; empty: no [auth] section
	ClientID string `toml:"client_id"` // the OAuth application's id in GitLab
	// SessionIdle ends a session nobody used for this long; SessionMax ends any session this
	// long after sign-in. Go durations; defaults 12h and 168h (7 days).
	SessionIdle string `toml:"session_idle"`
	SessionMax  string `toml:"session_max"`

	Secret   string        `toml:"-"` // from PACER_OAUTH_SECRET only
	declared bool          // an [auth] table is in the file
	Idle     time.Duration `toml:"-"`
	Max      time.Duration `toml:"-"`
}

// Privacy says what the dashboard shows about individual people.
type Privacy struct {
	// Authors, when false, hides the per-person views (/authors/…, the MR list's author=
	// filter) and the author names in lists and aggregates. Many organisations forbid ranking
	// individuals; default true.
	Authors *bool `toml:"authors"`
}

// ShowAuthors says whether pages may name authors and show per-person views.
func (p Privacy) ShowAuthors() bool { return p.Authors == nil || *p.Authors }

// Auth modes.
const (
	AuthGitLab = "gitlab"
	AuthNone   = "none"
)

// SignIn says whether people sign in with GitLab.
func (a Auth) SignIn() bool { return a.Mode == AuthGitLab }

// Default session lifetimes.
const (
	DefaultSessionIdle = 12 * time.Hour
	DefaultSessionMax  = 7 * 24 * time.Hour
)

// TechDebtCategory is the name of the investment category the tech-debt share counts. A
// configured category counts when its name is this, ignoring case, spaces, '-' and '_'.
const TechDebtCategory = "tech debt"

// IsTechDebt says whether a category name is the tech-debt category.
func IsTechDebt(name string) bool {
	norm := strings.NewReplacer(" ", "", "-", "", "_", "").Replace(strings.ToLower(name))
	return norm == "techdebt"
}

// Default investment rules (SPEC section 3), used when the config names no category.
var (
	DefaultTechDebtLabels   = []string{"tech-debt", "technical-debt", "tech debt", "refactor", "refactoring", "maintenance", "chore", "dependencies"}
	DefaultTechDebtTitles   = []string{`(?i)^(refactor|chore|build|ci|deps)(\(.+\))?!?:`}
	DefaultTechDebtBranches = []string{`^(refactor|chore|deps|maintenance)[/-]`}
)

// Defaults of the spec.
var (
	DefaultProductionPattern = `^(production|prod)(/|$)`
	DefaultReworkLabels      = []string{"hotfix", "bug", "incident", "regression", "revert", "rollback"}
	DefaultReworkTitles      = []string{`(?i)^(revert|hotfix)`}
	DefaultReworkBranches    = []string{`(?i)^(hotfix|revert)[/-]`}
)

// Default is the configuration used when no file is given.
func Default() *Config {
	c := &Config{}
	c.resolveWith(func(key, msg string) { panic("config: default " + key + ": " + msg) })
	return c
}

// Load reads and validates the file at path. All problems are reported at once; each names the
// key, its line and what would be accepted.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a configuration given as bytes; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	c := &Config{}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("config: %s:%d: %s", name, perr.Position.Line, perr.Message)
		}
		if m := typeMismatch.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("config: %s:%s: %s: %s where %s is expected (see docs/configuration.md)",
				name, m[1], m[2], tomlTypeName(m[3]), tomlTypeName(m[4]))
		}
		return nil, fmt.Errorf("config: %s: %v", name, err)
	}
	lines := keyLines(data)
	var errs []string
	for _, k := range md.Undecoded() {
		hint := "see docs/configuration.md for the keys Pacer reads"
		switch last := strings.ToLower(k[len(k)-1]); {
		case strings.Contains(last, "password"):
			hint = "the SMTP password is read only from the environment: set PACER_SMTP_PASSWORD"
		case strings.Contains(last, "token"):
			hint = "the GitLab token is read only from the environment: set PACER_GITLAB_TOKEN"
		case strings.Contains(last, "secret"):
			hint = "the OAuth client secret is read only from the environment: set PACER_OAUTH_SECRET"
		}
		errs = append(errs, fmt.Sprintf("%s:%d: unknown key %q (%s)", name, lines.find(k), k.String(), hint))
	}
	c.Auth.declared = md.IsDefined("auth")
	c.resolveWith(func(key, msg string) {
		errs = append(errs, fmt.Sprintf("%s:%d: %s: %s", name, lines.findName(key), key, msg))
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %s", strings.Join(errs, "; "))
	}
	c.Name, c.Source = name, append([]byte(nil), data...)
	return c, nil
}

// resolveWith fills defaults and compiled fields; bad values are reported through bad.
func (c *Config) resolveWith(bad func(key, msg string)) {
	c.Location = time.UTC
	switch c.API = strings.ToLower(strings.TrimSpace(c.API)); c.API {
	case "":
		c.API = "auto"
	case "auto", "rest", "graphql":
	default:
		bad("api", fmt.Sprintf("%q is not an API (use auto, rest or graphql)", c.API))
	}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			bad("timezone", fmt.Sprintf("unknown time zone %q (use an IANA name such as \"Europe/Malta\")", c.Timezone))
		} else {
			c.Location = loc
		}
	}
	if c.Production.Environments == "" {
		c.Production.Environments = DefaultProductionPattern
	}
	if re, err := regexp.Compile(c.Production.Environments); err != nil {
		bad("production.environments", fmt.Sprintf("not a regular expression: %v", err))
	} else {
		c.Production.Pattern = re
	}

	seen := map[string]bool{}
	grouped := map[string]string{}  // project -> the service grouping it
	splitEnv := map[string]string{} // project + "\x00" + environment -> the service split out
	for i, s := range c.Services {
		key := fmt.Sprintf("service[%d]", i)
		if strings.TrimSpace(s.Name) == "" {
			bad(key+".name", "a service needs a name")
		} else if seen[s.Name] {
			bad(key+".name", fmt.Sprintf("service %q is named twice", s.Name))
		} else if s.Name == "all" {
			// Figures name the aggregate of every service "all", and --service all means everything.
			bad(key+".name", `"all" is reserved for the figures of every service together (choose another name)`)
		}
		seen[s.Name] = true
		if len(s.Projects) == 0 {
			bad(key+".projects", "a service needs at least one project path, such as \"acme/payments-api\"")
		}
		if len(s.Environments) > 0 && len(s.Projects) != 1 {
			bad(key+".environments", "a service split by environment takes exactly one project (the monorepo)")
		}
		// One owner per project and per monorepo environment: otherwise items would go to one
		// of the services without saying which.
		if len(s.Environments) == 0 {
			for _, p := range s.Projects {
				if other, ok := grouped[p]; ok && other != s.Name {
					bad(key+".projects", fmt.Sprintf("project %q is already in service %q (a project belongs to one service; split a monorepo with environments)", p, other))
				} else if !ok {
					grouped[p] = s.Name
				}
			}
		} else if len(s.Projects) == 1 {
			for _, env := range s.Environments {
				k := s.Projects[0] + "\x00" + env
				if other, ok := splitEnv[k]; ok && other != s.Name {
					bad(key+".environments", fmt.Sprintf("environment %q of %s is already service %q (an environment belongs to one service)", env, s.Projects[0], other))
				} else if !ok {
					splitEnv[k] = s.Name
				}
			}
		}
	}
	teams := map[string]bool{}
	for i, t := range c.Teams {
		key := fmt.Sprintf("team[%d]", i)
		if strings.TrimSpace(t.Name) == "" {
			bad(key+".name", "a team needs a name")
		} else if teams[t.Name] {
			bad(key+".name", fmt.Sprintf("team %q is named twice", t.Name))
		}
		teams[t.Name] = true
		if len(t.Services) == 0 && len(t.Authors) == 0 {
			bad(key, "a team needs services or authors")
		}
	}

	if c.Rework.Labels == nil {
		c.Rework.Labels = DefaultReworkLabels
	}
	if c.Rework.Titles == nil {
		c.Rework.Titles = DefaultReworkTitles
	}
	if c.Rework.Branches == nil {
		c.Rework.Branches = DefaultReworkBranches
	}
	c.Rework.TitlePatterns = compileAll(c.Rework.Titles, "rework.titles", bad)
	c.Rework.BranchPatterns = compileAll(c.Rework.Branches, "rework.branches", bad)

	if w := c.DeployWindow; w != nil {
		w.Weekdays = map[time.Weekday]bool{}
		if len(w.Days) == 0 {
			w.Days = []string{"mon", "tue", "wed", "thu", "fri"}
		}
		for _, d := range w.Days {
			wd, ok := ParseWeekday(d)
			if !ok {
				bad("deploy_window.days", fmt.Sprintf("%q is not a weekday (use mon, tue, wed, thu, fri, sat, sun)", d))
				continue
			}
			w.Weekdays[wd] = true
		}
		if w.Start == "" {
			w.Start = "09:00"
		}
		if w.End == "" {
			w.End = "17:30"
		}
		var ok bool
		if w.StartMinute, ok = ParseClock(w.Start); !ok {
			bad("deploy_window.start", fmt.Sprintf("%q is not a time of day (use HH:MM, such as \"09:00\")", w.Start))
		}
		if w.EndMinute, ok = ParseClock(w.End); !ok {
			bad("deploy_window.end", fmt.Sprintf("%q is not a time of day (use HH:MM, such as \"17:30\")", w.End))
		}
		if w.EndMinute <= w.StartMinute && w.Start != "" && w.End != "" {
			bad("deploy_window.end", fmt.Sprintf("%s is not after start %s", w.End, w.Start))
		}
		w.Location = c.Location
		if w.Timezone != "" {
			loc, err := time.LoadLocation(w.Timezone)
			if err != nil {
				bad("deploy_window.timezone", fmt.Sprintf("unknown time zone %q (use an IANA name such as \"Europe/Paris\")", w.Timezone))
			} else {
				w.Location = loc
			}
		}
	}

	switch c.SMTP.TLS {
	case "":
		c.SMTP.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		bad("smtp.tls", fmt.Sprintf("%q is not a TLS mode (use starttls, tls or none)", c.SMTP.TLS))
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.TLS {
		case "tls":
			c.SMTP.Port = 465
		case "none":
			c.SMTP.Port = 25
		default:
			c.SMTP.Port = 587
		}
	} else if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		bad("smtp.port", fmt.Sprintf("%d is not a port (1-65535)", c.SMTP.Port))
	}

	if c.Digest.Weekday == "" {
		c.Digest.Weekday = "mon"
	}
	if c.Digest.Time == "" {
		c.Digest.Time = "08:00"
	}
	if d, ok := ParseWeekday(c.Digest.Weekday); ok {
		c.Digest.Day = d
	} else {
		bad("digest.weekday", fmt.Sprintf("%q is not a weekday (use mon, tue, wed, thu, fri, sat, sun)", c.Digest.Weekday))
	}
	if m, ok := ParseClock(c.Digest.Time); ok {
		c.Digest.Minute = m
	} else {
		bad("digest.time", fmt.Sprintf("%q is not a time of day (use HH:MM, such as \"08:00\")", c.Digest.Time))
	}
	c.Digest.Location = c.Location
	if c.Digest.Timezone != "" {
		loc, err := time.LoadLocation(c.Digest.Timezone)
		if err != nil {
			bad("digest.timezone", fmt.Sprintf("unknown time zone %q", c.Digest.Timezone))
		} else {
			c.Digest.Location = loc
		}
	}
	for i, s := range c.Digest.Subscriptions {
		key := fmt.Sprintf("digest.subscription[%d]", i)
		if len(s.To) == 0 {
			bad(key+".to", "a subscription needs at least one recipient address")
		}
		for _, a := range s.To {
			if !strings.Contains(a, "@") {
				bad(key+".to", fmt.Sprintf("%q is not an email address", a))
			}
		}
		if s.Team != "" && !teams[s.Team] {
			bad(key+".team", fmt.Sprintf("no [[team]] is named %q", s.Team))
		}
		if s.Team != "" && len(s.Services) > 0 {
			bad(key, "give a team or services, not both")
		}
	}
	c.resolveInvestment(bad)
	c.resolveAuth(bad)
	if c.Coverage.Target == 0 {
		c.Coverage.Target = 90
	} else if c.Coverage.Target < 0 || c.Coverage.Target > 100 {
		bad("coverage.target", fmt.Sprintf("%v is not a percentage (0-100)", c.Coverage.Target))
	}
}

// resolveInvestment fills the built-in categories when none is configured, compiles the rules
// and checks the agreements' targets.
func (c *Config) resolveInvestment(bad func(key, msg string)) {
	if len(c.Investment.Categories) == 0 {
		c.Investment.Categories = []Category{
			{Name: "rework", Rework: true},
			{Name: TechDebtCategory, Labels: DefaultTechDebtLabels, Titles: DefaultTechDebtTitles, Branches: DefaultTechDebtBranches},
			{Name: "feature"},
		}
	}
	seen := map[string]bool{}
	for i := range c.Investment.Categories {
		cat := &c.Investment.Categories[i]
		key := fmt.Sprintf("investment.category[%d]", i)
		name := strings.TrimSpace(cat.Name)
		switch {
		case name == "":
			bad(key+".name", "a category needs a name, such as \"tech debt\"")
		case seen[strings.ToLower(name)]:
			bad(key+".name", fmt.Sprintf("category %q is named twice", cat.Name))
		}
		seen[strings.ToLower(name)] = true
		cat.TitlePatterns = compileAll(cat.Titles, key+".titles", bad)
		cat.BranchPatterns = compileAll(cat.Branches, key+".branches", bad)
	}
	// Every delivered MR falls in exactly one category: without a catch-all (a category with no
	// rules), the MRs no rule matches go to "other".
	catchAll := false
	for _, cat := range c.Investment.Categories {
		if !cat.Rework && len(cat.Labels) == 0 && len(cat.Titles) == 0 && len(cat.Branches) == 0 {
			catchAll = true
		}
	}
	if !catchAll && !seen["other"] {
		c.Investment.Categories = append(c.Investment.Categories, Category{Name: "other"})
	}
	a := &c.Agreements
	if a.Approvals == 0 {
		a.Approvals = 1
	} else if a.Approvals < 0 || a.Approvals > 20 {
		bad("agreements.approvals", fmt.Sprintf("%d is not a number of approvals (use 1 to 20)", a.Approvals))
	}
	if a.TechDebtShare == 0 {
		a.TechDebtShare = 0.20
	} else if a.TechDebtShare < 0 || a.TechDebtShare > 1 {
		bad("agreements.tech_debt_share", fmt.Sprintf("%v is not a share (use a decimal between 0 and 1, such as 0.20)", a.TechDebtShare))
	}
	if a.TechDebtTolerance == 0 {
		a.TechDebtTolerance = 0.05
	} else if a.TechDebtTolerance < 0 || a.TechDebtTolerance > 1 {
		bad("agreements.tech_debt_tolerance", fmt.Sprintf("%v is not a share (use a decimal between 0 and 1, such as 0.05)", a.TechDebtTolerance))
	}
	if a.AllowedBreaks == nil {
		v := 0.05
		a.AllowedBreaks = &v
	} else if *a.AllowedBreaks < 0 || *a.AllowedBreaks > 1 {
		bad("agreements.allowed_breaks", fmt.Sprintf("%v is not a share (use a decimal between 0 and 1, such as 0.05)", *a.AllowedBreaks))
	}
	if a.CycleTimeP50 != "" {
		d, err := time.ParseDuration(a.CycleTimeP50)
		if err != nil || d <= 0 {
			bad("agreements.cycle_time_p50", fmt.Sprintf("%q is not a positive duration (use hours and minutes, such as \"48h\" or \"36h30m\")", a.CycleTimeP50))
		} else {
			a.CycleTime = d
		}
	}
	if c.Display.SmallSample == 0 {
		c.Display.SmallSample = DefaultSmallSample
	} else if c.Display.SmallSample < 0 || c.Display.SmallSample > 100000 {
		bad("display.small_sample", fmt.Sprintf("%d is not a number of items (use 1 to 100000; 1 colours every change)", c.Display.SmallSample))
	}
}

// DefaultSmallSample is the n under which a change is shown muted.
const DefaultSmallSample = 20

// resolveAuth checks [auth]: a mode, and for sign-in with GitLab the client id, the GitLab URL
// and the base URL the callback is derived from.
func (c *Config) resolveAuth(bad func(key, msg string)) {
	a := &c.Auth
	switch a.Mode {
	case "":
		if a.ClientID != "" {
			a.Mode = AuthGitLab
		} else if a.declared {
			bad("auth.mode", `[auth] needs a mode: "gitlab" (sign in with GitLab) or "none" (an open dashboard)`)
		}
	case AuthGitLab, AuthNone:
	default:
		bad("auth.mode", fmt.Sprintf("%q is not a sign-in mode (use \"gitlab\" or \"none\")", a.Mode))
	}
	if a.Mode == AuthGitLab {
		if strings.TrimSpace(a.ClientID) == "" {
			bad("auth.client_id", "sign-in with GitLab needs the OAuth application's id (GitLab: User settings > Applications; see docs/operations.md)")
		}
		if c.GitLabURL == "" {
			bad("auth.mode", "sign-in with GitLab needs gitlab_url, the GitLab people sign in with")
		}
		if c.BaseURL == "" {
			bad("auth.mode", "sign-in with GitLab needs base_url, the address people open Pacer at (the callback is base_url/auth/callback)")
		}
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("base_url", fmt.Sprintf("%q is not the address of a web server (use one such as \"https://pacer.example.com\")", c.BaseURL))
		}
	}
	a.Idle, a.Max = DefaultSessionIdle, DefaultSessionMax
	for _, d := range []struct {
		key, val string
		to       *time.Duration
	}{{"auth.session_idle", a.SessionIdle, &a.Idle}, {"auth.session_max", a.SessionMax, &a.Max}} {
		if d.val == "" {
			continue
		}
		v, err := time.ParseDuration(d.val)
		if err != nil || v < time.Minute {
			bad(d.key, fmt.Sprintf("%q is not a duration of a minute or more (use hours and minutes, such as \"12h\" or \"168h\")", d.val))
			continue
		}
		*d.to = v
	}
	if a.Idle > a.Max && a.SessionIdle != "" {
		bad("auth.session_idle", fmt.Sprintf("%s is longer than session_max %s", a.Idle, a.Max))
	}
}

func compileAll(exprs []string, key string, bad func(key, msg string)) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			bad(key, fmt.Sprintf("%q is not a regular expression: %v", e, err))
			continue
		}
		out = append(out, re)
	}
	return out
}

// typeMismatch matches the TOML decoder's message for a value of the wrong type.
var typeMismatch = regexp.MustCompile(`line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type ([\w.\[\]]+); destination has type ([\w.\[\]]+)`)

// tomlTypeName says a TOML or Go type the way the configuration docs do.
func tomlTypeName(t string) string {
	switch {
	case strings.Contains(t, "slice") || strings.HasPrefix(t, "[]") || strings.Contains(t, "array"):
		return "a list such as [\"a\", \"b\"]"
	case strings.Contains(t, "string"):
		return "a string in quotes"
	case strings.Contains(t, "int"):
		return "a whole number"
	case strings.Contains(t, "float"):
		return "a number"
	case strings.Contains(t, "bool"):
		return "true or false"
	case strings.Contains(t, "map") || strings.Contains(t, "struct") || strings.Contains(t, "table"):
		return "a table"
	}
	return t
}

// ParseWeekday reads mon..sun (or full English names), case-insensitively.
func ParseWeekday(s string) (time.Weekday, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}

// ParseClock reads HH:MM into minutes after midnight.
func ParseClock(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// lineIndex remembers where each key and table header stands in the file, for messages.
type lineIndex struct {
	lines []string
}

func keyLines(data []byte) lineIndex {
	var li lineIndex
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		li.lines = append(li.lines, sc.Text())
	}
	return li
}

// find returns the line of a fully-qualified key, looking for its last part after its table.
func (li lineIndex) find(k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	table := strings.Join(k[:len(k)-1], ".")
	last := k[len(k)-1]
	inTable := table == ""
	for i, l := range li.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			h := strings.Trim(t, "[] ")
			if j := strings.Index(h, "]"); j >= 0 {
				h = h[:j]
			}
			inTable = h == table
			if h == strings.Join(k, ".") {
				return i + 1
			}
			continue
		}
		if inTable && keyOf(t) == last {
			return i + 1
		}
	}
	return 0
}

// findName returns the line of a key given as "key", "table.key", "table[i].key" (in the
// i-th [[table]]) or "table[i]" (that table's header). A key missing from its table gives the
// table's header line.
func (li lineIndex) findName(key string) int {
	table, last, index := "", key, -1
	if close := strings.LastIndex(key, "]"); close >= 0 {
		if open := strings.LastIndex(key[:close], "["); open >= 0 {
			table, last = key[:open], strings.TrimPrefix(key[close+1:], ".")
			if n, err := strconv.Atoi(key[open+1 : close]); err == nil {
				index = n
			}
		}
	} else if dot := strings.LastIndex(key, "."); dot >= 0 {
		table, last = key[:dot], key[dot+1:]
	}
	inTable := table == ""
	seen, header := -1, 0
	for i, l := range li.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			h, _, _ := strings.Cut(t, "#")
			inTable = strings.Trim(strings.TrimSpace(h), "[] ") == table
			if inTable && index >= 0 {
				seen++
				inTable = seen == index
			}
			if inTable {
				header = i + 1
				if last == "" {
					return header
				}
			}
			continue
		}
		if inTable && last != "" && keyOf(t) == last {
			return i + 1
		}
	}
	return header
}

func keyOf(line string) string {
	k, _, ok := strings.Cut(line, "=")
	if !ok {
		return ""
	}
	return strings.Trim(strings.TrimSpace(k), `"`)
}
