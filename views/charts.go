package views

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// ChartKind is how a Chart draws its series.
type ChartKind int

const (
	Lines       ChartKind = iota // one line per series, a dot per known value
	Bars                         // grouped bars, side by side
	StackedBars                  // one bar per category, series stacked bottom-up
)

// Chart is a time-series (or category) chart over shared x categories, drawn as SVG on the
// server. Every value carries its n and the link to the items behind it.
type Chart struct {
	ID         string // unique in the page; used for aria ids
	Title      string
	Summary    string // one sentence saying what the chart shows (the text alternative)
	Unit       Unit
	Kind       ChartKind
	Categories []string // x labels, e.g. periods
	// Partial, aligned with Categories, says how much of a period still running (or cut by
	// the range) its values cover ("so far, 3 of 7 days"); "" for a whole period. Partial
	// periods are drawn dashed and say so on hover.
	Partial []string
	XName   string // what the categories are, for the data table ("Period" when empty)
	Series  []Series
	Target  *Target // an optional horizontal reference line
	YMax    float64 // an optional fixed top of the y axis (100 for percentages)
	YFrom   float64 // where the y axis starts (0 unless a line chart is zoomed in)
	CSV     string  // the CSV export of the chart's data
	Empty   *Empty  // shown instead of the chart when set
	Note    string  // an optional sentence under the chart, on how to read it
}

// Series is one named line or bar series; Values align with the chart's Categories.
type Series struct {
	Name   string
	Values []Point
}

// Point is one value of a series.
type Point struct {
	Value float64
	Known bool // false: no value in this category (drawn as a gap)
	N     int
	Href  string // the items behind the value
	// Note, when set, replaces "n=N" in the hover text and the data table ("4 of 20 MRs").
	Note string
}

// Target is a horizontal reference line (a coverage target, say).
type Target struct {
	Value float64
	Label string
}

// Chart geometry, in viewBox units; CSS scales the SVG to its container.
const (
	chartW      = 720.0
	chartH      = 260.0
	chartLeft   = 60.0
	chartRight  = 16.0
	chartTop    = 16.0
	chartBottom = 44.0
	maxXLabels  = 12
	seriesCount = 6 // CSS classes s0..s5
)

func (c Chart) plotW() float64 { return chartW - chartLeft - chartRight }
func (c Chart) plotH() float64 { return chartH - chartTop - chartBottom }

// ViewBox is the SVG viewBox attribute.
func (c Chart) ViewBox() string { return fmt.Sprintf("0 0 %d %d", int(chartW), int(chartH)) }

// HasData says whether any value is known.
func (c Chart) HasData() bool {
	for _, s := range c.Series {
		for _, p := range s.Values {
			if p.Known {
				return true
			}
		}
	}
	return false
}

// dataMax is the highest value the y axis must reach.
func (c Chart) dataMax() float64 {
	m := 0.0
	if c.Kind == StackedBars {
		for i := range c.Categories {
			sum := 0.0
			for _, s := range c.Series {
				if i < len(s.Values) && s.Values[i].Known {
					sum += s.Values[i].Value
				}
			}
			m = math.Max(m, sum)
		}
	} else {
		for _, s := range c.Series {
			for _, p := range s.Values {
				if p.Known {
					m = math.Max(m, p.Value)
				}
			}
		}
	}
	if c.Target != nil {
		m = math.Max(m, c.Target.Value)
	}
	return m
}

// ticks returns the y-axis tick values, from the axis bottom (0, or YFrom) to its top.
func (c Chart) ticks() []float64 {
	top := c.YMax
	if top <= 0 {
		top = c.dataMax()
	}
	if c.YFrom > 0 && c.YFrom < top {
		t := NiceTicks(c.Unit, top-c.YFrom)
		for i := range t {
			t[i] += c.YFrom
		}
		return t
	}
	return NiceTicks(c.Unit, top)
}

func (c Chart) yTop() float64 {
	t := c.ticks()
	return t[len(t)-1]
}

func (c Chart) y(v float64) float64 {
	bottom := c.ticks()[0]
	if v < bottom {
		v = bottom
	}
	return chartTop + c.plotH()*(1-(v-bottom)/(c.yTop()-bottom))
}

// Tick is one labelled position on an axis.
type Tick struct {
	X, Y  string
	Label string
	// Alt marks every other label, which a phone's stylesheet hides to make room.
	Alt bool
}

