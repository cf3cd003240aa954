package web

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// figureSet indexes the rows of metrics.Figures by period, service and metric, with every
// period of the range in order (periods without rows included, so charts show the gaps).
type figureSet struct {
	q        *query
	periods  []period
	rows     *figureIndex
	services []string // services that have at least one row, in name order
	// small is the n under which a change is too uncertain to colour ([display] small_sample).
	small int
}

type period struct {
	key   string
	start time.Time
	end   time.Time // the last day of the period inside the range
	label string    // short, for axes
	// days is how many of the period's days its figures cover: those inside the range and
	// not after today; total is the whole period's. A period with days < total is partial.
	days, total int
	running     bool // today is inside the period
}

// partial says whether the period's figures cover only part of it.
func (p period) partial() bool { return p.days < p.total }

// partialNote says how much of a partial period the figures cover, for hover texts and
// tables ("so far, 3 of 7 days"); "" for a whole period.
func (p period) partialNote() string {
	if !p.partial() {
		return ""
	}
	if p.running {
		return fmt.Sprintf("so far, %d of %d days", p.days, p.total)
	}
	return fmt.Sprintf("%d of %d days in the range", p.days, p.total)
}

// figureIndex holds the figures densely, by period, service and metric number: a year of a
// large organisation by week is some 200,000 figures, kept once per computation for every
// request that shows them (a map of them took ten times the memory).
type figureIndex struct {
	periods  map[string]int
	starts   []time.Time
	services map[string]int
	cells    []figureCell // (period × services + service) × metrics + metric
}

type figureCell struct {
	value float64
	n     int64 // 0: no figure
}

var metricIndex = func() map[string]int {
	m := map[string]int{}
	for i, n := range metrics.MetricNames {
		m[n] = i
	}
	return m
}()

func newFigureSet(q *query, figs []metrics.Figure) *figureSet {
	fs := &figureSet{q: q}
	ix := &figureIndex{periods: map[string]int{}, services: map[string]int{}}
	for _, f := range figs {
		if _, ok := ix.periods[f.Period]; !ok {
			ix.periods[f.Period] = len(ix.starts)
			ix.starts = append(ix.starts, f.Start)
		}
		if _, ok := ix.services[f.Service]; !ok {
			ix.services[f.Service] = len(ix.services)
			if f.Service != metrics.AllServices {
				fs.services = append(fs.services, f.Service)
			}
		}
	}
	nm := len(metrics.MetricNames)
	ix.cells = make([]figureCell, len(ix.starts)*len(ix.services)*nm)
	for _, f := range figs {
		if m, ok := metricIndex[f.Metric]; ok {
			ix.cells[(ix.periods[f.Period]*len(ix.services)+ix.services[f.Service])*nm+m] = figureCell{f.Value, int64(f.N)}
		}
	}
	fs.rows = ix
	sort.Strings(fs.services)
	fs.periods = periodsOf(q)
	return fs
}

// get is the figure of a metric for a period (by key) and service.
func (ix *figureIndex) get(period, service, metric string) (metrics.Figure, bool) {
	p, ok := ix.periods[period]
	if !ok {
		return metrics.Figure{}, false
	}
	s, ok := ix.services[service]
	if !ok {
		return metrics.Figure{}, false
	}
	m, ok := metricIndex[metric]
	if !ok {
		return metrics.Figure{}, false
	}
	c := ix.cells[(p*len(ix.services)+s)*len(metrics.MetricNames)+m]
	if c.n == 0 {
		return metrics.Figure{}, false
	}
	return metrics.Figure{Period: period, Start: ix.starts[p], Service: service, Metric: metric, Value: c.value, N: int(c.n)}, true
}

