package digest

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// The sections of the digest below the headline, each from the items or figures compose read.

func releases(this, prev []metrics.Deployment, ln links) ([]views.DigestRelease, string) {
	count := map[string]int{}
	rework := map[string]int{}
	before := map[string]int{}
	for _, d := range this {
		count[d.Service]++
		if d.Rework {
			rework[d.Service]++
		}
	}
	for _, d := range prev {
		before[d.Service]++
	}
	names := make([]string, 0, len(count)+len(before))
	for s := range count {
		names = append(names, s)
	}
	for s := range before {
		if _, ok := count[s]; !ok {
			names = append(names, s) // deployed last week, not this week: worth seeing
		}
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	var out []views.DigestRelease
	for i, s := range names {
		if i == releasesMax {
			rest, restPrev := 0, 0
			for _, s := range names[i:] {
				rest += count[s]
				restPrev += before[s]
			}
			out = append(out, views.DigestRelease{
				Service: fmt.Sprintf("%d more services", len(names)-i),
				Count:   views.Count(int64(rest)),
				PerDay:  views.Format(views.UnitPerDay, float64(rest)/7),
				VsPrev:  change(views.UnitCount, float64(rest), float64(restPrev), true, fmt.Sprintf("last week %d", restPrev)),
			})
			break
		}
		r := views.DigestRelease{
			Service: s,
			Count:   views.Count(int64(count[s])),
			PerDay:  views.Format(views.UnitPerDay, float64(count[s])/7),
			VsPrev:  change(views.UnitCount, float64(count[s]), float64(before[s]), true, fmt.Sprintf("last week %d", before[s])),
			URL:     ln.to("/releases", s),
		}
		if rework[s] > 0 {
			r.Rework = fmt.Sprintf("%d rework", rework[s])
		}
		out = append(out, r)
	}
	return out, ln.to("/releases", "")
}

// rework lists this week's rework deployments; known holds the deployments they may blame, by id.
func rework(this []metrics.Deployment, known map[int64]metrics.Deployment, ln links) ([]views.DigestRework, string, string) {
	var rw []metrics.Deployment
	for _, d := range this {
		if d.Rework {
			rw = append(rw, d)
		}
	}
	note := ""
	if len(this) > 0 {
		note = fmt.Sprintf("%d of %s (%s).", len(rw), plural(len(this), "deployment", "deployments"),
			views.Format(views.UnitRatio, float64(len(rw))/float64(len(this))))
	}
	sort.Slice(rw, func(i, j int) bool { return rw[i].FinishedAt.Before(rw[j].FinishedAt) })
	var out []views.DigestRework
	for i, d := range rw {
		if i == reworkListMax {
			note += fmt.Sprintf(" %d more are in the dashboard.", len(rw)-reworkListMax)
			break
		}
		var reasons []string
		if d.Rollback {
			reasons = append(reasons, "rollback")
		}
		for _, mr := range d.MergeRequests {
			if mr.Rework {
				reasons = append(reasons, "ships rework MRs")
				break
			}
		}
		if len(reasons) == 0 {
			reasons = append(reasons, "rework")
		}
		r := views.DigestRework{
			Service:     d.Service,
			Environment: d.Environment,
			When:        d.FinishedAt.UTC().Format("Mon 2 Jan 15:04 UTC"),
			SHA:         shortSHA(d.SHA),
			Reasons:     strings.Join(reasons, ", "),
			URL:         ln.to("/deployments", d.Service),
			JobURL:      webURL(d.URL),
		}
		r.Failure = failureText(d, known)
		// The rework MRs first: they are why the deployment is listed.
		mrs := append([]metrics.MRRef(nil), d.MergeRequests...)
		sort.SliceStable(mrs, func(i, j int) bool { return mrs[i].Rework && !mrs[j].Rework })
		for j, mr := range mrs {
			if j == reworkMRsMax {
				r.MRs = append(r.MRs, views.DigestMRRef{Ref: "…", Title: fmt.Sprintf("and %d more", len(mrs)-reworkMRsMax)})
				break
			}
			r.MRs = append(r.MRs, views.DigestMRRef{Ref: "!" + strconv.FormatInt(mr.IID, 10), Title: mr.Title, URL: webURL(mr.URL), Rework: mr.Rework, Note: mrNote(mr)})
		}
		out = append(out, r)
	}
	return out, strings.TrimSpace(note), ln.to("/rework", "")
}

// failureText says which change failure a rework deployment blames (the engine's Blames: the
// deployment that first shipped an MR it reverts, else the one before it) and the recovery
// time, which counts to the first rework deployment that blames it.
func failureText(d metrics.Deployment, known map[int64]metrics.Deployment) string {
	if d.Blames == 0 {
		return ""
	}
	p, ok := known[d.Blames]
	if !ok {
		return fmt.Sprintf("Answers an earlier change failure (deployment %d).", d.Blames)
	}
	what := fmt.Sprintf("the change failure of %s (%s)", p.FinishedAt.UTC().Format("Mon 2 Jan 15:04 UTC"), shortSHA(p.SHA))
	if rev, target := revertOf(d, p); rev != 0 {
		what += fmt.Sprintf(", which shipped !%d (reverted by !%d)", target, rev)
	}
	if p.BlamedBy != 0 && p.BlamedBy != d.ID {
		s := "Answers " + what + " again"
		if first, ok := known[p.BlamedBy]; ok {
			s += fmt.Sprintf("; recovery counts to the first fix, %s", first.FinishedAt.UTC().Format("Mon 2 Jan 15:04 UTC"))
		}
		return s + "."
	}
	rec := int64(d.FinishedAt.Sub(p.FinishedAt).Seconds())
	if p.RecoverySeconds != nil {
		rec = *p.RecoverySeconds
	}
	return fmt.Sprintf("Answers %s, after %s.", what, views.Duration(rec))
}

// revertOf finds an MR that d ships and that reverts an MR p shipped: the reverting and the
// reverted IIDs, or zeros.
func revertOf(d, p metrics.Deployment) (rev, target int64) {
	shipped := map[int64]bool{}
	for _, mr := range p.MergeRequests {
		if mr.ProjectID == 0 || mr.ProjectID == p.ProjectID {
			shipped[mr.IID] = true
		}
	}
	for _, mr := range d.MergeRequests {
		for _, t := range mr.Reverts {
			if shipped[t] {
				return mr.IID, t
			}
		}
	}
	return 0, 0
}

// mrNote says what else a reader of the rework list needs about an MR a deployment shipped:
// that it went out before its merge, and which MRs it reverts.
func mrNote(mr metrics.MRRef) string {
	var parts []string
	if mr.BeforeMerge {
		parts = append(parts, "deployed before merge")
	}
	if len(mr.Reverts) > 0 {
		refs := make([]string, len(mr.Reverts))
		for i, iid := range mr.Reverts {
			refs[i] = "!" + strconv.FormatInt(iid, 10)
		}
		parts = append(parts, "reverts "+strings.Join(refs, ", "))
	}
	return strings.Join(parts, " · ")
}

// webURL keeps a URL from GitLab only if it is http or https: the digest links nothing else.
func webURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// keepSlowest keeps the n MRs with the longest cycle time, slowest first; ties go to the
// earlier delivery, then the lower IID, so the list is stable.
func keepSlowest(list []metrics.MergeRequest, mr metrics.MergeRequest, n int) []metrics.MergeRequest {
	list = append(list, mr)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.CycleSeconds != b.CycleSeconds {
			return a.CycleSeconds > b.CycleSeconds
		}
		if !a.DeliveredAt.Equal(b.DeliveredAt) {
			return a.DeliveredAt.Before(b.DeliveredAt)
		}
		if a.Project != b.Project {
			return a.Project < b.Project
		}
		return a.IID < b.IID
	})
	if len(list) > n {
		list = list[:n]
	}
	return list
}

