package metrics

import (
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
)

// TestAgreementsAndInvestment checks the agreements of two weeks against hand-counted values:
// approvals (2 approvals agreed), coverage against its target, the tech-debt share near its
// target, the cycle-time target, and the investment shares behind the tech-debt figure.
func TestAgreementsAndInvestment(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.project(2, "acme/web")
	f.user(2, "bob", false)
	f.user(3, "cid", false)
	mr := func(project, iid int64, title string, merged int64, approvers ...int64) {
		f.mr(mrSpec{project: project, iid: iid, title: title, created: at(merged - 2*hour), merged: at(merged)})
		for _, a := range approvers {
			f.note(project, iid, "approved", a, map[int64]string{2: "bob", 3: "cid"}[a], at(merged-hour))
		}
	}
	// Week 2026-W10: three MRs, one with two approvals; one of three is tech debt.
	mr(1, 1, "Add export", day, 2, 3)
	mr(1, 2, "chore: bump", day, 2)
	mr(2, 3, "New page", 2*day)
	// Week 2026-W11: one MR with two approvals, tech debt; one slow MR.
	mr(1, 4, "refactor: store", 8*day, 2, 3)
	f.mr(mrSpec{project: 2, iid: 5, title: "Slow", created: at(8*day - 4*day), merged: at(8 * day)})
	f.pipeline(1, 1, "main", "success", at(day), 95.0)
	f.pipeline(2, 2, "main", "success", at(day), 80.0)
	f.pipeline(3, 2, "main", "success", at(9*day), 92.0)

	cfg, err := config.Parse("test.toml", []byte("[agreements]\napprovals = 2\ncycle_time_p50 = \"48h\"\nallowed_breaks = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := f.engine(cfg, t0.Add(30*24*time.Hour))
	rows, err := e.Agreements(f.ctx, Filter{To: t0.AddDate(0, 0, 15)}, 2) // Monday of W12: W11 is current
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Service != AllServices || rows[1].Service != "acme/api" || rows[2].Service != "acme/web" {
		t.Fatalf("rows %+v", rows)
	}
	all := rows[0]
	if all.Current.Period != "2026-W11" || len(all.Trend) != 2 || all.Trend[0].Period != "2026-W10" {
		t.Fatalf("weeks: current %s trend %+v", all.Current.Period, all.Trend)
	}
	get := func(w AgreementWeek, name string) AgreementCheck {
		for _, c := range w.Checks {
			if c.Agreement == name {
				return c
			}
		}
		t.Fatalf("%s: no %s check in %+v", w.Period, name, w.Checks)
		return AgreementCheck{}
	}
	type want struct {
		value  float64
		n      int
		broken int
		holds  bool
	}
	for _, tc := range []struct {
		week      AgreementWeek
		agreement string
		want      want
	}{
		{all.Trend[0], AgreementApprovals, want{2.0 / 3, 3, 2, false}},
		{all.Current, AgreementApprovals, want{0.5, 2, 1, false}},
		{rows[1].Current, AgreementApprovals, want{0, 1, 0, true}},
		{all.Trend[0], AgreementCoverage, want{87.5, 2, 1, false}},
		{all.Current, AgreementCoverage, want{93.5, 2, 0, true}},
		{all.Trend[0], AgreementTechDebt, want{1.0 / 3, 3, 0, false}},
		{all.Current, AgreementTechDebt, want{0.5, 2, 0, false}},
		{rows[2].Trend[0], AgreementTechDebt, want{0, 1, 0, false}},
		{all.Trend[0], AgreementCycleTime, want{7200, 3, 0, true}},
		{all.Current, AgreementCycleTime, want{(7200 + 4*86400) / 2, 2, 1, false}},
	} {
		c := get(tc.week, tc.agreement)
		if got := (want{c.Value, c.N, c.Broken, c.Holds}); !approx(got.value, tc.want.value) || got.n != tc.want.n ||
			got.broken != tc.want.broken || got.holds != tc.want.holds || !c.Known {
			t.Errorf("%s %s: got %+v, want %+v", tc.week.Period, tc.agreement, got, tc.want)
		}
	}
	for _, c := range all.Current.Checks {
		if c.Agreement == AgreementDeployWindow {
			t.Errorf("no deploy window is configured, but it is checked: %+v", c)
		}
	}

	shares, err := e.Investment(f.ctx, Filter{From: t0, To: t0.AddDate(0, 0, 13)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, s := range shares {
		got[s.Period+" "+s.Category] = s.MRs
		if s.Period == "2026-W10" && s.Total != 3 || s.Period == "2026-W11" && s.Total != 2 {
			t.Errorf("%s total %d", s.Period, s.Total)
		}
	}
	for k, w := range map[string]int{"2026-W10 feature": 2, "2026-W10 tech debt": 1, "2026-W10 rework": 0, "2026-W11 tech debt": 1, "2026-W11 feature": 1} {
		if got[k] != w {
			t.Errorf("%s: %d MRs, want %d (all: %v)", k, got[k], w, got)
		}
	}
	if len(shares) != 2*3 {
		t.Errorf("want 3 categories in 2 weeks, got %d rows", len(shares))
	}
}