// periodsOf are the periods of the query's range in order, each with how much of it the
// figures cover (the range may cut the first and last, and the last may still be running).
func periodsOf(q *query) []period {
	var out []period
	today := dateOf(q.now)
	for d := q.From; !d.After(q.To); {
		key, start := metrics.PeriodKey(d, q.By)
		next := nextPeriod(start, q.By)
		last := next.AddDate(0, 0, -1)
		end := last
		if end.After(q.To) {
			end = q.To
		}
		covered := end
		if covered.After(today) {
			covered = today
		}
		first := start
		if first.Before(q.From) {
			first = q.From
		}
		p := period{key: key, start: start, end: end, label: periodLabel(q, start),
			total: days(start, last), days: max(days(first, covered), 0),
			running: !today.Before(start) && !today.After(last)}
		out = append(out, p)
		d = next
	}
	return out
}

// days is the number of days from a through b, both included.
func days(a, b time.Time) int { return int(b.Sub(a).Hours()/24) + 1 }

// periodLabel is a period's axis label: "2 Mar" (a week's Monday, a day), "Mar 2026",
// "Q1 2026".
func periodLabel(q *query, start time.Time) string {
	switch q.By {
	case metrics.Month:
		return start.Format("Jan 2006")
	case metrics.Quarter:
		return fmt.Sprintf("Q%d %d", (int(start.Month())-1)/3+1, start.Year())
	}
	if q.From.Year() != q.To.Year() {
		return start.Format("2 Jan 06")
	}
	return start.Format("2 Jan")
}

// get is the figure of a metric for a period and service.
func (fs *figureSet) get(p period, service, metric string) (metrics.Figure, bool) {
	return fs.rows.get(p.key, service, metric)
}

func (fs *figureSet) categories() []string {
	out := make([]string, len(fs.periods))
	for i, p := range fs.periods {
		out[i] = p.label
	}
	return out
}

// partials say, per period, how much of a partial period the figures cover ("" for whole
// periods): charts draw those periods as partial.
func (fs *figureSet) partials() []string {
	out := make([]string, len(fs.periods))
	for i, p := range fs.periods {
		out[i] = p.partialNote()
	}
	return out
}

// series is one metric of one service over the range, each point linking to its items.
func (fs *figureSet) series(name, service, metric string, href func(p period, service string) string) views.Series {
	s := views.Series{Name: name}
	for _, p := range fs.periods {
		f, ok := fs.get(p, service, metric)
		pt := views.Point{Known: ok}
		if ok {
			pt.Value, pt.N = f.Value, f.N
			if href != nil {
				pt.Href = href(p, service)
			}
		}
		s.Values = append(s.Values, pt)
	}
	return s
}

// spark is a metric of a service over the range, for a card.
func (fs *figureSet) spark(service, metric string) views.Spark {
	var s views.Spark
	for _, p := range fs.periods {
		f, ok := fs.get(p, service, metric)
		s.Values = append(s.Values, f.Value)
		s.Known = append(s.Known, ok)
	}
	return s
}

// headline picks the period the cards show: the last period that has ended (by the clock and
// the range), so that a week that has just begun does not read as a collapse; and the one
// before it for the change, when the range holds all of it (a month cut by the start of the
// range is no measure to compare with).
func (fs *figureSet) headline() (cur, prev *period) {
	if len(fs.periods) == 0 {
		return nil, nil
	}
	i := len(fs.periods) - 1
	today := dateOf(fs.q.now)
	for ; i > 0; i-- {
		p := fs.periods[i]
		full := nextPeriod(p.start, fs.q.By).AddDate(0, 0, -1)
		if !full.After(fs.q.To) && full.Before(today) {
			break
		}
	}
	cur = &fs.periods[i]
	if i > 0 && !fs.periods[i-1].start.Before(fs.q.From) {
		prev = &fs.periods[i-1]
	}
	return cur, prev
}

// total is a count metric summed over the range for a service (counts add up).
func (fs *figureSet) total(service, metric string) (sum float64, n int) {
	for _, p := range fs.periods {
		if f, ok := fs.get(p, service, metric); ok {
			sum += f.Value
			n += f.N
		}
	}
	return sum, n
}