// YTicks are the horizontal grid lines with their labels.
func (c Chart) YTicks() []Tick {
	var out []Tick
	for _, v := range c.ticks() {
		out = append(out, Tick{X: num(chartLeft - 8), Y: num(c.y(v)), Label: Format(c.Unit, v)})
	}
	return out
}

func (c Chart) band() float64 {
	if len(c.Categories) == 0 {
		return c.plotW()
	}
	return c.plotW() / float64(len(c.Categories))
}

func (c Chart) xCenter(i int) float64 {
	return chartLeft + c.band()*(float64(i)+0.5)
}

// XTicks are the category labels under the plot, thinned so they do not overlap.
func (c Chart) XTicks() []Tick {
	step := (len(c.Categories) + maxXLabels - 1) / maxXLabels
	if step < 1 {
		step = 1
	}
	var out []Tick
	for i, l := range c.Categories {
		if i%step != 0 {
			continue
		}
		out = append(out, Tick{X: num(c.xCenter(i)), Y: num(chartH - chartBottom + 18), Label: l, Alt: len(out)%2 == 1})
	}
	return out
}

// Grid edges for the template.
func (c Chart) PlotLeft() string   { return num(chartLeft) }
func (c Chart) PlotRight() string  { return num(chartW - chartRight) }
func (c Chart) PlotBottom() string { return num(chartH - chartBottom) }

// Mark is one bar or dot with its hover text and link.
type Mark struct {
	X, Y, W, H string
	Class      string
	Title      string
	Href       string
}

// Line is one series drawn as a path with dots; Dashed are its segments into or out of a
// partial period.
type Line struct {
	D      string
	Dashed string
	Class  string
	Name   string
	Dots   []Mark
}

// PartialNote is what a partial period's values cover ("" for a whole period).
func (c Chart) PartialNote(i int) string {
	if i < len(c.Partial) {
		return c.Partial[i]
	}
	return ""
}

// categoryText is a category's label with, for a partial period, how much of it is in.
func (c Chart) categoryText(i int) string {
	if n := c.PartialNote(i); n != "" {
		return c.Categories[i] + " (" + n + ")"
	}
	return c.Categories[i]
}

func seriesClass(i int) string { return "s" + strconv.Itoa(i%seriesCount) }

func (c Chart) title(s Series, i int, p Point) string {
	t := c.categoryText(i) + " · "
	if len(c.Series) > 1 {
		t += s.Name + ": "
	}
	return t + Format(c.Unit, p.Value) + " (" + p.nText() + ")"
}

func (p Point) nText() string {
	if p.Note != "" {
		return p.Note
	}
	return "n=" + strconv.Itoa(p.N)
}

// Lines are the series of a line chart; a gap in the data breaks the line.
func (c Chart) Lines() []Line {
	var out []Line
	for si, s := range c.Series {
		l := Line{Class: seriesClass(si), Name: s.Name}
		var d, dashed strings.Builder
		// A segment is solid between two whole periods, dashed when either end is partial.
		prev, prevPartial, pen, solidEnd := "", false, false, false
		for i, p := range s.Values {
			if i >= len(c.Categories) {
				break
			}
			if !p.Known {
				pen = false
				continue
			}
			x, y := c.xCenter(i), c.y(p.Value)
			pt := num(x) + " " + num(y)
			partial := c.PartialNote(i) != ""
			switch {
			case pen && (partial || prevPartial):
				if dashed.Len() > 0 {
					dashed.WriteString(" ")
				}
				dashed.WriteString("M" + prev + " L" + pt)
				solidEnd = false
			case pen && solidEnd:
				d.WriteString(" L" + pt)
			case pen:
				if d.Len() > 0 {
					d.WriteString(" ")
				}
				d.WriteString("M" + prev + " L" + pt)
				solidEnd = true
			default:
				if d.Len() > 0 {
					d.WriteString(" ")
				}
				d.WriteString("M" + pt)
				solidEnd = true
			}
			prev, prevPartial, pen = pt, partial, true
			class := seriesClass(si)
			if partial {
				class += " partial"
			}
			l.Dots = append(l.Dots, Mark{X: num(x), Y: num(y), Class: class, Title: c.title(s, i, p), Href: p.Href})
		}
		l.D = d.String()
		l.Dashed = dashed.String()
		out = append(out, l)
	}
	return out
}