// slowest lists the week's slowest MRs; names false leaves their authors out ([privacy]
// authors = false: a list of the slowest work with names is the ranking it forbids).
func slowest(list []metrics.MergeRequest, ln links, names bool) ([]views.DigestMR, string) {
	var out []views.DigestMR
	for _, mr := range list {
		author := mr.Author
		if !names {
			author = ""
		}
		stages := []string{
			"coding " + views.Duration(mr.CodingSeconds),
			"pickup " + views.Duration(mr.PickupSeconds),
			"review " + views.Duration(mr.ReviewSeconds),
		}
		switch {
		case mr.BeforeMerge:
			stages = append(stages, "deployed before merge")
		case mr.DeploySeconds != nil:
			stages = append(stages, "deploy "+views.Duration(*mr.DeploySeconds))
		default:
			stages = append(stages, "not deployed")
		}
		out = append(out, views.DigestMR{
			Ref:     mr.Project + "!" + strconv.FormatInt(mr.IID, 10),
			Title:   mr.Title,
			Author:  author,
			Service: mr.Service,
			Cycle:   views.Duration(mr.CycleSeconds),
			Stages:  strings.Join(stages, " · "),
			URL:     webURL(mr.URL),
			DashURL: ln.to("/merge-requests", mr.Service),
		})
	}
	return out, ln.to("/cycle-time", "")
}

