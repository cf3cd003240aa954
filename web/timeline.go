package web

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// timelines is the per-MR area: /merge-requests/{project id}/{iid}, the MR's history on a time
// axis with the rule that decided each instant of its facts.
type timelines struct {
	cfg *config.Config
	r   *renderer
}

func (h *timelines) show(c *echo.Context) error {
	projectID, err1 := strconv.ParseInt(c.Param("project"), 10, 64)
	iid, err2 := strconv.ParseInt(c.Param("iid"), 10, 64)
	if err1 != nil || err2 != nil || projectID <= 0 || iid <= 0 {
		return notFoundf("An MR's page is /merge-requests/{GitLab project id}/{MR iid}, such as /merge-requests/42/7: the lists link to it.")
	}
	q, err := requestQuery(c) // with the display time zone
	if err != nil {
		return err
	}
	tl, err := engineOf(c).MRTimeline(c.Request().Context(), projectID, iid)
	if errors.Is(err, metrics.ErrNotFound) {
		return notFoundf("There is no merge request !%d in project %d among the projects you can see.", iid, projectID)
	}
	if err != nil {
		return err
	}
	page := timelinePage(q, tl, h.cfg.Privacy.ShowAuthors())
	m := h.r.meta(c, q, tl.Project+"!"+strconv.FormatInt(tl.IID, 10), views.NavMRs)
	return h.r.page(c, http.StatusOK, m, views.TimelineView(page), "")
}

// timelinePage formats a timeline; names false leaves every person out.
func timelinePage(q *query, tl *metrics.Timeline, names bool) views.TimelinePage {
	// Every instant in the display time zone, named ("2026-03-03 11:30 CET"), as on every page.
	loc := q.location()
	at := func(t time.Time) string { return formatTime(t, loc) }
	who := func(s string) string {
		if !names {
			return ""
		}
		return s
	}
	p := views.TimelinePage{
		Title: tl.Title, Ref: tl.Project + "!" + strconv.FormatInt(tl.IID, 10), URL: externalURL(tl.WebURL),
		ProjectURL: externalURL(tl.ProjectURL), Author: who(tl.Author), Labels: tl.Labels, State: tl.State, Excluded: tl.Excluded,
		Back: views.Link{Label: "← Merge requests", Href: q.link("/merge-requests")},
	}
	if names {
		p.AuthorHref = authorHref(q, tl.Author)
	}
	f := tl.Facts
	if f != nil {
		p.Service, p.Category = f.Service, f.Category
		if f.Category != "" {
			p.CatHref = q.link("/merge-requests", "category", f.Category)
		}
		p.Cycle = views.Duration(f.CycleSeconds)
		if f.Rework {
			p.Badges = append(p.Badges, "rework")
		}
		if f.Unapproved {
			p.Badges = append(p.Badges, "unapproved")
		}
		if f.BeforeMerge {
			p.Badges = append(p.Badges, "before-merge")
		}
		reviewEnd := f.MergedAt
		if f.BeforeMerge && f.DeployedAt != nil {
			reviewEnd = *f.DeployedAt
		}
		pickupEnd := reviewEnd
		if f.FirstReviewAt != nil && !f.FirstReviewAt.After(reviewEnd) {
			pickupEnd = *f.FirstReviewAt
		}
		share := func(s int64) string {
			if f.CycleSeconds <= 0 {
				return "–"
			}
			return strconv.FormatFloat(100*float64(s)/float64(f.CycleSeconds), 'f', 0, 64) + "%"
		}
		p.Stages = []views.TimelineStage{
			{Name: "Coding", Duration: views.Duration(f.CodingSeconds), From: "first commit " + at(f.FirstCommitAt), To: "opened " + at(f.CreatedAt), Class: "s0", Share: share(f.CodingSeconds), Rule: "first commit: " + tl.FirstCommitRule},
			{Name: "Pickup", Duration: views.Duration(f.PickupSeconds), From: "opened " + at(f.CreatedAt), To: endName(f, pickupEnd) + " " + at(pickupEnd), Class: "s1", Share: share(f.PickupSeconds), Rule: tl.ReviewRule},
			{Name: "Review", Duration: views.Duration(f.ReviewSeconds), From: endName(f, pickupEnd) + " " + at(pickupEnd), To: endName(f, reviewEnd) + " " + at(reviewEnd), Class: "s2", Share: share(f.ReviewSeconds), Rule: "ends: " + tl.ReviewEndRule},
		}
		deploy := views.TimelineStage{Name: "Deploy", Duration: "not deployed", From: "merged " + at(f.MergedAt), To: "–", Class: "s3", Share: "–", Rule: tl.DeployRule}
		if f.DeploySeconds != nil && f.DeployedAt != nil {
			deploy.Duration, deploy.To, deploy.Share = views.Duration(*f.DeploySeconds), "in production "+at(*f.DeployedAt), share(*f.DeploySeconds)
			if f.BeforeMerge {
				deploy.From = "deployed before merge"
			}
		}
		p.Stages = append(p.Stages, deploy)
	}
	p.Instants = timelineInstants(tl, who, at)
	p.Chart = timelineChart(tl, loc)
	return p
}

