package web

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseQueryPresetsAndDates(t *testing.T) {
	now := time.Date(2026, 3, 25, 15, 4, 0, 0, time.UTC) // a Wednesday
	cases := []struct {
		query, period, from, to string
		by                      metrics.Period
		canonical               string
	}{
		// The default: the last 12 ISO weeks, this one included, through today.
		{"", "12w", "2026-01-05", "2026-03-25", metrics.Week, "period=12w"},
		{"period=4w", "4w", "2026-03-02", "2026-03-25", metrics.Week, "period=4w"},
		{"period=52w&by=day&service=a&service=b&service=a&team=t", "52w", "2025-03-31", "2026-03-25", metrics.Day, "by=day&period=52w&service=a&service=b&team=t"},
		// Dates without a period are a custom range; a missing from is 12 weeks before to.
		{"from=2026-02-01&to=2026-02-28", "custom", "2026-02-01", "2026-02-28", metrics.Week, "from=2026-02-01&period=custom&to=2026-02-28"},
		{"period=custom&to=2026-02-28", "custom", "2025-12-07", "2026-02-28", metrics.Week, "from=2025-12-07&period=custom&to=2026-02-28"},
		// The form sends the preset's own dates: still the preset.
		{"period=4w&from=2026-03-02&to=2026-03-25&was=4w", "4w", "2026-03-02", "2026-03-25", metrics.Week, "period=4w"},
		// The user edited a date and left the period alone: the dates win.
		{"period=4w&from=2026-03-09&to=2026-03-25&was=4w", "custom", "2026-03-09", "2026-03-25", metrics.Week, "from=2026-03-09&period=custom&to=2026-03-25"},
		// The user picked another period; the old dates in the form are ignored.
		{"period=26w&from=2026-03-02&to=2026-03-25&was=4w", "26w", "2025-09-29", "2026-03-25", metrics.Week, "period=26w"},
		{"period=custom&from=2026-03-02&to=2026-03-25&was=4w", "custom", "2026-03-02", "2026-03-25", metrics.Week, "from=2026-03-02&period=custom&to=2026-03-25"},
	}
	for _, c := range cases {
		v, _ := url.ParseQuery(c.query)
		q, err := parseQuery(v, now)
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if q.Period != c.period || !q.From.Equal(day(c.from)) || !q.To.Equal(day(c.to)) || q.By != c.by {
			t.Errorf("%q: got %s %s..%s by %s, want %s %s..%s by %s", c.query, q.Period, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly), q.By,
				c.period, c.from, c.to, c.by)
		}
		if got := q.Encode(); got != c.canonical {
			t.Errorf("%q: canonical %q, want %q", c.query, got, c.canonical)
		}
		// The canonical query reads back to the same filter.
		back, err := parseQuery(q.Values(), now)
		if err != nil || back.Encode() != q.Encode() || !back.From.Equal(q.From) || !back.To.Equal(q.To) {
			t.Errorf("%q: canonical query does not round-trip: %v", c.query, err)
		}
	}
}

func TestParseQueryErrors(t *testing.T) {
	now := time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC)
	cases := map[string]string{
		"from=2026-02-30":                      "from",
		"to=03/25/2026":                        "to",
		"from=0001-01-01":                      "from",
		"by=year":                              "by",
		"period=1y":                            "period",
		"from=2026-03-10&to=2026-03-09":        "from",
		"from=2015-01-01&to=2026-01-01":        "from",
		"by=day&from=2025-01-01&to=2026-03-01": "by",
	}
	for query, field := range cases {
		v, _ := url.ParseQuery(query)
		_, err := parseQuery(v, now)
		var ue *UserError
		if !errors.As(err, &ue) || ue.Status != 400 || ue.Field != field {
			t.Errorf("%q: got %v, want a 400 about %s", query, err, field)
		}
	}
}

