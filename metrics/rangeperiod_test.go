package metrics

import (
	"errors"
	"testing"
	"time"
)

// By Range, the whole range is one period: a percentile over every item of the range (not a
// mean of the weeks' medians), deploys per day over its days (elapsed ones, for a range still
// running), coverage at its end, and one cached computation per range.
func TestFiguresOverAWholeRange(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/a")
	f.env(10, 1, "production", "production")
	// W10: cycle times 1h, 2h, 3h; W11: 10h. The weekly medians are 2h and 10h.
	tue := 1*day + 12*hour
	for i, h := range []int64{1, 2, 3} {
		f.mr(mrSpec{project: 1, iid: int64(i + 1), created: at(tue - h*hour), merged: at(tue)})
	}
	f.mr(mrSpec{project: 1, iid: 4, created: at(7*day + tue - 10*hour), merged: at(7*day + tue)})
	f.deploy(1, 1, 10, "a", at(tue+hour))
	f.deploy(2, 1, 10, "b", at(8*day+tue))
	f.pipeline(1, 1, "main", "success", at(2*day), 70.0)
	f.pipeline(2, 1, "main", "success", at(8*day), 90.0)
	e := f.engine(nil, t0.Add(30*24*time.Hour))

	from, to := date("2026-03-02"), date("2026-03-11") // ten days, Monday W10 to Wednesday W11
	before := e.shared.figures.runs.Load()
	figs, err := e.Figures(f.ctx, Filter{From: from, To: to, By: Range})
	if err != nil {
		t.Fatal(err)
	}
	const key = "2026-03-02/2026-03-11"
	for _, fg := range figs {
		if fg.Period != key || !fg.Start.Equal(t0) {
			t.Fatalf("a figure outside the one period of the range: %+v", fg)
		}
	}
	for _, w := range []struct {
		metric string
		value  float64
		n      int
	}{
		{MergedMRs, 4, 4},
		{CycleTimeP50, 9000, 4}, // 1h 2h 3h 10h: 2.5h over the range, not (2h+10h)/2
		{Deployments, 2, 2},
		{DeploysPerDay, 0.2, 2}, // 2 over 10 days
		{CoveragePercent, 90, 1},
	} {
		for _, svc := range []string{AllServices, "acme/a"} {
			if g := figure(t, figs, key, svc, w.metric); !approx(g.Value, w.value) || g.N != w.n {
				t.Errorf("%s %s: %v n=%d, want %v n=%d", svc, w.metric, g.Value, g.N, w.value, w.n)
			}
		}
	}
	// The same question again is answered from the cache.
	if _, err := e.Figures(f.ctx, Filter{From: from, To: to, By: Range}); err != nil {
		t.Fatal(err)
	}
	if n := e.shared.figures.runs.Load() - before; n != 1 {
		t.Errorf("two identical range questions ran %d computations, want 1", n)
	}

	// A range still running: on Tuesday of W11, 9 days of the 10 have begun.
	e.SetClock(func() time.Time { return t0.Add(8*24*time.Hour + 20*time.Hour) })
	figs, err = e.Figures(f.ctx, Filter{From: from, To: to, By: Range})
	if err != nil {
		t.Fatal(err)
	}
	if g := figure(t, figs, key, AllServices, DeploysPerDay); !approx(g.Value, 2.0/9) {
		t.Errorf("deploys per day of a running range: %v, want 2/9", g.Value)
	}

	// A range needs its first day.
	var fe *FilterError
	if _, err := e.Figures(f.ctx, Filter{To: to, By: Range}); !errors.As(err, &fe) || fe.Field != "from" {
		t.Errorf("a range without its first day: %v, want a FilterError on from", err)
	}
}
