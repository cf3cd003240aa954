package views

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Unit says how a figure's value is written.
type Unit int

const (
	UnitCount   Unit = iota // 42
	UnitSeconds             // 3d 4h
	UnitRatio               // 0.123 -> 12.3%
	UnitPercent             // 87.5 -> 87.5%
	UnitPerDay              // 1.25/day
	UnitPerWeek             // 1.5/week
)

// Format writes v in unit u for people.
func Format(u Unit, v float64) string {
	switch u {
	case UnitSeconds:
		return Duration(int64(math.Round(v)))
	case UnitRatio:
		return Percent(v * 100)
	case UnitPercent:
		return Percent(v)
	case UnitPerDay:
		return strconv.FormatFloat(v, 'f', 2, 64) + "/day"
	case UnitPerWeek:
		return strconv.FormatFloat(v, 'f', 1, 64) + "/week"
	default:
		if v == math.Trunc(v) {
			return Count(int64(v))
		}
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}

// Duration writes seconds as the two largest of days, hours, minutes (3d 4h, 5h 12m, 42m, 30s).
func Duration(s int64) string {
	neg := s < 0
	if neg {
		s = -s
	}
	d, h, m := s/86400, s%86400/3600, s%3600/60
	var out string
	switch {
	case d > 0 && h > 0:
		out = fmt.Sprintf("%dd %dh", d, h)
	case d > 0:
		out = fmt.Sprintf("%dd", d)
	case h > 0 && m > 0:
		out = fmt.Sprintf("%dh %dm", h, m)
	case h > 0:
		out = fmt.Sprintf("%dh", h)
	case m > 0:
		out = fmt.Sprintf("%dm", m)
	default:
		out = fmt.Sprintf("%ds", s)
	}
	if neg {
		return "−" + out
	}
	return out
}

// Percent writes a percentage with one decimal, dropping a trailing ".0".
func Percent(p float64) string {
	s := strconv.FormatFloat(p, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0") + "%"
}

// Count writes an integer with thin thousands separators.
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteRune(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "−" + b.String()
	}
	return b.String()
}

// Plural writes "1 MR" / "3 MRs".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return Count(int64(n)) + " " + many
}

// Delta is a change against the previous period, ready to show.
type Delta struct {
	Text string // "+12%", "−3h", "no change", "" when there is nothing to compare
	// Tone is "good", "bad" or "" (neutral), from whether higher is better.
	Tone string
	// Title explains the comparison on hover.
	Title string
	// Small marks a change computed on too few items to call it good or bad: shown muted.
	Small bool
}

// NewDelta compares cur with prev (both known) for a figure in unit u; higherIsBetter says
// which direction is good.
func NewDelta(u Unit, cur, prev float64, higherIsBetter bool, prevLabel string) Delta {
	diff := cur - prev
	d := Delta{Title: "previous: " + Format(u, prev) + " (" + prevLabel + ")"}
	if math.Abs(diff) < 1e-9 {
		d.Text = "no change"
		return d
	}
	sign := "+"
	if diff < 0 {
		sign = "−"
	}
	switch u {
	case UnitRatio:
		d.Text = sign + strings.TrimSuffix(strconv.FormatFloat(math.Abs(diff)*100, 'f', 1, 64), ".0") + " pts"
	case UnitPercent:
		d.Text = sign + strings.TrimSuffix(strconv.FormatFloat(math.Abs(diff), 'f', 1, 64), ".0") + " pts"
	case UnitSeconds:
		d.Text = sign + Duration(int64(math.Abs(math.Round(diff))))
	default:
		if prev != 0 {
			d.Text = sign + strconv.FormatFloat(math.Abs(diff)/math.Abs(prev)*100, 'f', 0, 64) + "%"
		} else {
			d.Text = sign + Format(u, math.Abs(diff))
		}
	}
	if (diff > 0) == higherIsBetter {
		d.Tone = "good"
	} else {
		d.Tone = "bad"
	}
	return d
}
