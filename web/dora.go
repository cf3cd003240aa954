package web

import (
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// DORA performance levels, from the software delivery performance levels of the Accelerate
// State of DevOps Report 2024 (DORA, Google Cloud), the latest report to publish them; the
// thresholds and how Pacer reads them are in docs/dashboard.md. The report gives each level
// as a range (deployment frequency, lead time, recovery time) or as the level's typical value
// (change failure rate); where two levels share a range, the band names both.
const (
	doraSource = "DORA, Accelerate State of DevOps Report 2024"
	doraURL    = "https://dora.dev/research/2024/dora-report/"
)

const (
	secondsPerDay   = 86400.0
	secondsPerWeek  = 7 * secondsPerDay
	secondsPerMonth = 30 * secondsPerDay
)

// doraBand is one of the four keys: the metric it reads, the report's words for each level
// (the legend), and Pacer's thresholds between them.
type doraBand struct {
	metric string
	name   string
	report [4]string // elite, high, medium, low, as the report puts them
	levels []doraLevel
	// atMost: a level holds values up to its limit included (change failure rate); else
	// under it. more: higher is better (deployment frequency), a level holds its limit and up.
	atMost, more bool
}

// doraLevel is one band: values up to (or from) limit; the last one is open.
type doraLevel struct {
	name, class string
	limit       float64
	text        string // the band's range in words
}

var doraBands = []doraBand{
	{metric: metrics.DeploysPerDay, name: "Deployment frequency", more: true,
		report: [4]string{"on demand (several a day)", "once a day to once a week", "once a week to once a month", "once a month to once every six months"},
		levels: []doraLevel{
			{"elite", "elite", 1, "once a day or more"},
			{"high", "high", 1.0 / 7, "between once a day and once a week"},
			{"medium", "medium", 1.0 / 30, "between once a week and once a month"},
			{"low", "low", 0, "less than once a month"},
		}},
	{metric: metrics.CycleTimeP50, name: "Lead time for changes",
		report: [4]string{"under a day", "a day to a week", "a week to a month", "a month to six months"},
		levels: []doraLevel{
			{"elite", "elite", secondsPerDay, "under a day"},
			{"high", "high", secondsPerWeek, "between a day and a week"},
			{"medium", "medium", secondsPerMonth, "between a week and a month"},
			{"low", "low", 0, "a month or more"},
		}},
	{metric: metrics.ChangeFailureRate, name: "Change failure rate", atMost: true,
		report: [4]string{"5%", "20%", "10%", "40%"},
		levels: []doraLevel{
			{"elite", "elite", 0.05, "5% or less"},
			{"high–medium", "high", 0.20, "over 5%, up to 20%"},
			{"low", "low", 0, "over 20%"},
		}},
	{metric: metrics.RecoveryTimeP50, name: "Failed deployment recovery time",
		report: [4]string{"under an hour", "under a day", "under a day", "a week to a month"},
		levels: []doraLevel{
			{"elite", "elite", 3600, "under an hour"},
			{"high–medium", "high", secondsPerDay, "between an hour and a day"},
			{"low", "low", 0, "a day or more"},
		}},
}

// level is the band of value v.
func (b doraBand) level(v float64) doraLevel {
	last := len(b.levels) - 1
	for _, l := range b.levels[:last] {
		if (b.more && v >= l.limit) || (b.atMost && v <= l.limit+1e-9) || (!b.more && !b.atMost && v < l.limit) {
			return l
		}
	}
	return b.levels[last]
}

// bandOf is the DORA key that reads metric, nil for other metrics.
func bandOf(metric string) *doraBand {
	for i := range doraBands {
		if doraBands[i].metric == metric {
			return &doraBands[i]
		}
	}
	return nil
}

// band is a card's DORA level for the value v of the key's metric.
func (b doraBand) band(v float64) *views.Band {
	l := b.level(v)
	return &views.Band{Level: l.name, Class: l.class,
		Title: b.name + " " + l.text + ": DORA level " + l.name + " (" + doraSource + ")"}
}

// doraLegend is the table of the levels as the report gives them, beside the cards that
// carry a band.
func doraLegend() views.BandLegend {
	lg := views.BandLegend{Source: doraSource, Href: doraURL, Levels: []string{"elite", "high", "medium", "low"}}
	for _, b := range doraBands {
		lg.Rows = append(lg.Rows, views.BandRow{Name: b.name, Cells: b.report[:]})
	}
	return lg
}
