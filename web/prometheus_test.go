package web

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/metrics"
)

// scrape asks for /metrics and parses the answer with Prometheus's own text parser.
func scrape(t *testing.T, f *fixture, header ...string) map[string]*dto.MetricFamily {
	t.Helper()
	rec := apiGet(f, "/metrics", header...)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, rec.Body)
	}
	return fams
}

// series is a family's values by the value of its one label (or "" for none).
func series(t *testing.T, fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	t.Helper()
	fam := fams[name]
	if fam == nil {
		return nil
	}
	if fam.GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s is a %s, want a gauge", name, fam.GetType())
	}
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		key := ""
		for _, l := range m.GetLabel() {
			if l.GetName() != label {
				t.Errorf("%s has label %s, want only %q", name, l.GetName(), label)
			}
			key = l.GetValue()
		}
		if _, dup := out[key]; dup {
			t.Errorf("%s{%s=%q} twice", name, label, key)
		}
		out[key] = m.GetGauge().GetValue()
	}
	return out
}

// /metrics parses with Prometheus's text parser and carries the process and Go metrics, each
// project's last sync as the store has it, and this ISO week's DORA figures per service with
// the engine's values.
func TestPrometheusMetrics(t *testing.T) {
	f := newFixture(t)
	// Wednesday of 2026-W10: acme/api merged four MRs and deployed twice this week.
	now := week10.AddDate(0, 0, 2).Add(12 * time.Hour)
	f.eng.SetClock(func() time.Time { return now })
	okAt, failedAt := week10.Add(6*time.Hour).Unix(), week10.Add(30*time.Hour).Unix()
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (1, ?, ?, ?, '', 42)`, okAt-60, okAt, okAt)
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (2, ?, ?, ?, 'gitlab: 502', 7)`, failedAt-60, failedAt, okAt)

	fams := scrape(t, f)
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_start_time_seconds", "go_sql_open_connections"} {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// Sync, per project.
	for name, want := range map[string]map[string]float64{
		"pacer_sync_last_start_timestamp_seconds":   {"acme/api": float64(okAt - 60), "acme/web": float64(failedAt - 60)},
		"pacer_sync_last_finish_timestamp_seconds":  {"acme/api": float64(okAt), "acme/web": float64(failedAt)},
		"pacer_sync_last_success_timestamp_seconds": {"acme/api": float64(okAt), "acme/web": float64(okAt)},
		"pacer_sync_last_requests":                  {"acme/api": 42, "acme/web": 7},
		"pacer_sync_last_failed":                    {"acme/api": 0, "acme/web": 1},
		"pacer_sync_running":                        {"acme/api": 0, "acme/web": 0},
	} {
		got := series(t, fams, name, "project")
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		for p, v := range want {
			if got[p] != v {
				t.Errorf("%s{project=%q} = %v, want %v", name, p, got[p], v)
			}
		}
	}

	// DORA figures of the current week: exactly the engine's, by service.
	if got := series(t, fams, "pacer_week_start_timestamp_seconds", ""); got[""] != float64(week10.Unix()) {
		t.Errorf("pacer_week_start_timestamp_seconds = %v, want %d", got, week10.Unix())
	}
	figs, err := f.eng.Figures(context.Background(), metrics.Filter{From: week10, To: now, By: metrics.Week})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]float64{}
	for _, g := range doraGauges {
		want["pacer_"+g.metric] = map[string]float64{}
	}
	for _, fig := range figs {
		if w := want["pacer_"+fig.Metric]; w != nil {
			w[fig.Service] = fig.Value
		}
	}
	for name, w := range want {
		got := series(t, fams, name, "service")
		if len(got) != len(w) {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
		for s, v := range w {
			if g, ok := got[s]; !ok || g != v {
				t.Errorf("%s{service=%q} = %v, want %v", name, s, g, v)
			}
		}
	}
	// Known by construction: two deployments, one a change failure recovered in 2 hours,
	// coverage 81.5%; acme/web did nothing this week.
	for name, w := range map[string]map[string]float64{
		"pacer_deployments":               {"all": 2, "acme/api": 2},
		"pacer_change_failure_rate":       {"all": 0.5, "acme/api": 0.5},
		"pacer_recovery_time_p50_seconds": {"all": 7200, "acme/api": 7200},
		"pacer_coverage_percent":          {"all": 81.5, "acme/api": 81.5},
		"pacer_cycle_time_p50_seconds":    {}, // the values are checked against the engine above
		"pacer_deploys_per_day":           {},
		"pacer_rework_rate":               {},
	} {
		got := series(t, fams, name, "service")
		if len(got) == 0 {
			t.Errorf("/metrics lacks %s", name)
		}
		for s, v := range w {
			if got[s] != v {
				t.Errorf("%s{service=%q} = %v, want %v", name, s, got[s], v)
			}
		}
		if _, ok := got["acme/web"]; ok {
			t.Errorf("%s has a series for acme/web, which did nothing this week", name)
		}
	}
	for name, fam := range fams {
		if strings.HasPrefix(name, "pacer_") && fam.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
}

// /metrics follows the API's access rules: open without sign-in; with sign-in, a machine
// token (or a session) and only what it may see; 401 otherwise.
func TestPrometheusVisibility(t *testing.T) {
	f, cookie := signedInFixture(t)
	f.eng.SetClock(func() time.Time { return week10.AddDate(0, 0, 11) }) // Friday of W11: acme/web and acme/secret deployed
	if rec := apiGet(f, "/metrics"); rec.Code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token, sign-in on: %d", rec.Code)
	}
	if rec := apiGet(f, "/metrics", "Authorization", "Bearer pacer_nonsense"); rec.Code != http.StatusUnauthorized {
		t.Errorf("/metrics with a bad token: %d", rec.Code)
	}
	a := auth.New(auth.Options{Store: f.st, Config: f.cfg})
	ctx := context.Background()
	apiOnly, err := a.CreateToken(ctx, "prom-api", []string{"acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	everything, err := a.CreateToken(ctx, "prom-all", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range [][]string{{"Authorization", "Bearer " + apiOnly}, {"Cookie", cookie.Name + "=" + cookie.Value}} {
		rec := apiGet(f, "/metrics", h...)
		if rec.Code != http.StatusOK {
			t.Fatalf("/metrics %s: %d", h[0], rec.Code)
		}
		for _, w := range invisible {
			if strings.Contains(rec.Body.String(), w) {
				t.Errorf("/metrics %s mentions %q", h[0], w)
			}
		}
		if !strings.Contains(rec.Body.String(), `pacer_sync_last_success_timestamp_seconds{project="acme/api"}`) {
			t.Errorf("/metrics %s lacks acme/api's sync", h[0])
		}
	}
	all := scrape(t, f, "Authorization", "Bearer "+everything)
	if got := series(t, all, "pacer_deployments", "service"); got["acme/secret"] != 1 || got["all"] != 2 {
		t.Errorf("pacer_deployments with a token for everything: %v", got)
	}
}

// The metric names are documented, and the Grafana dashboard charts only names /metrics has.
func TestPrometheusNamesAreDocumentedAndCharted(t *testing.T) {
	f := newFixture(t)
	f.eng.SetClock(func() time.Time { return week10.AddDate(0, 0, 2) })
	f.exec(`INSERT INTO project_syncs(project_id, started_at, finished_at, ok_at, error, requests) VALUES (1, 1, 2, 2, '', 1)`)
	fams := scrape(t, f)
	ops, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range fams {
		if strings.HasPrefix(name, "pacer_") && !strings.Contains(string(ops), "`"+name+"`") {
			t.Errorf("docs/operations.md does not list %s", name)
		}
	}
	dash, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	charted := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`pacer_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				charted[name] = true
				if fams[name] == nil {
					t.Errorf("panel %q charts %s, which /metrics does not have", p.Title, name)
				}
			}
		}
	}
	for _, name := range []string{"pacer_deploys_per_day", "pacer_cycle_time_p50_seconds", "pacer_change_failure_rate",
		"pacer_recovery_time_p50_seconds", "pacer_coverage_percent", "pacer_sync_last_success_timestamp_seconds"} {
		if !charted[name] {
			t.Errorf("the Grafana dashboard does not chart %s", name)
		}
	}
}
