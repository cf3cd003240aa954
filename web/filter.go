package web

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// preset is a named range ending today: the last N ISO weeks, calendar months or calendar
// quarters (the current one included).
type preset struct {
	key, label string
	n          int
	unit       metrics.Period // Week, Month or Quarter
}

var presets = []preset{
	{"4w", "Last 4 weeks", 4, metrics.Week},
	{"12w", "Last 12 weeks", 12, metrics.Week},
	{"26w", "Last 26 weeks", 26, metrics.Week},
	{"52w", "Last 52 weeks", 52, metrics.Week},
	{"12m", "Last 12 months", 12, metrics.Month},
	{"4q", "Last 4 quarters", 4, metrics.Quarter},
}

const (
	defaultPreset = "12w"
	customPeriod  = "custom"
	// Ranges are bounded so that a typo (from=1026-01-01) cannot ask for centuries of buckets.
	maxRangeDays    = 5*366 + 1
	maxDayRangeDays = 400
)

// query is the dashboard filter of a request, parsed and resolved: every page, list and
// export reads the same parameters.
type query struct {
	Period   string // a preset key or "custom"
	From, To time.Time
	Services []string
	Team     string
	By       metrics.Period
	now      time.Time
	// loc is the display time zone (the config's timezone): times on pages are written in it.
	loc *time.Location
}

// Filter is the metrics filter of the query.
func (q *query) Filter() metrics.Filter {
	return metrics.Filter{From: q.From, To: q.To, Services: q.Services, Team: q.Team, By: q.By}
}

// Service is the one service asked for, or "" for every service (or several).
func (q *query) Service() string {
	if len(q.Services) == 1 {
		return q.Services[0]
	}
	return ""
}

// chosen are the services asked for when there are several (the form then offers a
// multiple choice), else nil.
func (q *query) chosen() []string {
	if len(q.Services) > 1 {
		return q.Services
	}
	return nil
}

// Days is the number of days in the range.
func (q *query) Days() int { return int(q.To.Sub(q.From).Hours()/24) + 1 }

// parseQuery reads the filter parameters; anything malformed is a 400 that names the
// parameter and what would be accepted. Unknown services and teams are checked later by the
// metrics engine (404).
func parseQuery(v url.Values, now time.Time) (*query, error) {
	q := &query{now: now, By: metrics.Week, loc: time.UTC}
	today := dateOf(now)

	switch by := v.Get("by"); by {
	case "", "week":
	case "day":
		q.By = metrics.Day
	case "month":
		q.By = metrics.Month
	case "quarter":
		q.By = metrics.Quarter
	default:
		return nil, badRequestf("by", "by=%q is not a period: use by=week, by=day, by=month or by=quarter.", truncate(by, 40))
	}

	from, err := parseDate(v, "from")
	if err != nil {
		return nil, err
	}
	to, err := parseDate(v, "to")
	if err != nil {
		return nil, err
	}

	q.Period = v.Get("period")
	switch {
	case q.Period == "":
		q.Period = defaultPreset
		if !from.IsZero() || !to.IsZero() {
			q.Period = customPeriod
		}
	case q.Period == customPeriod:
	case findPreset(q.Period) == nil:
		var keys []string
		for _, p := range presets {
			keys = append(keys, p.key)
		}
		return nil, badRequestf("period", "period=%q is not a period: use one of %s, or period=custom with from and to dates.", truncate(q.Period, 40), strings.Join(keys, ", "))
	}
	if p := findPreset(q.Period); p != nil {
		pf, pt := p.rangeAt(today)
		// The form sends the dates with the period, and "was", the period it showed. A new
		// choice of period wins over the dates; with the period unchanged, edited dates win.
		changed := v.Get("was") != "" && v.Get("was") != q.Period
		if !changed && ((!from.IsZero() && !from.Equal(pf)) || (!to.IsZero() && !to.Equal(pt))) {
			q.Period = customPeriod
		} else {
			q.From, q.To = pf, pt
		}
	}
	if q.Period == customPeriod {
		q.From, q.To = from, to
		if q.To.IsZero() {
			q.To = today
		}
		if q.From.IsZero() {
			q.From = q.To.AddDate(0, 0, -7*12+1)
		}
	}
	if q.From.After(q.To) {
		return nil, badRequestf("from", "The range is reversed: from %s is after to %s. Swap the dates.", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly))
	}
	if d := q.Days(); d > maxRangeDays {
		return nil, badRequestf("from", "The range from %s to %s is %d days long; Pacer shows at most five years at a time.", q.From.Format(time.DateOnly), q.To.Format(time.DateOnly), d)
	}
	if q.By == metrics.Day && q.Days() > maxDayRangeDays {
		return nil, badRequestf("by", "A daily view covers at most %d days, and this range has %d: choose by=week, by=month or a shorter range.", maxDayRangeDays, q.Days())
	}

	seen := map[string]bool{}
	for _, s := range v["service"] {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		if len(s) > maxNameLen {
			return nil, badRequestf("service", "service=%.40q… is too long to be a service name.", s)
		}
		seen[s] = true
		q.Services = append(q.Services, s)
	}
	q.Team = strings.TrimSpace(v.Get("team"))
	if len(q.Team) > maxNameLen {
		// Checked here, so that the unknown-team message does not repeat it whole.
		return nil, badRequestf("team", "team=%.40q… is too long to be a team name.", q.Team)
	}
	return q, nil
}

