package views

import (
	"math"
	"strconv"
	"strings"
)

// Trend geometry, in viewBox units.
const (
	trendW   = 112.0
	trendH   = 30.0
	trendPad = 5.0
)

// ViewBox is the trend's SVG viewBox.
func (t Trend) ViewBox() string { return "0 0 " + num(trendW) + " " + num(trendH) }

func (t Trend) bounds() (lo, hi float64) {
	lo, hi = t.Target-t.Band, t.Target+t.Band
	for _, w := range t.Weeks {
		if w.Known {
			lo, hi = math.Min(lo, w.Value), math.Max(hi, w.Value)
		}
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-1, hi+1
		if t.Target <= 1 && t.Target >= 0 {
			lo, hi = t.Target-0.05, t.Target+0.05
		}
	}
	return lo, hi
}

func (t Trend) x(i int) float64 {
	if len(t.Weeks) < 2 {
		return trendW / 2
	}
	return trendPad + float64(i)*(trendW-2*trendPad)/float64(len(t.Weeks)-1)
}

func (t Trend) y(v float64) float64 {
	lo, hi := t.bounds()
	return trendPad + (trendH-2*trendPad)*(1-(v-lo)/(hi-lo))
}

// Path is the line through the known weeks; a week without a value breaks it.
func (t Trend) Path() string {
	var b strings.Builder
	pen := false
	for i, w := range t.Weeks {
		if !w.Known {
			pen = false
			continue
		}
		if pen {
			b.WriteString(" L")
		} else {
			if b.Len() > 0 {
				b.WriteString(" ")
			}
			b.WriteString("M")
		}
		b.WriteString(num(t.x(i)) + " " + num(t.y(w.Value)))
		pen = true
	}
	return b.String()
}

// TargetY is the target line's height.
func (t Trend) TargetY() string { return num(t.y(t.Target)) }

// BandRect is the tolerance band around the target (top and height), when there is one.
func (t Trend) BandRect() (y, h string, ok bool) {
	if t.Band <= 0 {
		return "", "", false
	}
	top, bottom := t.y(t.Target+t.Band), t.y(t.Target-t.Band)
	return num(top), num(bottom - top), true
}

// TrendDot is one week's dot.
type TrendDot struct {
	X, Y   string
	Status string
	Title  string
	Href   string
}

// Dots are the weeks' marks: a dot for a known value, a small tick at the bottom for a week
// without one (so every week can be hovered).
func (t Trend) Dots() []TrendDot {
	var out []TrendDot
	for i, w := range t.Weeks {
		d := TrendDot{X: num(t.x(i)), Status: w.Status, Title: w.Title, Href: w.Href}
		if w.Known {
			d.Y = num(t.y(w.Value))
		} else {
			d.Y, d.Status = num(trendH-2), "unknown"
		}
		out = append(out, d)
	}
	return out
}

// statusText is a check's status in words (not colour alone).
func statusText(status string) string {
	switch status {
	case "holds":
		return "✓ holds"
	case "broken":
		return "✗ broken"
	}
	return "no data"
}

func colspan(n int) string { return strconv.Itoa(n) }
