package metrics

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of sorted values by linear
// interpolation between closest ranks (numpy's default, PostgreSQL's percentile_cont),
// rounded to the nearest whole second (halves away from zero). It returns 0 for no values.
func Percentile(sorted []int64, p float64) int64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	hi := lo + 1
	if hi >= n {
		return sorted[n-1]
	}
	frac := rank - float64(lo)
	a, b := float64(sorted[lo]), float64(sorted[hi])
	return int64(math.Round(a + (b-a)*frac))
}

// PeriodKey names the period containing t (2026-W09 for an ISO week, 2026-03-02 for a day,
// 2026-03 for a month, 2026-Q1 for a quarter) and returns its first instant, in UTC.
func PeriodKey(t time.Time, by Period) (key string, start time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch by {
	case Day:
		return day.Format(time.DateOnly), day
	case Month:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start.Format("2006-01"), start
	case Quarter:
		q := (int(t.Month()) - 1) / 3
		start = time.Date(t.Year(), time.Month(3*q+1), 1, 0, 0, 0, 0, time.UTC)
		return fmt.Sprintf("%04d-Q%d", t.Year(), q+1), start
	}
	// Monday starts the ISO week; Go's Sunday is 0.
	back := (int(day.Weekday()) + 6) % 7
	start = day.AddDate(0, 0, -back)
	y, w := start.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w), start
}

// periodEnd is the first instant after the period starting at start.
func periodEnd(start time.Time, by Period) time.Time {
	switch by {
	case Day:
		return start.AddDate(0, 0, 1)
	case Month:
		return start.AddDate(0, 1, 0)
	case Quarter:
		return start.AddDate(0, 3, 0)
	}
	return start.AddDate(0, 0, 7)
}

// ParsePeriod reads a period key (2026-W09, 2026-03-02, 2026-03 or 2026-Q1) back into its
// start and kind.
func ParsePeriod(key string) (start time.Time, by Period, err error) {
	if t, err := time.Parse(time.DateOnly, key); err == nil {
		return t, Day, nil
	}
	if len(key) == 7 && key[4] == '-' && key[5] != 'W' && key[5] != 'Q' {
		if t, err := time.Parse("2006-01", key); err == nil {
			return t, Month, nil
		}
	}
	if len(key) == 7 && key[4:6] == "-Q" && key[6] >= '1' && key[6] <= '4' {
		if y, err := strconv.Atoi(key[:4]); err == nil && key[0] >= '0' && key[0] <= '9' {
			return time.Date(y, time.Month(3*int(key[6]-'1')+1), 1, 0, 0, 0, 0, time.UTC), Quarter, nil
		}
	}
	// Exactly four year digits, "-W" and two week digits: Sscanf alone would take "2026-W5x",
	// " 2026-W9" or "+026-W09".
	y, w, ok := 0, 0, len(key) == 8 && key[4:6] == "-W"
	for i, c := range key {
		if !ok {
			break
		}
		switch {
		case i == 4 || i == 5:
		case c < '0' || c > '9':
			ok = false
		case i < 4:
			y = y*10 + int(c-'0')
		default:
			w = w*10 + int(c-'0')
		}
	}
	if !ok || w < 1 || w > 53 {
		return time.Time{}, "", fmt.Errorf("metrics: %q is not a period (use 2026-W09, 2026-03-02, 2026-03 or 2026-Q1)", key)
	}
	// ISO week 1 contains January 4th.
	jan4 := time.Date(y, 1, 4, 0, 0, 0, 0, time.UTC)
	_, w1 := PeriodKey(jan4, Week)
	start = w1.AddDate(0, 0, 7*(w-1))
	if yy, ww := start.ISOWeek(); yy != y || ww != w {
		return time.Time{}, "", fmt.Errorf("metrics: %d has no ISO week %d", y, w)
	}
	return start, Week, nil
}