// requestQuery is the request's filter, with the display time zone of the configuration.
func requestQuery(c *echo.Context) (*query, error) {
	q, err := parseQuery(c.Request().URL.Query(), engineOf(c).Now())
	if err != nil {
		return nil, err
	}
	q.loc = displayZone(c)
	return q, nil
}

// maxNameLen bounds a service or team name in a request; longer is a mistake or an attack.
const maxNameLen = 400

func findPreset(key string) *preset {
	for i := range presets {
		if presets[i].key == key {
			return &presets[i]
		}
	}
	return nil
}

// rangeAt is the preset's range for a range ending on today: from the start of the week,
// month or quarter n-1 periods before the current one, through today.
func (p preset) rangeAt(today time.Time) (from, to time.Time) {
	_, start := metrics.PeriodKey(today, p.unit)
	switch p.unit {
	case metrics.Month:
		return start.AddDate(0, -(p.n - 1), 0), today
	case metrics.Quarter:
		return start.AddDate(0, -3*(p.n-1), 0), today
	}
	return start.AddDate(0, 0, -7*(p.n-1)), today
}

func parseDate(v url.Values, key string) (time.Time, error) {
	s := strings.TrimSpace(v.Get(key))
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1970 || t.Year() > 9999 {
		return time.Time{}, badRequestf(key, "%s=%q is not a date: use YYYY-MM-DD, for example %s=2026-03-02.", key, truncate(s, 40), key)
	}
	return t, nil
}

func dateOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Values are the canonical URL parameters of the query: a preset needs no dates.
func (q *query) Values() url.Values {
	v := url.Values{}
	v.Set("period", q.Period)
	if q.Period == customPeriod {
		v.Set("from", q.From.Format(time.DateOnly))
		v.Set("to", q.To.Format(time.DateOnly))
	}
	for _, s := range q.Services {
		v.Add("service", s)
	}
	if q.Team != "" {
		v.Set("team", q.Team)
	}
	if q.By != metrics.Week {
		v.Set("by", string(q.By))
	}
	return v
}

// Encode is the canonical query string.
func (q *query) Encode() string { return q.Values().Encode() }

// link is path with the query's filters and extra key/value pairs.
func (q *query) link(path string, kv ...string) string {
	return linkWith(path, q.Values(), kv...)
}

func linkWith(path string, v url.Values, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	if e := v.Encode(); e != "" {
		return path + "?" + e
	}
	return path
}

// withRange is a copy of the query narrowed to [from, to] (clamped to the query's range).
func (q *query) withRange(from, to time.Time) *query {
	c := *q
	c.Period = customPeriod
	if from.Before(q.From) {
		from = q.From
	}
	if to.After(q.To) {
		to = q.To
	}
	c.From, c.To = from, to
	return &c
}

// periodQuery narrows the query to the period starting at start (a week, day, month or
// quarter).
func (q *query) periodQuery(start time.Time) *query {
	return q.withRange(start, nextPeriod(start, q.By).AddDate(0, 0, -1))
}

// nextPeriod is the start of the period after the one starting at start.
func nextPeriod(start time.Time, by metrics.Period) time.Time {
	switch by {
	case metrics.Day:
		return start.AddDate(0, 0, 1)
	case metrics.Month:
		return start.AddDate(0, 1, 0)
	case metrics.Quarter:
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(0, 0, 7)
}

// location is the display time zone, UTC when none was set.
func (q *query) location() *time.Location {
	if q.loc == nil {
		return time.UTC
	}
	return q.loc
}

// withService is a copy of the query for one service.
func (q *query) withService(s string) *query {
	c := *q
	c.Services = []string{s}
	return &c
}

// RangeLabel is the range for people: "3 Aug – 26 Oct 2026".
func (q *query) RangeLabel() string {
	if q.From.Year() == q.To.Year() {
		return fmt.Sprintf("%s – %s · %s", q.From.Format("2 Jan"), q.To.Format("2 Jan 2006"), plural(q.Days(), "day", "days"))
	}
	return fmt.Sprintf("%s – %s · %s", q.From.Format("2 Jan 2006"), q.To.Format("2 Jan 2006"), plural(q.Days(), "day", "days"))
}

func plural(n int, one, many string) string { return views.Plural(n, one, many) }

// filterBar is the filter form's state for the query.
func (q *query) filterBar(action string, services, teams []string, hidden ...views.Hidden) views.FilterBar {
	return views.FilterBar{
		Action:   action,
		Period:   q.Period,
		Presets:  presetOptions(),
		From:     q.From.Format(time.DateOnly),
		To:       q.To.Format(time.DateOnly),
		Service:  q.Service(),
		Services: options(services),
		Chosen:   q.chosen(),
		Team:     q.Team,
		Teams:    options(teams),
		By:       string(q.By),
		Hidden:   hidden,
	}
}

func presetOptions() []views.Option {
	var out []views.Option
	for _, p := range presets {
		out = append(out, views.Option{Value: p.key, Label: p.label})
	}
	return append(out, views.Option{Value: customPeriod, Label: "Custom dates"})
}

func options(names []string) []views.Option {
	out := make([]views.Option, 0, len(names))
	for _, n := range names {
		out = append(out, views.Option{Value: n, Label: n})
	}
	return out
}
