package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// numpyCases are numpy.percentile(values, p) for p in numpyPs, computed with numpy 1.24.2
// (linear interpolation, its default).
var numpyPs = []float64{0, 10, 25, 50, 75, 90, 95, 99, 100}

var numpyCases = []struct {
	values []int64
	want   []float64
}{
	{[]int64{7}, []float64{7, 7, 7, 7, 7, 7, 7, 7, 7}},
	{[]int64{1, 2}, []float64{1.0, 1.1, 1.25, 1.5, 1.75, 1.9, 1.95, 1.99, 2.0}},
	{[]int64{3600, 7200, 10800, 36000}, []float64{3600.0, 4680.0, 6300.0, 9000.0, 17100.0, 28440.000000000004, 32219.999999999993, 35243.99999999999, 36000.0}},
	{[]int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []float64{1.0, 1.9, 3.25, 5.5, 7.75, 9.1, 9.549999999999999, 9.91, 10.0}},
	{[]int64{0, 5, 5, 6, 100, 1000, 1001}, []float64{0.0, 3.0000000000000004, 5.0, 6.0, 550.0, 1000.4, 1000.7, 1000.94, 1001.0}},
	{[]int64{-30, -10, 0, 45, 46, 86400, 172801}, []float64{-30.0, -18.0, -5.0, 45.0, 43223.0, 120960.40000000002, 146880.69999999995, 167616.93999999994, 172801.0}},
	{[]int64{1, 4}, []float64{1.0, 1.3, 1.75, 2.5, 3.25, 3.7, 3.8499999999999996, 3.9699999999999998, 4.0}},
	{[]int64{100, 101, 103}, []float64{100.0, 100.2, 100.5, 101.0, 102.0, 102.6, 102.8, 102.96, 103.0}},
}

func TestPercentileMatchesNumpy(t *testing.T) {
	for _, c := range numpyCases {
		for i, p := range numpyPs {
			want := int64(math.Round(c.want[i])) // nearest second, halves away from zero
			if got := Percentile(c.values, p); got != want {
				t.Errorf("Percentile(%v, %v) = %d, want %d (numpy %v)", c.values, p, got, want, c.want[i])
			}
			cp := slices.Clone(c.values)
			rand.Shuffle(len(cp), func(a, b int) { cp[a], cp[b] = cp[b], cp[a] })
			if got := selectPercentile(cp, p); got != want {
				t.Errorf("selectPercentile(%v, %v) = %d, want %d", c.values, p, got, want)
			}
		}
	}
	if Percentile(nil, 50) != 0 || selectPercentile(nil, 50) != 0 {
		t.Error("no values: 0")
	}
}

// selectPercentile must agree with sorting, whatever the data (duplicates, runs, negatives).
func TestSelectPercentileAgreesWithSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		n := 1 + r.IntN(300)
		a := make([]int64, n)
		spread := int64(1 + r.IntN(1000000))
		for i := range a {
			a[i] = r.Int64N(spread) - spread/3
		}
		sorted := slices.Clone(a)
		slices.Sort(sorted)
		three := selectPercentiles(slices.Clone(a), 50, 75, 90)
		if three != [3]int64{Percentile(sorted, 50), Percentile(sorted, 75), Percentile(sorted, 90)} {
			t.Fatalf("n=%d: selectPercentiles %v", n, three)
		}
		for _, p := range []float64{0, 1, 50, 75, 90, 99.9, 100} {
			if got, want := selectPercentile(slices.Clone(a), p), Percentile(sorted, p); got != want {
				t.Fatalf("n=%d p=%v: select %d, sort %d", n, p, got, want)
			}
		}
	}
}

func TestPeriodKey(t *testing.T) {
	cases := []struct {
		t         string
		by        Period
		key       string
		startDate string
	}{
		{"2026-03-02T09:15:00Z", Week, "2026-W10", "2026-03-02"},
		{"2026-03-08T23:59:59Z", Week, "2026-W10", "2026-03-02"},
		{"2026-03-09T00:00:00Z", Week, "2026-W11", "2026-03-09"},
		{"2026-01-01T12:00:00Z", Week, "2026-W01", "2025-12-29"}, // ISO year differs from the calendar year
		{"2027-01-01T00:00:00Z", Week, "2026-W53", "2026-12-28"},
		{"2026-12-31T23:59:59Z", Week, "2026-W53", "2026-12-28"},
		{"2027-01-03T23:59:59Z", Week, "2026-W53", "2026-12-28"},
		{"2027-01-04T00:00:00Z", Week, "2027-W01", "2027-01-04"},
		{"2024-12-30T00:00:00Z", Week, "2025-W01", "2024-12-30"}, // ISO year ahead of the calendar year
		{"2026-12-31T12:00:00Z", Day, "2026-12-31", "2026-12-31"},
		{"2026-03-02T09:15:00+05:00", Day, "2026-03-02", "2026-03-02"},
		{"2026-03-02T23:30:00-02:00", Day, "2026-03-03", "2026-03-03"}, // UTC decides
	}
	for _, c := range cases {
		tm, err := time.Parse(time.RFC3339, c.t)
		if err != nil {
			t.Fatal(err)
		}
		key, start := PeriodKey(tm, c.by)
		if key != c.key || start.Format(time.DateOnly) != c.startDate || start.Location() != time.UTC {
			t.Errorf("PeriodKey(%s, %s) = %s %v, want %s %s", c.t, c.by, key, start, c.key, c.startDate)
		}
		back, by, err := ParsePeriod(key)
		if err != nil || !back.Equal(start) || by != c.by {
			t.Errorf("ParsePeriod(%s) = %v %s %v", key, back, by, err)
		}
	}
	for _, bad := range []string{"2026-W54", "2026-W00", "2025-W53", "W10", "2026-13-01", "", "2026-W5x", " 2026-W9", "+026-W09", "2026-W 9", "2026-w09", "2026-W009"} {
		if _, _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) should fail", bad)
		}
	}
}

func TestMonthAndQuarterPeriods(t *testing.T) {
	for _, tc := range []struct {
		t     time.Time
		by    Period
		key   string
		start time.Time
		end   time.Time
	}{
		{time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), Month, "2026-03", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Month, "2026-12", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), Quarter, "2026-Q1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), Quarter, "2026-Q4", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		key, start := PeriodKey(tc.t, tc.by)
		if key != tc.key || !start.Equal(tc.start) || !periodEnd(start, tc.by).Equal(tc.end) {
			t.Errorf("PeriodKey(%v, %s) = %s %v (end %v), want %s %v %v", tc.t, tc.by, key, start, periodEnd(start, tc.by), tc.key, tc.start, tc.end)
		}
		back, by, err := ParsePeriod(key)
		if err != nil || by != tc.by || !back.Equal(tc.start) {
			t.Errorf("ParsePeriod(%s) = %v %s %v", key, back, by, err)
		}
	}
	for _, bad := range []string{"2026-13", "2026-Q5", "2026-Q0", "26-Q1", "2026-3"} {
		if _, _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) accepted", bad)
		}
	}
}