func coverageMoves(tab figureTable, week Week, ln links) ([]views.DigestCoverage, string, string) {
	now := tab[week.String()]
	before := tab[week.Prev().String()]
	type move struct {
		service   string
		cur, prev float64
		hasPrev   bool
		delta     float64
	}
	var moves []move
	unchanged := 0
	for s, ms := range now {
		if s == metrics.AllServices {
			continue
		}
		f, ok := ms[metrics.CoveragePercent]
		if !ok {
			continue
		}
		mv := move{service: s, cur: f.Value}
		if p, ok := before[s][metrics.CoveragePercent]; ok {
			mv.prev, mv.hasPrev = p.Value, true
			mv.delta = f.Value - p.Value
			if math.Abs(mv.delta) < coverageMinDelta {
				unchanged++
				continue
			}
		}
		moves = append(moves, mv)
	}
	sort.Slice(moves, func(i, j int) bool {
		a, b := moves[i], moves[j]
		if a.hasPrev != b.hasPrev {
			return a.hasPrev // moves first, then services new to coverage
		}
		if math.Abs(a.delta) != math.Abs(b.delta) {
			return math.Abs(a.delta) > math.Abs(b.delta)
		}
		return a.service < b.service
	})
	more := 0
	if len(moves) > coverageListMax {
		more, moves = len(moves)-coverageListMax, moves[:coverageListMax]
	}
	var out []views.DigestCoverage
	for _, mv := range moves {
		c := views.DigestCoverage{Service: mv.service, After: views.Percent(mv.cur), URL: ln.to("/coverage", mv.service)}
		if mv.hasPrev {
			c.Before = views.Percent(mv.prev)
			c.Change = change(views.UnitPercent, mv.cur, mv.prev, true, "last week "+views.Percent(mv.prev))
		} else {
			c.Before = "—"
			c.Change = views.DigestChange{Text: "new"}
		}
		out = append(out, c)
	}
	note := ""
	switch {
	case len(out) == 0 && unchanged == 0:
		note = "No coverage was reported in this scope. Coverage comes from default-branch pipelines whose jobs report it (GitLab's coverage keyword)."
	case len(out) == 0:
		note = "Coverage held steady: " + plural(unchanged, "service", "services") + " unchanged."
	case unchanged > 0:
		note = plural(unchanged, "other service", "other services") + " unchanged."
	}
	if more > 0 {
		note = strings.TrimSpace(fmt.Sprintf("%d more moved less; the dashboard has them. %s", more, note))
	}
	return out, note, ln.to("/coverage", "")
}

func windowLabel(w *config.DeployWindow) string {
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	var days []string
	// Collapse runs of consecutive days: Mon–Fri.
	for i := 0; i < len(order); {
		if !w.Weekdays[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && w.Weekdays[order[j+1]] {
			j++
		}
		if j-i >= 2 {
			days = append(days, order[i].String()[:3]+"–"+order[j].String()[:3])
		} else {
			for k := i; k <= j; k++ {
				days = append(days, order[k].String()[:3])
			}
		}
		i = j + 1
	}
	loc := "UTC"
	if w.Location != nil {
		loc = w.Location.String()
	}
	return fmt.Sprintf("%s %s–%s %s", strings.Join(days, ", "), w.Start, w.End, loc)
}

func outOfWindow(this []metrics.Deployment, w *config.DeployWindow, ln links) *views.DigestWindow {
	// The deployments list filtered to those outside the window: the items this section counts.
	outsideOnly := url.Values{"outside_window": {"true"}}
	out := &views.DigestWindow{Window: windowLabel(w), URL: ln.with("/deployments", "", outsideOnly)}
	var outside []metrics.Deployment
	for _, d := range this {
		if d.OutOfWindow {
			outside = append(outside, d)
		}
	}
	if len(this) == 0 {
		out.Count = "No deployments this week."
		return out
	}
	out.Count = fmt.Sprintf("%d of %s finished outside it (%s).", len(outside), plural(len(this), "deployment", "deployments"),
		views.Format(views.UnitRatio, float64(len(outside))/float64(len(this))))
	sort.Slice(outside, func(i, j int) bool { return outside[i].FinishedAt.Before(outside[j].FinishedAt) })
	loc := w.Location
	if loc == nil {
		loc = time.UTC
	}
	for i, d := range outside {
		if i == windowListMax {
			out.More = fmt.Sprintf("And %d more.", len(outside)-windowListMax)
			break
		}
		out.Items = append(out.Items, views.DigestWindowItem{
			Service: d.Service,
			When:    d.FinishedAt.In(loc).Format("Mon 2 Jan 15:04 MST"),
			URL:     ln.with("/deployments", d.Service, outsideOnly),
		})
	}
	return out
}