func TestPeriodDrillDown(t *testing.T) {
	v, _ := url.ParseQuery("period=custom&from=2026-03-04&to=2026-03-20&service=acme/api")
	q, err := parseQuery(v, time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	fs := newFigureSet(q, nil)
	// 4 Mar is a Wednesday: the weeks are W10 (clamped to start on the 4th), W11 and W12 (to the 20th).
	if len(fs.periods) != 3 || fs.periods[0].key != "2026-W10" || fs.periods[2].key != "2026-W12" {
		t.Fatalf("periods %+v", fs.periods)
	}
	got := q.periodQuery(fs.periods[0].start).link("/deployments", "rework", "true")
	want := "/deployments?from=2026-03-04&period=custom&rework=true&service=acme%2Fapi&to=2026-03-08"
	if got != want {
		t.Errorf("drill-down %q, want %q", got, want)
	}
	if got := q.periodQuery(fs.periods[2].start).To; !got.Equal(day("2026-03-20")) {
		t.Errorf("last period ends %s, want the range's end", got)
	}
}

func TestHeadlinePeriod(t *testing.T) {
	now := time.Date(2026, 3, 25, 10, 0, 0, 0, time.UTC) // Wednesday of W13
	v, _ := url.ParseQuery("period=4w")
	q, _ := parseQuery(v, now)
	fs := newFigureSet(q, nil)
	cur, prev := fs.headline()
	// W13 is still running: the cards show W12 against W11.
	if cur.key != "2026-W12" || prev.key != "2026-W11" {
		t.Errorf("headline %s vs %s", cur.key, prev.key)
	}
	v, _ = url.ParseQuery("period=4w&by=day")
	q, _ = parseQuery(v, now)
	cur, prev = newFigureSet(q, nil).headline()
	if cur.key != "2026-03-24" || prev.key != "2026-03-23" {
		t.Errorf("daily headline %s vs %s", cur.key, prev.key)
	}
}

func TestPooledRate(t *testing.T) {
	v, _ := url.ParseQuery("period=custom&from=2026-03-02&to=2026-03-15")
	q, _ := parseQuery(v, time.Date(2026, 3, 25, 0, 0, 0, 0, time.UTC))
	fs := newFigureSet(q, []metrics.Figure{
		{Period: "2026-W10", Service: "a", Metric: metrics.ReworkRate, Value: 0.25, N: 4},
		{Period: "2026-W11", Service: "a", Metric: metrics.ReworkRate, Value: 1.0 / 3, N: 6},
	})
	// 1 of 4 plus 2 of 6: 3 of 10.
	if r, n, ok := fs.pooledRate("a", metrics.ReworkRate); !ok || n != 10 || r != 0.3 {
		t.Errorf("pooled %v over %d (%v), want 0.3 over 10", r, n, ok)
	}
	if _, _, ok := fs.pooledRate("b", metrics.ReworkRate); ok {
		t.Error("a service without figures has a rate")
	}
}

func TestOutsideWindow(t *testing.T) {
	cfgWindow := func() *time.Location { l, _ := time.LoadLocation("Europe/Paris"); return l }()
	win := deployWindow(t, `days = ["mon"]
start = "09:00"
end = "17:00"
timezone = "Europe/Paris"`)
	cases := []struct {
		at  time.Time
		out bool
	}{
		{time.Date(2026, 3, 23, 9, 0, 0, 0, cfgWindow), false},    // Monday 09:00 Paris: the start is inside
		{time.Date(2026, 3, 23, 16, 59, 59, 0, cfgWindow), false}, // just before the end
		{time.Date(2026, 3, 23, 17, 0, 0, 0, cfgWindow), true},    // the end is outside
		{time.Date(2026, 3, 23, 8, 30, 0, 0, time.UTC), false},    // 09:30 in Paris
		{time.Date(2026, 3, 24, 10, 0, 0, 0, cfgWindow), true},    // Tuesday
	}
	for _, c := range cases {
		if got := outsideWindow(c.at, win); got != c.out {
			t.Errorf("%s: outside = %v, want %v", c.at, got, c.out)
		}
	}
	if outsideWindow(time.Now(), nil) {
		t.Error("no window: nothing is outside it")
	}
}

func TestExternalURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.example.com/a/-/merge_requests/1": "https://gitlab.example.com/a/-/merge_requests/1",
		"http://gitlab.local/x":                           "http://gitlab.local/x",
		"javascript:alert(1)":                             "",
		"data:text/html,hi":                               "",
		"//evil.example/x":                                "",
		"":                                                "",
	} {
		if got := externalURL(in); got != want {
			t.Errorf("externalURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func deployWindow(t *testing.T, body string) *config.DeployWindow {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte("[deploy_window]\n"+body+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.DeployWindow
}
