package digest

import (
	"time"

	"github.com/pacer-dev/pacer/config"
)

// Schedule is when the weekly digest goes out: a weekday and a time of day in a time zone
// ([digest] weekday, time and the configured timezone).
//
// The run on local date D covers the latest ISO week that ends on or before D (a Sunday run
// covers the week ending that Sunday; a Monday run, the week that ended the day before). It
// goes out at the scheduled time, or as soon as that week has ended in UTC if that is later:
// in zones ahead of UTC, Monday 08:00 comes while it is still Sunday in UTC, and the digest then
// waits for the week to end rather than reporting a week that is still running or one that is
// a week old. Working from local dates, not instants, keeps one run per week across DST
// changes.
type Schedule struct {
	Day      time.Weekday
	Minute   int // minutes after local midnight
	Location *time.Location
}

// ScheduleOf reads the schedule from the configuration (defaults already applied there).
func ScheduleOf(cfg *config.Config) Schedule {
	loc := cfg.Digest.Location
	if loc == nil {
		loc = time.UTC
	}
	return Schedule{Day: cfg.Digest.Day, Minute: cfg.Digest.Minute, Location: loc}
}

// Run is one scheduled sending: the week it covers and the instant it becomes due.
type Run struct {
	Week Week
	At   time.Time // the scheduled local time, or the end of Week if that is later
}

// runOn is the run scheduled on the local calendar date (y, m, d).
func (s Schedule) runOn(y int, m time.Month, d int) Run {
	// A wall time that does not exist (skipped by a DST change) is moved forward by the gap;
	// one that exists twice resolves to one of the two. Either way the run happens once.
	at := time.Date(y, m, d, s.Minute/60, s.Minute%60, 0, 0, s.location())
	// The ISO week of the day after D, minus one, is the latest week ending on or before D.
	next := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	w := WeekOf(next).Prev()
	if end := w.End(); end.After(at) {
		at = end
	}
	return Run{Week: w, At: at}
}

func (s Schedule) location() *time.Location {
	if s.Location == nil {
		return time.UTC
	}
	return s.Location
}

// Due is the latest run that is due at now (its At is at or before now).
func (s Schedule) Due(now time.Time) Run {
	local := now.In(s.location())
	y, m, d := local.Date()
	back := (int(local.Weekday()) - int(s.Day) + 7) % 7
	for {
		r := s.runOn(y, m, d-back)
		if !r.At.After(now) {
			return r
		}
		back += 7
	}
}

// Next is the first run that becomes due after now.
func (s Schedule) Next(now time.Time) Run {
	local := now.In(s.location())
	y, m, d := local.Date()
	ahead := (int(s.Day) - int(local.Weekday()) + 7) % 7
	for {
		r := s.runOn(y, m, d+ahead)
		if r.At.After(now) {
			return r
		}
		ahead += 7
	}
}
