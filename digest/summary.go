package digest

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// The lines a reader sees first: the subject, the preheader and the highlights.

// subject names the week, the scope and two headline numbers: cycle time and deployments.
func subject(tab figureTable, week Week, scope Scope) string {
	s := "Pacer " + week.String()
	if k := scope.Key(); k != "all" {
		s += " · " + strings.TrimPrefix(strings.TrimPrefix(k, "team:"), "services:")
	}
	ct := "no MRs delivered"
	if f, ok := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP50); ok {
		ct = "cycle time p50 " + views.Duration(int64(f.Value))
	}
	n := int(figureValue(tab, week.String(), metrics.Deployments))
	dep := "no deployments"
	if n > 0 {
		dep = plural(n, "deployment", "deployments")
	}
	return oneLine(s + ": " + ct + ", " + dep)
}

// oneLine replaces control characters (a newline in a team name from the config, say) with
// spaces: a subject is one header line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func preheader(tab figureTable, week Week) string {
	var parts []string
	for _, h := range []struct {
		label, metric string
		unit          views.Unit
	}{
		{"rework rate", metrics.ReworkRate, views.UnitRatio},
		{"change failure rate", metrics.ChangeFailureRate, views.UnitRatio},
		{"coverage", metrics.CoveragePercent, views.UnitPercent},
	} {
		if f, ok := tab.get(week.String(), metrics.AllServices, h.metric); ok {
			parts = append(parts, h.label+" "+views.Format(h.unit, f.Value))
		}
	}
	if len(parts) == 0 {
		return "The week in numbers."
	}
	s := strings.Join(parts, " · ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// highlights are up to four sentences on what stood out, so the first lines of the email say
// what a reader would otherwise look for in the tables: a big move in cycle time or
// deployments, the rework, the agreements that slipped, the slowest MR when it is far out, and
// deployments outside the window.
func highlights(tab figureTable, week Week, this []metrics.Deployment, slow []metrics.MergeRequest, outside int, slipped string) []string {
	var out []string
	cur, okCur := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP50)
	prev, okPrev := tab.get(week.Prev().String(), metrics.AllServices, metrics.CycleTimeP50)
	if okCur && okPrev && prev.Value > 0 {
		rel := (cur.Value - prev.Value) / prev.Value
		switch {
		case rel <= -0.1:
			out = append(out, fmt.Sprintf("Cycle time p50 fell %.0f%% to %s.", -rel*100, views.Duration(int64(cur.Value))))
		case rel >= 0.1:
			out = append(out, fmt.Sprintf("Cycle time p50 rose %.0f%% to %s.", rel*100, views.Duration(int64(cur.Value))))
		}
	}
	n := figureValue(tab, week.String(), metrics.Deployments)
	p := figureValue(tab, week.Prev().String(), metrics.Deployments)
	if n > 0 && p > 0 && math.Abs(n-p)/p >= 0.2 {
		word := "more"
		if n < p {
			word = "fewer"
		}
		out = append(out, fmt.Sprintf("%s, %s %s than last week.", plural(int(n), "deployment", "deployments"), views.Count(int64(math.Abs(n-p))), word))
	}
	services := map[string]int{}
	rollbacks, rework := 0, 0
	for _, d := range this {
		if d.Rework {
			rework++
			services[d.Service]++
			if d.Rollback {
				rollbacks++
			}
		}
	}
	if rework > 0 {
		// The services with the most rework first: they are the ones the sentence is for.
		names := make([]string, 0, len(services))
		for s := range services {
			names = append(names, s)
		}
		sort.Slice(names, func(i, j int) bool {
			if services[names[i]] != services[names[j]] {
				return services[names[i]] > services[names[j]]
			}
			return names[i] < names[j]
		})
		var where string
		switch {
		case len(names) > 3:
			where = fmt.Sprintf("%s and %d other services", strings.Join(names[:2], ", "), len(names)-2)
		case len(names) > 1:
			where = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
		default:
			where = names[0]
		}
		s := fmt.Sprintf("%s in %s", plural(rework, "rework deployment", "rework deployments"), where)
		if rollbacks > 0 {
			s += fmt.Sprintf(" (%s)", plural(rollbacks, "rollback", "rollbacks"))
		}
		out = append(out, s+".")
	}
	if slipped != "" {
		out = append(out, slipped)
	}
	if len(slow) > 0 {
		p75, ok := tab.get(week.String(), metrics.AllServices, metrics.CycleTimeP75)
		if ok && p75.N >= 4 && float64(slow[0].CycleSeconds) >= 3*p75.Value {
			out = append(out, fmt.Sprintf("The slowest merge request, %s!%d, took %s, over three times the p75.",
				slow[0].Project, slow[0].IID, views.Duration(slow[0].CycleSeconds)))
		}
	}
	if outside > 0 {
		out = append(out, fmt.Sprintf("%s outside the deploy window.", plural(outside, "deployment", "deployments")))
	}
	if len(out) > 4 {
		out = out[:4]
	}
	return out
}
