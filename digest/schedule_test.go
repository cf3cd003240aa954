package digest

import (
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestScheduleDue(t *testing.T) {
	malta := mustLoc(t, "Europe/Malta")
	la := mustLoc(t, "America/Los_Angeles")
	auckland := mustLoc(t, "Pacific/Auckland")
	mon8 := 8 * 60
	for _, c := range []struct {
		name   string
		s      Schedule
		now    time.Time
		week   string
		dueUTC string
	}{
		{"Monday 08:00 Malta (UTC+1), just before", Schedule{time.Monday, mon8, malta},
			time.Date(2026, 3, 2, 6, 59, 59, 0, time.UTC), "2026-W08", "2026-02-23T07:00:00Z"},
		{"Monday 08:00 Malta, at the time", Schedule{time.Monday, mon8, malta},
			time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), "2026-W09", "2026-03-02T07:00:00Z"},
		{"Monday 08:00 Malta, days later", Schedule{time.Monday, mon8, malta},
			time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC), "2026-W09", "2026-03-02T07:00:00Z"},
		{"Monday 08:00 Malta in summer time (UTC+2)", Schedule{time.Monday, mon8, malta},
			time.Date(2026, 4, 6, 6, 0, 0, 0, time.UTC), "2026-W14", "2026-04-06T06:00:00Z"},
		{"Los Angeles Monday 08:00 is 16:00 UTC", Schedule{time.Monday, mon8, la},
			time.Date(2026, 3, 2, 15, 59, 0, 0, time.UTC), "2026-W08", "2026-02-23T16:00:00Z"},
		{"Los Angeles Sunday 23:00 covers the week ending that Sunday", Schedule{time.Sunday, 23 * 60, la},
			time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC), "2026-W09", "2026-03-02T07:00:00Z"},
		// Monday 08:00 in Auckland (UTC+13) is Sunday 19:00 UTC: the week is still running in
		// UTC, so the digest waits for it to end (Monday 13:00 local) instead of sending the
		// week before.
		{"Auckland Monday 08:00 waits for the UTC week", Schedule{time.Monday, mon8, auckland},
			time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC), "2026-W08", "2026-02-23T00:00:00Z"},
		{"Auckland, once the UTC week ended", Schedule{time.Monday, mon8, auckland},
			time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), "2026-W09", "2026-03-02T00:00:00Z"},
		{"UTC Friday 17:00 covers the week before", Schedule{time.Friday, 17 * 60, time.UTC},
			time.Date(2026, 3, 6, 17, 0, 0, 0, time.UTC), "2026-W09", "2026-03-06T17:00:00Z"},
		{"UTC Sunday 08:00 waits for Monday 00:00", Schedule{time.Sunday, mon8, time.UTC},
			time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), "2026-W08", "2026-02-23T00:00:00Z"},
		{"across New Year", Schedule{time.Monday, mon8, time.UTC},
			time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC), "2026-W01", "2026-01-05T08:00:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.s.Due(c.now)
			if r.Week.String() != c.week || r.At.UTC().Format(time.RFC3339) != c.dueUTC {
				t.Fatalf("Due(%s) = %s at %s, want %s at %s", c.now.Format(time.RFC3339), r.Week, r.At.UTC().Format(time.RFC3339), c.week, c.dueUTC)
			}
			if r.At.After(c.now) {
				t.Fatalf("due run %s is after now", r.At)
			}
			n := c.s.Next(c.now)
			if !n.At.After(c.now) || n.Week != r.Week.Add(1) {
				t.Fatalf("Next(%s) = %s at %s, want the week after %s, later than now", c.now, n.Week, n.At, r.Week)
			}
		})
	}
}

// TestScheduleOneRunPerWeekAcrossDST walks a year minute by minute at the hours around each
// run in zones with DST changes (including one at 02:30, a wall time that is skipped once a
// year) and checks that the due week advances by exactly one, once a week, never skipping.
func TestScheduleOneRunPerWeekAcrossDST(t *testing.T) {
	for _, c := range []struct {
		loc    string
		day    time.Weekday
		minute int
	}{
		{"Europe/Malta", time.Monday, 8 * 60},
		{"America/New_York", time.Sunday, 2*60 + 30}, // skipped on the spring-forward Sunday
		{"Europe/London", time.Sunday, 1*60 + 30},    // exists twice on the fall-back Sunday
		{"Australia/Sydney", time.Monday, 9 * 60},
		{"Pacific/Auckland", time.Monday, 8 * 60},
	} {
		s := Schedule{c.day, c.minute, mustLoc(t, c.loc)}
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		prev := s.Due(start)
		changes := 0
		for now := start; now.Before(start.AddDate(1, 0, 0)); now = now.Add(15 * time.Minute) {
			r := s.Due(now)
			if r.Week == prev.Week {
				continue
			}
			if r.Week != prev.Week.Add(1) {
				t.Fatalf("%s: due week jumped from %s to %s at %s", c.loc, prev.Week, r.Week, now)
			}
			if gap := r.At.Sub(prev.At); gap < 6*24*time.Hour || gap > 8*24*time.Hour {
				t.Fatalf("%s: runs %s and %s are %s apart", c.loc, prev.At, r.At, gap)
			}
			if r.At.Before(r.Week.End()) {
				t.Fatalf("%s: week %s due at %s, before it ended", c.loc, r.Week, r.At)
			}
			prev = r
			changes++
		}
		if changes < 52 || changes > 53 {
			t.Fatalf("%s: %d runs in a year", c.loc, changes)
		}
	}
}