// endName names the instant a stage ends at.
func endName(f *metrics.MergeRequest, at time.Time) string {
	switch {
	case f.FirstReviewAt != nil && at.Equal(*f.FirstReviewAt):
		return "first review"
	case f.BeforeMerge && f.DeployedAt != nil && at.Equal(*f.DeployedAt):
		return "in production"
	}
	return "merged"
}

type instant struct {
	at time.Time
	views.TimelineInstant
}

// timelineInstants lists every event with the rule that decided it, in time order.
func timelineInstants(tl *metrics.Timeline, who func(string) string, format func(time.Time) string) []views.TimelineInstant {
	var out []instant
	add := func(at time.Time, i views.TimelineInstant) {
		i.At = format(at)
		out = append(out, instant{at, i})
	}
	for _, cm := range tl.Commits {
		i := views.TimelineInstant{Event: "commit " + shortSHA(cm.SHA), Rule: "a later commit", Link: views.Link{Href: commitURL(tl.ProjectURL, cm.SHA)}}
		if cm.Earliest {
			i.Rule, i.Counted = "first commit: "+tl.FirstCommitRule, tl.FirstCommitRule == metrics.RuleEarliestCommit
		}
		add(cm.AuthoredAt, i)
	}
	opened := views.TimelineInstant{Event: "opened", Who: who(tl.Author), Rule: "coding ends, pickup starts", Counted: true, Link: views.Link{Href: externalURL(tl.WebURL)}}
	if tl.FirstCommitRule != metrics.RuleEarliestCommit {
		opened.Rule = "first commit and opened: " + tl.FirstCommitRule
	}
	add(tl.CreatedAt, opened)
	for _, n := range tl.Notes {
		ev := map[string]string{"comment": "comment", "approved": "approval", "unapproved": "approval withdrawn"}[n.Kind]
		i := views.TimelineInstant{Event: ev, Who: who(n.Author), Rule: n.Rule, Counted: n.Counts}
		if n.First {
			i.Event = "first review (" + ev + ")"
			i.Rule = "first review: " + tl.ReviewRule
		}
		add(n.At, i)
	}
	if tl.MergedAt != nil {
		add(*tl.MergedAt, views.TimelineInstant{Event: "merged", Rule: "review ends: " + tl.ReviewEndRule, Counted: true})
	}
	for _, d := range tl.Deployments {
		ev := "deployment #" + strconv.FormatInt(d.ID, 10) + " to " + d.Environment
		rule := d.Rule
		if d.Delivered {
			rule = "in production, deploy stage ends: " + rule
		} else if d.Counted {
			rule = "shipped it to " + d.Environment + " (a later environment than the first): " + rule
		}
		add(d.FinishedAt, views.TimelineInstant{Event: ev, Rule: rule, Counted: d.Counted, Link: views.Link{Href: externalURL(d.URL)}})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	res := make([]views.TimelineInstant, len(out))
	for i, o := range out {
		res[i] = o.TimelineInstant
	}
	return res
}

func shortSHA(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

// The time axis's geometry.
const (
	tlWidth = 880
	tlLeft  = 110
	tlRight = 860
)

// timelineChart places the MR's instants on a linear time axis, its times read in loc.
func timelineChart(tl *metrics.Timeline, loc *time.Location) views.TimelineChart {
	when := func(t time.Time) string { return formatTime(t, loc) }
	var all []time.Time
	for _, cm := range tl.Commits {
		all = append(all, cm.AuthoredAt)
	}
	all = append(all, tl.CreatedAt)
	if tl.MergedAt != nil {
		all = append(all, *tl.MergedAt)
	}
	for _, n := range tl.Notes {
		all = append(all, n.At)
	}
	for _, d := range tl.Deployments {
		all = append(all, d.FinishedAt)
	}
	lo, hi := all[0], all[0]
	for _, t := range all {
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
	}
	span := hi.Sub(lo)
	if span < time.Hour {
		span = time.Hour
		hi = lo.Add(span)
	}
	pad := span / 40
	lo, hi = lo.Add(-pad), hi.Add(pad)
	x := func(t time.Time) int {
		return tlLeft + int(float64(tlRight-tlLeft)*float64(t.Sub(lo))/float64(hi.Sub(lo))+0.5)
	}
	c := views.TimelineChart{Width: tlWidth, Left: tlLeft, Right: tlRight}
	y := 14
	if f := tl.Facts; f != nil {
		reviewEnd := f.MergedAt
		if f.BeforeMerge && f.DeployedAt != nil {
			reviewEnd = *f.DeployedAt
		}
		pickupEnd := reviewEnd
		if f.FirstReviewAt != nil && !f.FirstReviewAt.After(reviewEnd) {
			pickupEnd = *f.FirstReviewAt
		}
		band := func(name, class string, from, to time.Time, secs int64) {
			b := views.TimelineBand{X: x(from), Y: y, H: 20, Class: class, Title: name + ": " + views.Duration(secs) + " (" + when(from) + " → " + when(to) + ")"}
			b.W = max(x(to)-b.X, 2)
			if b.W > 8*len(name) {
				b.Label, b.TextX = name, b.X+b.W/2
			}
			c.Bands = append(c.Bands, b)
		}
		band("coding", "s0", f.FirstCommitAt, f.CreatedAt, f.CodingSeconds)
		band("pickup", "s1", f.CreatedAt, pickupEnd, f.PickupSeconds)
		band("review", "s2", pickupEnd, reviewEnd, f.ReviewSeconds)
		if f.DeployedAt != nil && !f.BeforeMerge {
			band("deploy", "s3", f.MergedAt, *f.DeployedAt, *f.DeploySeconds)
		}
		y += 44
	} else {
		y += 16
	}
	lane := func(label string) *views.TimelineLane {
		c.Lanes = append(c.Lanes, views.TimelineLane{Label: label, Y: y})
		y += 32
		return &c.Lanes[len(c.Lanes)-1]
	}
	commits := lane("commits")
	for _, cm := range tl.Commits {
		commits.Marks = append(commits.Marks, views.TimelineMark{X: x(cm.AuthoredAt), Class: "commit", Faint: !cm.Earliest,
			Title: "commit " + shortSHA(cm.SHA) + " · " + when(cm.AuthoredAt)})
	}
	mr := lane("merge request")
	mr.Marks = append(mr.Marks, views.TimelineMark{X: x(tl.CreatedAt), Class: "opened", Title: "opened · " + when(tl.CreatedAt)})
	if tl.MergedAt != nil {
		mr.Marks = append(mr.Marks, views.TimelineMark{X: x(*tl.MergedAt), Class: "merged", Title: "merged · " + when(*tl.MergedAt)})
	}
	reviews := lane("reviews")
	for _, n := range tl.Notes {
		reviews.Marks = append(reviews.Marks, views.TimelineMark{X: x(n.At), Class: n.Kind, Faint: !n.Counts,
			Title: n.Kind + " · " + when(n.At) + " · " + n.Rule})
	}
	deps := lane("deployments")
	for _, d := range tl.Deployments {
		deps.Marks = append(deps.Marks, views.TimelineMark{X: x(d.FinishedAt), Class: "deployment", Faint: !d.Counted,
			Title: "deployment #" + strconv.FormatInt(d.ID, 10) + " to " + d.Environment + " · " + when(d.FinishedAt) + " · " + d.Rule})
	}
	c.AxisY = y - 12
	c.Height = c.AxisY + 24
	for i := 0; i <= 4; i++ {
		t := lo.Add(time.Duration(float64(hi.Sub(lo)) * float64(i) / 4))
		layout := "2 Jan 15:04"
		if hi.Sub(lo) > 4*24*time.Hour {
			layout = "2 Jan"
		}
		c.Ticks = append(c.Ticks, views.TimelineTick{X: x(t), Label: t.In(loc).Format(layout)})
	}
	var parts []string
	parts = append(parts, views.Plural(len(tl.Commits), "commit", "commits"), "opened "+when(tl.CreatedAt))
	if tl.MergedAt != nil {
		parts = append(parts, "merged "+when(*tl.MergedAt))
	}
	parts = append(parts, views.Plural(len(tl.Notes), "note", "notes"), views.Plural(len(tl.Deployments), "production deployment", "production deployments"))
	c.Summary = "Timeline of " + tl.Project + "!" + strconv.FormatInt(tl.IID, 10) + ": " + strings.Join(parts, ", ") + ". The table below lists every instant."
	return c
}