// Bars are the rectangles of a bar chart (grouped or stacked).
func (c Chart) Bars() []Mark {
	var out []Mark
	band := c.band()
	pad := math.Min(band*0.15, 8)
	inner := band - 2*pad
	for i := range c.Categories {
		x0 := chartLeft + band*float64(i) + pad
		base := 0.0
		for si, s := range c.Series {
			if i >= len(s.Values) || !s.Values[i].Known {
				continue
			}
			p := s.Values[i]
			m := Mark{Class: seriesClass(si), Title: c.title(s, i, p), Href: p.Href}
			if c.PartialNote(i) != "" {
				m.Class += " partial"
			}
			if c.Kind == StackedBars {
				top := c.y(base + p.Value)
				m.X, m.W = num(x0), num(inner)
				m.Y, m.H = num(top), num(math.Max(c.y(base)-top, 0))
				base += p.Value
			} else {
				w := inner / float64(len(c.Series))
				top := c.y(p.Value)
				m.X, m.W = num(x0+w*float64(si)), num(math.Max(w-1, 1))
				m.Y, m.H = num(top), num(math.Max(c.y(0)-top, 0))
			}
			out = append(out, m)
		}
	}
	return out
}

// Tip is one category's hover column: the whole height of the plot over the category, with
// every series' value there as text (the first line names the category). Pacer's script
// shows it as a tooltip; without it each mark's <title> says the same for its own series.
type Tip struct {
	X, Y, W, H string
	Text       string
}

// Tips are the hover columns, one per category with at least one known value.
func (c Chart) Tips() []Tip {
	var out []Tip
	band := c.band()
	for i := range c.Categories {
		lines := []string{c.categoryText(i)}
		known := false
		for _, s := range c.Series {
			if i >= len(s.Values) {
				continue
			}
			p := s.Values[i]
			v := "–"
			if p.Known {
				v, known = Format(c.Unit, p.Value)+" ("+p.nText()+")", true
			}
			if len(c.Series) > 1 || s.Name != "" {
				v = s.Name + ": " + v
			}
			lines = append(lines, v)
		}
		if !known {
			continue
		}
		if c.Target != nil {
			lines = append(lines, c.Target.Label)
		}
		out = append(out, Tip{X: num(chartLeft + band*float64(i)), Y: num(chartTop), W: num(band), H: num(c.plotH()), Text: strings.Join(lines, "\n")})
	}
	return out
}

// TargetLine is the reference line, if any.
func (c Chart) TargetLine() (Tick, bool) {
	if c.Target == nil {
		return Tick{}, false
	}
	return Tick{X: num(chartW - chartRight - 4), Y: num(c.y(c.Target.Value)), Label: c.Target.Label}, true
}

// Legend lists the series with their classes (only when there is more than one).
func (c Chart) Legend() []Option {
	if len(c.Series) < 2 {
		return nil
	}
	var out []Option
	for i, s := range c.Series {
		out = append(out, Option{Value: seriesClass(i), Label: s.Name})
	}
	return out
}

// HasPartial says whether any period is drawn as partial.
func (c Chart) HasPartial() bool {
	for _, p := range c.Partial {
		if p != "" {
			return true
		}
	}
	return false
}

// RowHeading is a data-table row's heading: the category, with how much of a partial period
// is in.
func (c Chart) RowHeading(i int) string { return c.categoryText(i) }

// XHeading is the data table's first column heading.
func (c Chart) XHeading() string {
	if c.XName == "" {
		return "Period"
	}
	return c.XName
}

// Cell is a value of the chart's data table (the text alternative).
func (c Chart) Cell(s Series, i int) (string, string) {
	if i >= len(s.Values) || !s.Values[i].Known {
		return "–", ""
	}
	p := s.Values[i]
	return Format(c.Unit, p.Value) + " (" + p.nText() + ")", p.Href
}

// NiceTicks returns 0 and evenly spaced round values up to at least max, for unit u.
func NiceTicks(u Unit, max float64) []float64 {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
		if u == UnitSeconds {
			max = 3600
		}
	}
	var step float64
	if u == UnitSeconds {
		steps := []float64{60, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
			86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400, 90 * 86400, 180 * 86400, 365 * 86400}
		step = steps[len(steps)-1]
		for _, s := range steps {
			if max/s <= 5 {
				step = s
				break
			}
		}
	} else {
		raw := max / 5
		mag := math.Pow(10, math.Floor(math.Log10(raw)))
		for _, m := range []float64{1, 2, 2.5, 5, 10} {
			if raw <= m*mag {
				step = m * mag
				break
			}
		}
		if u == UnitCount && step < 1 {
			step = 1
		}
	}
	var out []float64
	for v := 0.0; ; v += step {
		out = append(out, v)
		if v >= max-1e-9 {
			break
		}
	}
	return out
}

