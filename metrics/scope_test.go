package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestScopedEngineSeesOnlyItsProjects checks the visibility rule: a scoped engine's figures
// ("all" included), lists, CSV, coverage, services, investment and agreements cover only its
// projects, and a service outside them is unknown.
func TestScopedEngineSeesOnlyItsProjects(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/open")
	f.project(2, "acme/secret")
	f.env(10, 1, "production", "production")
	f.env(20, 2, "production", "production")
	f.mr(mrSpec{project: 1, iid: 1, title: "Visible change", author: "vera", created: at(0), merged: at(hour)})
	f.mr(mrSpec{project: 2, iid: 1, title: "Confidential change", author: "cid", created: at(0), merged: at(2 * hour)})
	f.mr(mrSpec{project: 2, iid: 2, title: "Another secret", author: "cid", created: at(0), merged: at(3 * hour)})
	f.authoredCommit(1, 1, "v1", at(-hour), "vera@example.com", "")
	f.authoredCommit(2, 1, "s1", at(-hour), "cid@example.com", "")
	f.deploy(1, 1, 10, "a", at(2*hour), 1)
	f.deploy(2, 2, 20, "b", at(4*hour), 1, 2)
	f.pipeline(1, 1, "main", "success", at(hour), 80.0)
	f.pipeline(2, 2, "main", "success", at(hour), 40.0)
	all := f.engine(nil, t0.Add(10*24*time.Hour))
	e := all.Scoped([]int64{1})
	ctx := context.Background()

	figs, err := e.Figures(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fg := range figs {
		if fg.Service != AllServices && fg.Service != "acme/open" {
			t.Errorf("figure of a hidden service: %+v", fg)
		}
	}
	for metric, want := range map[string]float64{MergedMRs: 1, Deployments: 1, CoveragePercent: 80} {
		if g := figure(t, figs, "2026-W10", AllServices, metric); g.Value != want || g.N != 1 {
			t.Errorf("all %s = %v n=%d, want %v over the visible project", metric, g.Value, g.N, want)
		}
	}
	// Both commits were authored on Sunday: one author-day is visible.
	if g := figure(t, figs, "2026-W09", AllServices, TechDebtEffort); g.N != 1 {
		t.Errorf("author-days %d, want the visible one", g.N)
	}
	var out strings.Builder
	for _, ds := range Datasets {
		if err := WriteCSV(ctx, &out, e, ds, Filter{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, hidden := range []string{"acme/secret", "Confidential", "Another secret", "cid"} {
		if strings.Contains(out.String(), hidden) {
			t.Errorf("the CSVs mention %q:\n%s", hidden, out.String())
		}
	}
	if !strings.Contains(out.String(), "Visible change") {
		t.Errorf("the visible MR is missing:\n%s", out.String())
	}
	services, err := e.Services(ctx)
	if err != nil || len(services) != 1 || services[0] != "acme/open" {
		t.Errorf("services %v %v", services, err)
	}
	var fe *FilterError
	if err := e.Validate(ctx, Filter{Services: []string{"acme/secret"}}); !errors.As(err, &fe) || strings.Contains(fe.Message, "secret\" (services") && strings.Contains(fe.Message, "acme/secret,") {
		t.Errorf("a hidden service: %v", err)
	}
	rows, err := e.Agreements(ctx, Filter{To: t0.AddDate(0, 0, 6)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Service == "acme/secret" {
			t.Errorf("agreements of a hidden service")
		}
	}
	shares, err := e.Investment(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, s := range shares {
		total += s.MRs
	}
	if total != 1 {
		t.Errorf("investment counts %d MRs, want the visible one", total)
	}
	// Nothing visible: nothing at all.
	none := all.Scoped(nil)
	if figs, err := none.Figures(ctx, Filter{}); err != nil || len(figs) != 0 {
		t.Errorf("an engine scoped to nothing has %d figures (%v)", len(figs), err)
	}
	// Narrowing a scoped engine never widens it.
	if figs, _ := e.Scoped([]int64{1, 2}).Figures(ctx, Filter{}); figure(t, figs, "2026-W10", AllServices, MergedMRs).Value != 1 {
		t.Error("a scoped engine widened")
	}
}