// pooledRate is a rate over the whole range: its numerator per period is value×n (a count,
// exactly), so the pooled rate is Σ(value×n) / Σn, the same as computing it over all items.
func (fs *figureSet) pooledRate(service, metric string) (rate float64, n int, ok bool) {
	num := 0.0
	for _, p := range fs.periods {
		if f, found := fs.get(p, service, metric); found {
			num += math.Round(f.Value * float64(f.N))
			n += f.N
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return num / float64(n), n, true
}

// last is the most recent value of a metric for a service in the range (coverage, which is
// carried forward), with the first known value for the change over the range.
func (fs *figureSet) last(service, metric string) (last, first metrics.Figure, ok bool) {
	for _, p := range fs.periods {
		f, found := fs.get(p, service, metric)
		if !found {
			continue
		}
		if !ok {
			first = f
		}
		last, ok = f, true
	}
	return last, first, ok
}

// card builds a headline card for a metric of "all" (or the one service asked for).
type cardSpec struct {
	label          string
	metric         string
	unit           views.Unit
	higherIsBetter bool
	nOne, nMany    string // "MR", "MRs"
	href           func(p period) string
	help           string
	// band is the metric whose DORA level the card shows (the figure's own, or
	// deploys_per_day for the deployments card); "" for none.
	band string
}

func (fs *figureSet) card(service string, c cardSpec) views.Card {
	cur, prev := fs.headline()
	card := views.Card{Label: c.label, Help: c.help, Spark: fs.spark(service, c.metric), N: "no " + c.nMany}
	if cur == nil {
		return card
	}
	f, ok := fs.get(*cur, service, c.metric)
	if !ok {
		card.N = "no " + c.nMany + " in " + fs.periodName(*cur)
		return card
	}
	card.Value = views.Format(c.unit, f.Value)
	card.N = "n = " + views.Plural(f.N, c.nOne, c.nMany) + " · " + fs.periodName(*cur)
	if c.href != nil {
		card.Href = c.href(*cur)
	}
	if prev != nil {
		if pf, ok := fs.get(*prev, service, c.metric); ok {
			card.Delta = views.NewDelta(c.unit, f.Value, pf.Value, c.higherIsBetter, fs.periodName(*prev))
			card.Delta.Title += " · n = " + strconv.Itoa(f.N) + " now, " + strconv.Itoa(pf.N) + " before"
			if n := min(f.N, pf.N); n < fs.small && card.Delta.Tone != "" {
				// A change on a handful of items is noise as often as news: say it, without colour.
				card.Delta.Tone, card.Delta.Small = "", true
				card.Delta.Title += "; fewer than " + strconv.Itoa(fs.small) + ", too few to call it better or worse"
			}
		}
	}
	if b := bandOf(c.band); b != nil {
		if bf, ok := fs.get(*cur, service, c.band); ok {
			card.Band = b.band(bf.Value)
		}
	}
	return card
}

// periodName is "week of 2 Mar", "Mon 2 Mar", "Mar 2026" or "Q1 2026".
func (fs *figureSet) periodName(p period) string {
	switch fs.q.By {
	case metrics.Day:
		return p.start.Format("Mon 2 Jan")
	case metrics.Month, metrics.Quarter:
		return periodLabel(fs.q, p.start)
	}
	return "week of " + p.start.Format("2 Jan")
}

// pooledShare is a share over the whole range whose numerator need not be a whole count
// (author-days split between MRs): Σ(value×n) / Σn.
func (fs *figureSet) pooledShare(service, metric string) (share, n float64, ok bool) {
	num := 0.0
	for _, p := range fs.periods {
		if f, found := fs.get(p, service, metric); found {
			num += f.Value * float64(f.N)
			n += float64(f.N)
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return num / n, n, true
}
