package web

import (
	"math"
	"sort"
	"time"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// figureSet indexes the rows of metrics.Figures by period, service and metric, with every
// period of the range in order (periods without rows included, so charts show the gaps).
type figureSet struct {
	q        *query
	periods  []period
	rows     map[figKey]metrics.Figure
	services []string // services that have at least one row, in name order
}

type period struct {
	key   string
	start time.Time
	end   time.Time // the last day of the period inside the range
	label string    // short, for axes
}

type figKey struct {
	period, service, metric string
}

func newFigureSet(q *query, figs []metrics.Figure) *figureSet {
	fs := &figureSet{q: q, rows: make(map[figKey]metrics.Figure, len(figs))}
	seen := map[string]bool{}
	for _, f := range figs {
		fs.rows[figKey{f.Period, f.Service, f.Metric}] = f
		if f.Service != metrics.AllServices && !seen[f.Service] {
			seen[f.Service] = true
			fs.services = append(fs.services, f.Service)
		}
	}
	sort.Strings(fs.services)
	layout := "2 Jan"
	if q.From.Year() != q.To.Year() {
		layout = "2 Jan 06"
	}
	for d := q.From; !d.After(q.To); {
		key, start := metrics.PeriodKey(d, q.By)
		next := start.AddDate(0, 0, 7)
		if q.By == metrics.Day {
			next = start.AddDate(0, 0, 1)
		}
		end := next.AddDate(0, 0, -1)
		if end.After(q.To) {
			end = q.To
		}
		fs.periods = append(fs.periods, period{key: key, start: start, end: end, label: start.Format(layout)})
		d = next
	}
	return fs
}

// get is the figure of a metric for a period and service.
func (fs *figureSet) get(p period, service, metric string) (metrics.Figure, bool) {
	f, ok := fs.rows[figKey{p.key, service, metric}]
	return f, ok
}

func (fs *figureSet) categories() []string {
	out := make([]string, len(fs.periods))
	for i, p := range fs.periods {
		out[i] = p.label
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
// before it for the change.
func (fs *figureSet) headline() (cur, prev *period) {
	if len(fs.periods) == 0 {
		return nil, nil
	}
	i := len(fs.periods) - 1
	today := dateOf(fs.q.now)
	for ; i > 0; i-- {
		p := fs.periods[i]
		full := p.start.AddDate(0, 0, 6)
		if fs.q.By == metrics.Day {
			full = p.start
		}
		if !full.After(fs.q.To) && full.Before(today) {
			break
		}
	}
	cur = &fs.periods[i]
	if i > 0 {
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
		}
	}
	return card
}

// periodName is "week of 2 Mar" or "2 Mar".
func (fs *figureSet) periodName(p period) string {
	if fs.q.By == metrics.Day {
		return p.start.Format("Mon 2 Jan")
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
