package digest

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Week is an ISO 8601 week: Monday 00:00:00 UTC through Sunday 23:59:59 UTC (SPEC section 3).
type Week struct {
	Year int // ISO year, which differs from the calendar year around New Year
	Num  int // 1..53
}

var weekPattern = regexp.MustCompile(`^(\d{4})-W(\d{2})$`)

// ParseWeek reads "2026-W09". The week must exist in that ISO year (W53 only in long years).
func ParseWeek(s string) (Week, error) {
	m := weekPattern.FindStringSubmatch(s)
	if m == nil {
		return Week{}, fmt.Errorf("digest: %q is not an ISO week (use YYYY-Www, such as 2026-W09)", s)
	}
	y, _ := strconv.Atoi(m[1])
	n, _ := strconv.Atoi(m[2])
	w := Week{Year: y, Num: n}
	if n < 1 || WeekOf(w.Start()) != w {
		return Week{}, fmt.Errorf("digest: %s does not exist (ISO year %d has weeks 01 to %02d)", s, y, weeksIn(y))
	}
	return w, nil
}

// WeekOf is the ISO week containing the instant t (taken in UTC).
func WeekOf(t time.Time) Week {
	y, n := t.UTC().ISOWeek()
	return Week{Year: y, Num: n}
}

// weeksIn is the number of ISO weeks of year y: the week of 28 December is always the last.
func weeksIn(y int) int {
	_, n := time.Date(y, time.December, 28, 0, 0, 0, 0, time.UTC).ISOWeek()
	return n
}

// Start is the week's Monday 00:00:00 UTC.
func (w Week) Start() time.Time {
	// 4 January is always in week 1.
	jan4 := time.Date(w.Year, time.January, 4, 0, 0, 0, 0, time.UTC)
	offset := (int(jan4.Weekday()) + 6) % 7 // days since Monday
	return jan4.AddDate(0, 0, -offset+7*(w.Num-1))
}

// End is the first instant after the week: the next Monday 00:00:00 UTC.
func (w Week) End() time.Time { return w.Start().AddDate(0, 0, 7) }

// LastDay is the week's Sunday at 00:00 UTC, the inclusive "to" date of filters and URLs.
func (w Week) LastDay() time.Time { return w.Start().AddDate(0, 0, 6) }

// Prev is the week before; Add moves by n weeks.
func (w Week) Prev() Week { return w.Add(-1) }

// Add moves by n weeks (negative for earlier).
func (w Week) Add(n int) Week { return WeekOf(w.Start().AddDate(0, 0, 7*n)) }

// String is the week as in exports and URLs: 2026-W09.
func (w Week) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Num) }

// IsZero reports whether w is the zero Week.
func (w Week) IsZero() bool { return w == Week{} }

// LastFullWeek is the latest ISO week that had ended at now.
func LastFullWeek(now time.Time) Week { return WeekOf(now).Prev() }
