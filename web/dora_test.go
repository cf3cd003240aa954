package web

import (
	"testing"

	"github.com/pacer-dev/pacer/metrics"
)

// The levels follow the software delivery performance levels of the Accelerate State of
// DevOps Report 2024 (docs/metrics.md, "DORA performance levels"), at their edges.
func TestDORALevelsAtTheReportsThresholds(t *testing.T) {
	const day, hour = 86400.0, 3600.0
	for _, c := range []struct {
		metric string
		value  float64
		want   string
	}{
		// Deployment frequency: on demand (at least daily), daily to weekly, weekly to monthly.
		{metrics.DeploysPerDay, 12, "elite"},
		{metrics.DeploysPerDay, 1, "elite"},
		{metrics.DeploysPerDay, 0.99, "high"},
		{metrics.DeploysPerDay, 1.0 / 7, "high"},
		{metrics.DeploysPerDay, 0.14, "medium"},
		{metrics.DeploysPerDay, 1.0 / 30, "medium"},
		{metrics.DeploysPerDay, 0.033, "low"},
		{metrics.DeploysPerDay, 1.0 / 365, "low"},
		// Lead time: under a day, a day to a week, a week to a month, longer.
		{metrics.CycleTimeP50, 23 * hour, "elite"},
		{metrics.CycleTimeP50, day, "high"},
		{metrics.CycleTimeP50, 7*day - 1, "high"},
		{metrics.CycleTimeP50, 7 * day, "medium"},
		{metrics.CycleTimeP50, 30*day - 1, "medium"},
		{metrics.CycleTimeP50, 30 * day, "low"},
		{metrics.CycleTimeP50, 400 * day, "low"},
		// Change failure rate: 5% elite; high (20%) and medium (10%) together; over 20% low.
		{metrics.ChangeFailureRate, 0, "elite"},
		{metrics.ChangeFailureRate, 0.05, "elite"},
		{metrics.ChangeFailureRate, 0.051, "high–medium"},
		{metrics.ChangeFailureRate, 0.10, "high–medium"},
		{metrics.ChangeFailureRate, 0.20, "high–medium"},
		{metrics.ChangeFailureRate, 0.201, "low"},
		{metrics.ChangeFailureRate, 0.40, "low"},
		// Recovery: under an hour; under a day (high and medium); longer.
		{metrics.RecoveryTimeP50, 59 * 60, "elite"},
		{metrics.RecoveryTimeP50, hour, "high–medium"},
		{metrics.RecoveryTimeP50, day - 1, "high–medium"},
		{metrics.RecoveryTimeP50, day, "low"},
		{metrics.RecoveryTimeP50, 20 * day, "low"},
	} {
		b := bandOf(c.metric)
		if b == nil {
			t.Fatalf("no DORA band for %s", c.metric)
		}
		if got := b.level(c.value).name; got != c.want {
			t.Errorf("%s %v: %s, want %s", c.metric, c.value, got, c.want)
		}
	}
	// The legend quotes the report, level by level.
	lg := doraLegend()
	want := map[string][4]string{
		"Change failure rate":             {"5%", "20%", "10%", "40%"},
		"Failed deployment recovery time": {"under an hour", "under a day", "under a day", "a week to a month"},
	}
	for _, r := range lg.Rows {
		if w, ok := want[r.Name]; ok && [4]string(r.Cells) != w {
			t.Errorf("legend %s: %v, want %v", r.Name, r.Cells, w)
		}
	}
	if lg.Source != "DORA, Accelerate State of DevOps Report 2024" {
		t.Errorf("legend source %q", lg.Source)
	}
}