// num writes a coordinate with at most one decimal.
func num(f float64) string {
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// BarList is a horizontal bar per row (service, project), drawn as a table with a small SVG
// bar in each row, so that long names wrap instead of overflowing.
type BarList struct {
	ID      string
	Title   string
	Summary string
	Unit    Unit
	Label   string // the column heading of the names ("Service")
	Rows    []BarRow
	Target  *Target
	Max     float64 // optional fixed maximum (100 for percentages)
	// From is where the bars start (0 unless zoomed in, as coverage is, so that 80% and 93%
	// do not look alike); the heading then says the scale.
	From float64
	CSV  string
	// Compare opens the compare view with the same services, sorted by this figure.
	Compare string
	Empty   *Empty
}

// BarRow is one row of a BarList.
type BarRow struct {
	Label string
	Href  string // the items behind the value
	Value float64
	N     int
	Note  string // e.g. the change over the range
	// Below marks a value under the target.
	Below bool
}

func (b BarList) max() float64 {
	if b.Max > 0 {
		return b.Max
	}
	m := 0.0
	for _, r := range b.Rows {
		m = math.Max(m, r.Value)
	}
	if b.Target != nil {
		m = math.Max(m, b.Target.Value)
	}
	if m == 0 {
		return 1
	}
	return m
}

// scaled is v's position in the 0..100 viewBox of a row, from b.From to the maximum.
func (b BarList) scaled(v float64) float64 {
	top := b.max()
	if b.From >= top {
		return v / top * 100
	}
	return math.Max((v-b.From)/(top-b.From)*100, 0)
}

// Width is the bar's length in the 0..100 viewBox of its row.
func (b BarList) Width(r BarRow) string { return num(math.Max(b.scaled(r.Value), 0.5)) }

// TargetX is the target line's position in the 0..100 viewBox.
func (b BarList) TargetX() string {
	if b.Target == nil {
		return ""
	}
	return num(b.scaled(b.Target.Value))
}

// Scale says where the bars start and end when they do not start at 0 ("60% → 100%").
func (b BarList) Scale() string {
	if b.From <= 0 || b.From >= b.max() {
		return ""
	}
	return Format(b.Unit, b.From) + " → " + Format(b.Unit, b.max())
}

// Display formats a row's value.
func (b BarList) Display(r BarRow) string { return Format(b.Unit, r.Value) }

// Heatmap is counts by weekday (rows) and hour (columns).
type Heatmap struct {
	ID      string
	Title   string
	Summary string
	Rows    []HeatRow
	CSV     string
	Note    string // e.g. the time zone and the deploy window
	Empty   *Empty
}

// HeatRow is one weekday.
type HeatRow struct {
	Label string
	Cells []HeatCell // 24, by hour
}

// HeatCell is one weekday and hour.
type HeatCell struct {
	Count    int
	Href     string
	InWindow bool // inside the configured deploy window
	Title    string
}

const (
	heatLeft   = 44.0
	heatTop    = 20.0
	heatCell   = 26.0
	heatLegend = 34.0 // the colour legend's height under the grid
)

// ViewBox is the heatmap's SVG viewBox.
func (h Heatmap) ViewBox() string {
	return fmt.Sprintf("0 0 %s %s", num(heatLeft+24*heatCell+4), num(heatTop+float64(len(h.Rows))*heatCell+4+heatLegend))
}

// heatOpacity is the shade of a cell with count deployments when the busiest has max.
func heatOpacity(count, max int) string {
	return strconv.FormatFloat(0.15+0.85*float64(count)/float64(max), 'f', 2, 64)
}

// HeatKey is one swatch of the heatmap's colour legend.
type HeatKey struct {
	X, Y, Size string
	Class      string
	Opacity    string
	Label      string
	LabelX     string
	LabelY     string
}

// Legend is the colour scale under the grid: no deployments, then evenly spaced counts up
// to the busiest cell's, each shaded as its cells are.
func (h Heatmap) Legend() []HeatKey {
	m := h.max()
	if m == 0 {
		return nil
	}
	counts := []int{0}
	for _, f := range []float64{0.25, 0.5, 0.75, 1} {
		c := int(math.Round(f * float64(m)))
		if c >= 1 && c > counts[len(counts)-1] {
			counts = append(counts, c)
		}
	}
	y := heatTop + float64(len(h.Rows))*heatCell + 12
	size := 14.0
	var out []HeatKey
	for i, c := range counts {
		x := heatLeft + float64(i)*78
		k := HeatKey{X: num(x), Y: num(y), Size: num(size), Class: "heat", Opacity: "1",
			LabelX: num(x + size + 5), LabelY: num(y + size - 3)}
		if c == 0 {
			k.Class, k.Label = "heat zero", "none"
		} else {
			k.Opacity, k.Label = heatOpacity(c, m), strconv.Itoa(c)
		}
		out = append(out, k)
	}
	return out
}

// LegendTitle introduces the colour legend.
func (h Heatmap) LegendTitle() Tick {
	return Tick{X: num(heatLeft - 6), Y: num(heatTop + float64(len(h.Rows))*heatCell + 23), Label: "deploys"}
}

func (h Heatmap) max() int {
	m := 0
	for _, r := range h.Rows {
		for _, c := range r.Cells {
			if c.Count > m {
				m = c.Count
			}
		}
	}
	return m
}

// HeatMark is one drawn cell.
type HeatMark struct {
	X, Y, Size string
	Opacity    string
	Class      string
	Title      string
	Href       string
	Count      int
}

// Marks are the cells, shaded by count relative to the busiest cell.
func (h Heatmap) Marks() []HeatMark {
	m := h.max()
	var out []HeatMark
	for ri, r := range h.Rows {
		for ci, c := range r.Cells {
			hm := HeatMark{
				X: num(heatLeft + float64(ci)*heatCell), Y: num(heatTop + float64(ri)*heatCell),
				Size: num(heatCell - 2), Title: c.Title, Href: c.Href, Count: c.Count,
				Class: "heat", Opacity: "1",
			}
			if c.Count == 0 || m == 0 {
				hm.Class = "heat zero"
			} else {
				hm.Opacity = heatOpacity(c.Count, m)
			}
			if c.InWindow {
				hm.Class += " inwin"
			}
			out = append(out, hm)
		}
	}
	return out
}

// RowLabels are the weekday labels.
func (h Heatmap) RowLabels() []Tick {
	var out []Tick
	for i, r := range h.Rows {
		out = append(out, Tick{X: num(heatLeft - 6), Y: num(heatTop + float64(i)*heatCell + heatCell/2 + 3), Label: r.Label})
	}
	return out
}

// HourLabels label every third hour.
func (h Heatmap) HourLabels() []Tick {
	var out []Tick
	for hr := 0; hr < 24; hr += 3 {
		out = append(out, Tick{X: num(heatLeft + float64(hr)*heatCell + heatCell/2 - 1), Y: num(heatTop - 6), Label: fmt.Sprintf("%02d", hr)})
	}
	return out
}

// HasData says whether any cell is non-zero.
func (h Heatmap) HasData() bool { return h.max() > 0 }

// Spark is a tiny line of a figure over the range, for headline cards.
type Spark struct {
	Values []float64
	Known  []bool
}

// Points is the polyline's points attribute in a 100×24 viewBox.
func (s Spark) Points() string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range s.Values {
		if s.Known[i] {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 1) {
		return ""
	}
	span := hi - lo
	if span == 0 {
		span = 1
	}
	var b strings.Builder
	n := len(s.Values)
	for i, v := range s.Values {
		if !s.Known[i] {
			continue
		}
		x := 50.0
		if n > 1 {
			x = float64(i) / float64(n-1) * 100
		}
		y := 22 - (v-lo)/span*20
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(num(x) + "," + num(y))
	}
	return b.String()
}

// pathHTML escapes each part of a path split after its slashes and joins them with <wbr>.
// (Written here rather than in the template, where whitespace would creep in between.)
func pathHTML(s string) string {
	parts := strings.SplitAfter(s, "/")
	for i, p := range parts {
		parts[i] = html.EscapeString(p)
		if strings.ContainsAny(p, "-‐") {
			// Kept whole: a browser would break "checkout-web" after its hyphen.
			parts[i] = `<span class="seg">` + parts[i] + `</span>`
		}
	}
	return strings.Join(parts, "<wbr>")
}
