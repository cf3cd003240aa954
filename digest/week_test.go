package digest

import (
	"testing"
	"time"
)

func TestParseWeekAndBounds(t *testing.T) {
	for _, c := range []struct {
		in         string
		start, end string // Monday and the next Monday
	}{
		{"2026-W09", "2026-02-23", "2026-03-02"},
		{"2026-W01", "2025-12-29", "2026-01-05"}, // ISO year starts in the calendar year before
		{"2020-W53", "2020-12-28", "2021-01-04"}, // a long year
		{"2027-W01", "2027-01-04", "2027-01-11"},
	} {
		w, err := ParseWeek(c.in)
		if err != nil {
			t.Fatalf("ParseWeek(%q): %v", c.in, err)
		}
		if got := w.Start().Format(time.DateOnly); got != c.start {
			t.Errorf("%s starts %s, want %s", c.in, got, c.start)
		}
		if got := w.End().Format(time.DateOnly); got != c.end {
			t.Errorf("%s ends %s, want %s", c.in, got, c.end)
		}
		if w.String() != c.in {
			t.Errorf("String() = %s, want %s", w, c.in)
		}
		if WeekOf(w.Start()) != w || WeekOf(w.End().Add(-time.Second)) != w || WeekOf(w.End()) == w {
			t.Errorf("%s: WeekOf does not agree with Start/End", c.in)
		}
	}
	for _, bad := range []string{"2026-W9", "2026W09", "2026-W00", "2025-W53", "2026-W54", "26-W01", "2026-w09", ""} {
		if _, err := ParseWeek(bad); err == nil {
			t.Errorf("ParseWeek(%q) accepted", bad)
		}
	}
}

func TestWeekArithmeticAcrossYears(t *testing.T) {
	w, _ := ParseWeek("2026-W01")
	if got := w.Prev().String(); got != "2025-W52" {
		t.Errorf("2026-W01 - 1 = %s, want 2025-W52", got)
	}
	w, _ = ParseWeek("2020-W53")
	if got := w.Add(1).String(); got != "2021-W01" {
		t.Errorf("2020-W53 + 1 = %s", got)
	}
	if got := w.Add(-4).String(); got != "2020-W49" {
		t.Errorf("2020-W53 - 4 = %s", got)
	}
	// Sunday 23:59:59 UTC is still in the week; the last full week on Monday 00:00 is the one before.
	sun := time.Date(2026, 3, 1, 23, 59, 59, 0, time.UTC)
	if got := WeekOf(sun).String(); got != "2026-W09" {
		t.Errorf("WeekOf(Sunday night) = %s", got)
	}
	if got := LastFullWeek(sun.Add(time.Second)).String(); got != "2026-W09" {
		t.Errorf("LastFullWeek(Monday 00:00) = %s", got)
	}
	// An instant with an offset is taken in UTC: Monday 01:00 in Paris is still Sunday in UTC.
	paris, _ := time.LoadLocation("Europe/Paris")
	if got := WeekOf(time.Date(2026, 3, 2, 0, 30, 0, 0, paris)).String(); got != "2026-W09" {
		t.Errorf("WeekOf(Monday 00:30 Paris) = %s, want 2026-W09", got)
	}
}
