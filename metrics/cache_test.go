package metrics

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"
)

// Identical questions asked at once are computed once, a repeated question is answered from
// the cache, another visibility or filter is computed apart, and a refresh that changes the
// facts starts afresh.
func TestFiguresComputedOncePerGeneration(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.project(2, "acme/web")
	f.env(10, 1, "production", "production")
	f.mr(mrSpec{project: 1, iid: 1, created: at(0), merged: at(hour)})
	f.mr(mrSpec{project: 2, iid: 1, created: at(0), merged: at(2 * hour)})
	f.deploy(1, 1, 10, "a", at(3*hour), 1)
	e := f.engine(nil, t0.Add(10*24*time.Hour))
	ctx := context.Background()
	runs := func() int64 { return e.shared.figures.runs.Load() }

	var wg sync.WaitGroup
	results := make([][]Figure, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			figs, err := e.Figures(ctx, Filter{})
			if err != nil {
				t.Error(err)
			}
			results[i] = figs
		}()
	}
	wg.Wait()
	if n := runs(); n < 1 || n > 2 { // one, or two if the first finished before the last began
		t.Errorf("20 identical questions ran %d computations", n)
	}
	for _, r := range results[1:] {
		if !reflect.DeepEqual(r, results[0]) {
			t.Fatal("concurrent answers differ")
		}
	}
	before := runs()
	if _, err := e.Figures(ctx, Filter{}); err != nil || runs() != before {
		t.Errorf("a repeated question was computed again (%v)", err)
	}
	scoped, err := e.Scoped([]int64{1}).Figures(ctx, Filter{})
	if err != nil || runs() != before+1 {
		t.Errorf("a scoped question was answered from the unscoped cache (%v)", err)
	}
	if g := figure(t, scoped, "2026-W10", AllServices, MergedMRs); g.Value != 1 {
		t.Errorf("scoped merged_mrs %v", g.Value)
	}
	// A change and a refresh: a new generation, computed afresh.
	f.mr(mrSpec{project: 2, iid: 2, created: at(0), merged: at(4 * hour)})
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	figs, err := e.Figures(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, "2026-W10", AllServices, MergedMRs); g.Value != 3 {
		t.Errorf("after the refresh merged_mrs %v, want 3", g.Value)
	}
}
