package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// depPredicate is the deployment list's extra conditions.
type depPredicate struct {
	rework, rollback, changeFailure, outside *bool
	weekday, hour                            *int64
	id                                       *int64 // one deployment, by GitLab id
	search                                   search // q=
	sort                                     string // one of deploymentSorts
	after                                    string // the page's cursor, "" for the first page
	limit                                    int
}

// deploymentSorts are the deployment list's orders.
var deploymentSorts = []sortOrder{
	{"recent", "finished", "descending", "most recent first"},
	{"oldest", "finished", "ascending", "oldest first"},
	{"service", "service", "ascending", "by service"},
	{"environment", "environment", "ascending", "by environment"},
	{"mrs", "mrs", "descending", "most MRs first"},
	{"recovery", "recovery", "descending", "longest recovery first"},
}

func parseDepPredicate(v url.Values, cfg *config.Config) (*depPredicate, error) {
	p := &depPredicate{}
	var err error
	if p.search, err = parseSearch(v, false); err != nil {
		return nil, err
	}
	if p.sort, err = parseSort(v, deploymentSorts); err != nil {
		return nil, err
	}
	if p.rework, err = parseBool(v, "rework"); err != nil {
		return nil, err
	}
	if p.rollback, err = parseBool(v, "rollback"); err != nil {
		return nil, err
	}
	if p.changeFailure, err = parseBool(v, "change_failure"); err != nil {
		return nil, err
	}
	if p.outside, err = parseBool(v, "outside_window"); err != nil {
		return nil, err
	}
	if p.outside != nil && cfg.DeployWindow == nil {
		return nil, badRequestf("outside_window", "No deploy window is configured, so no deployment is outside it. Add a [deploy_window] to the config file (see docs/configuration.md).")
	}
	if p.weekday, err = parseInt(v, "weekday", 0, 6); err != nil {
		return nil, err
	}
	if p.hour, err = parseInt(v, "hour", 0, 23); err != nil {
		return nil, err
	}
	if p.id, err = parseInt(v, "id", 1, 1<<53); err != nil {
		return nil, err
	}
	if p.limit, err = parseLimit(v); err != nil {
		return nil, err
	}
	if p.after, err = parseAfter(v); err != nil {
		return nil, err
	}
	return p, nil
}

// list is the predicate as a page of the metrics list (weekday and hour in the display zone);
// the search is checked on each row.
func (p *depPredicate) list(cfg *config.Config) metrics.DeploymentList {
	l := metrics.DeploymentList{Where: metrics.DeploymentWhere{Rework: p.rework, Rollback: p.rollback,
		ChangeFailure: p.changeFailure, OutOfWindow: p.outside, ID: p.id},
		Location: cfg.Location, Sort: p.sort, After: p.after, Limit: p.limit}
	if p.weekday != nil {
		l.Where.Weekday = ptr(int(*p.weekday))
	}
	if p.hour != nil {
		l.Where.Hour = ptr(int(*p.hour))
	}
	if len(p.search.terms) > 0 {
		l.Match = p.search.deployment
	}
	return l
}

func (p *depPredicate) describe(q *query, v url.Values, loc *time.Location) []views.Link {
	var out []views.Link
	add := func(label string, keys ...string) {
		rest := mergeValues(q.Values(), v)
		for _, k := range keys {
			rest.Del(k)
		}
		out = append(out, views.Link{Label: label, Href: linkWith("/deployments", rest)})
	}
	yes := func(b *bool, t, f, key string) {
		if b != nil {
			if *b {
				add(t, key)
			} else {
				add(f, key)
			}
		}
	}
	yes(p.rework, "rework deployments", "not rework", "rework")
	yes(p.rollback, "rollbacks", "not rollbacks", "rollback")
	yes(p.changeFailure, "change failures", "not change failures", "change_failure")
	yes(p.outside, "outside the deploy window", "inside the deploy window", "outside_window")
	if p.weekday != nil {
		add("on "+time.Weekday(*p.weekday).String()+"s", "weekday")
	}
	if p.hour != nil {
		add("at "+strconv.FormatInt(*p.hour, 10)+":00–"+strconv.FormatInt(*p.hour, 10)+":59 "+loc.String(), "hour")
	}
	if p.id != nil {
		add("deployment "+strconv.FormatInt(*p.id, 10), "id")
	}
	return out
}

func (h *itemLists) deployments(c *echo.Context) error {
	q, v, err := h.query(c)
	if err != nil {
		return err
	}
	p, err := parseDepPredicate(v, h.cfg)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	eng := engineOf(c)
	l := p.list(h.cfg)
	page, err := eng.DeploymentPage(ctx, q.Filter(), l)
	if err != nil {
		return err
	}
	total := -1
	switch {
	case l.Match == nil:
		if total, err = eng.CountDeployments(ctx, q.Filter(), l.Where, h.cfg.Location); err != nil {
			return err
		}
	case page.Next == "":
		total = page.Offset + len(page.Rows)
	}
	extra := predicateValues(v, "rework", "rollback", "change_failure", "outside_window", "weekday", "hour", "id", "q", "sort")
	if p.sort == "recent" {
		extra.Del("sort")
	}
	base := mergeValues(q.Values(), extra)
	title := views.Plural(total, "production deployment", "production deployments")
	if total < 0 {
		title = "Production deployments matching “" + p.search.raw + "”"
	}
	list := views.DeploymentListPage{
		Heading: "Deployments",
		Search: searchBox("/deployments", base, p.search.raw,
			"Searches commits (a SHA prefix), environments, branches and tags, services and the titles of the MRs shipped; !12 finds the deployments that shipped MR !12. Every word must match."),
		Filters: p.describe(q, without(extra, "q", "sort"), h.cfg.Location),
		Table: views.DeploymentTable{
			ID: "deployment-list", Title: title,
			Rows: deploymentRows(page.Rows, h.cfg, projectURLs(c, h.store), pageFailures(page.Rows)), CSV: q.link("/export/deployments.csv"),
			Empty: noDeployments(),
			Sorts: sortHeads("/deployments", base, deploymentSorts, p.sort, "recent", true),
		},
		Shown: shownText(page.Offset, len(page.Rows), total) + ", " + sortLabel(deploymentSorts, p.sort) + " · " + q.RangeLabel(),
		Pager: pager("/deployments", base, v, page.Offset, p.limit, page.Next),
	}
	if len(without(extra, "sort")) > 0 {
		list.Table.Empty = views.Empty{Title: "No deployments match", Body: "No successful production deployment in this range meets these conditions. Widen the range or remove a condition above."}
	}
	m := h.r.meta(c, q, "Deployments", views.NavDeploys, hidden(extra)...)
	return h.r.page(c, http.StatusOK, m, views.DeploymentListView(list), listCanonical("/deployments", base, v))
}

// pageFailures are the change failures among a page's deployments, for the links of rework
// deployments to the deployment they blame (facts give its finish time; this is the fallback).
func pageFailures(ds []*metrics.Deployment) failureTimes {
	f := failureTimes{}
	for _, d := range ds {
		f.add(d)
	}
	return f
}

// projectURLs are the projects' GitLab web URLs by project id, for links to their commits.
// The links are a convenience: if the projects cannot be read, the rows go without them. Only
// the projects the request may see are read.
func projectURLs(c *echo.Context, st *store.Store) map[int64]string {
	out := map[int64]string{}
	if st == nil {
		return out
	}
	ps, err := st.Projects(c.Request().Context())
	if err != nil {
		return out
	}
	scope := viewOf(c).scope
	for _, p := range ps {
		if scope.Sees(p.ID) {
			out[p.ID] = p.WebURL
		}
	}
	return out
}

// deploymentRows formats deployments for a table. projects are the projects' web URLs, for
// the link to each deployed commit: a deployment created through the API has no job to link
// to, and its commit is then its way into GitLab.
// failures are the finish times of change failures seen, for the link from a rework
// deployment to the one it blames.
func deploymentRows(ds []*metrics.Deployment, cfg *config.Config, projects map[int64]string, failures failureTimes) []views.DeploymentRow {
	out := make([]views.DeploymentRow, 0, len(ds))
	for _, d := range ds {
		sha := d.SHA
		if len(sha) > 8 {
			sha = sha[:8]
		}
		r := views.DeploymentRow{
			Service:       d.Service,
			Project:       d.Project,
			Environment:   d.Environment,
			SHA:           sha,
			Finished:      formatTime(d.FinishedAt, cfg.Location),
			URL:           externalURL(d.URL),
			CommitURL:     commitURL(projects[d.ProjectID], d.SHA),
			Rework:        d.Rework,
			Rollback:      d.Rollback,
			ChangeFailure: d.ChangeFailure,
			OutOfWindow:   cfg.DeployWindow != nil && outsideWindow(d.FinishedAt, cfg.DeployWindow),
			Ref:           d.Ref,
		}
		if d.RecoverySeconds != nil {
			r.Recovery = views.Duration(*d.RecoverySeconds)
		}
		if d.BlamedBy != 0 {
			r.BlamedBy = blamedByLink(d, cfg.Location)
		}
		if d.Blames != 0 {
			r.Blames = blamesLink(d, failures, cfg.Location)
		}
		for _, m := range d.MergeRequests {
			l := views.MRLink{Label: "!" + strconv.FormatInt(m.IID, 10), Title: m.Title, Href: timelineHref(m.ProjectID, m.IID),
				URL: externalURL(m.URL), Rework: m.Rework, BeforeMerge: m.BeforeMerge}
			for _, iid := range m.Reverts {
				l.Reverts = append(l.Reverts, "!"+strconv.FormatInt(iid, 10))
			}
			r.MRs = append(r.MRs, l)
		}
		out = append(out, r)
	}
	return out
}

// commitURL is the GitLab page of commit sha in the project at web, or "" when either is
// unknown or the project's URL is not http(s).
func commitURL(web, sha string) string {
	web = externalURL(web)
	if web == "" || sha == "" || strings.ContainsAny(sha, "/?#%") {
		return ""
	}
	return strings.TrimSuffix(web, "/") + "/-/commit/" + url.PathEscape(sha)
}

// externalURL keeps a link from GitLab only if it is http(s): the text comes from the API and
// is not trusted to be harmless.
func externalURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// outsideWindow says whether t falls outside the deploy window, as the metrics count it.
// Without a window nothing is outside.
func outsideWindow(t time.Time, w *config.DeployWindow) bool {
	return w != nil && !w.Contains(t)
}

// windowDescription is the deploy window for people: "Mon–Fri 09:00–17:30 (Europe/Paris)".
func windowDescription(w *config.DeployWindow) string {
	var days []string
	for d := time.Monday; d <= time.Saturday+1; d++ {
		wd := d % 7
		if w.Weekdays[wd] {
			days = append(days, wd.String()[:3])
		}
	}
	loc := "UTC"
	if w.Location != nil {
		loc = w.Location.String()
	}
	return strings.Join(days, ", ") + " " + w.Start + "–" + w.End + " (" + loc + ")"
}

// noDeployments explains an empty deployment view: how production deployments reach Pacer.
func noDeployments() views.Empty {
	return views.Empty{
		Title: "No production deployments in this range",
		Body: "Pacer counts successful deployments to production environments: environments whose GitLab deployment tier is production, " +
			"or, when GitLab gives no tier, whose name matches production.environments in the config (by default production or prod). " +
			"Declare the environment in the deploy job of .gitlab-ci.yml, run it, and the next sync picks it up:",
		Code: "deploy:\n  stage: deploy\n  script: ./deploy.sh\n  environment:\n    name: production\n    deployment_tier: production\n  rules:\n    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
		Link: views.Link{Label: "GitLab documentation: environments and deployments", Href: "https://docs.gitlab.com/ci/environments/"},
	}
}

// failureTimes are change failures' finish times by deployment id.
type failureTimes map[int64]time.Time

func (f failureTimes) add(d *metrics.Deployment) {
	if d.ChangeFailure {
		f[d.ID] = d.FinishedAt
	}
}

// deploymentLink is the deployment list narrowed to one deployment, over the days it may
// have finished on (the list reads a range; the id picks the one).
func deploymentLink(id int64, from, to time.Time) views.Link {
	v := url.Values{}
	v.Set("period", customPeriod)
	v.Set("from", dateOf(from).Format(time.DateOnly))
	v.Set("to", dateOf(to).Format(time.DateOnly))
	v.Set("id", strconv.FormatInt(id, 10))
	return views.Link{Label: "#" + strconv.FormatInt(id, 10), Href: linkWith("/deployments", v)}
}

// blamedByLink leads from a change failure to the rework deployment that blamed it: the first
// one, which is also the one its recovery time runs to, so its day is known.
func blamedByLink(d *metrics.Deployment, loc *time.Location) views.Link {
	at := d.FinishedAt
	if d.RecoverySeconds != nil {
		at = at.Add(time.Duration(*d.RecoverySeconds) * time.Second)
	}
	l := deploymentLink(d.BlamedBy, at, at)
	if d.RecoverySeconds != nil {
		l.Label += " (" + formatTime(at, loc) + ")"
	}
	return l
}

// blamesLink leads from a rework deployment to the deployment it blames, on the day that one
// finished (the engine gives it; failures and a 90-day window are the fallback for facts derived
// before it did).
func blamesLink(d *metrics.Deployment, failures failureTimes, loc *time.Location) views.Link {
	if d.BlamesAt != nil {
		at := *d.BlamesAt
		l := deploymentLink(d.Blames, at, at)
		l.Label += " (" + formatTime(at, loc) + ")"
		return l
	}
	if at, ok := failures[d.Blames]; ok {
		l := deploymentLink(d.Blames, at, at)
		l.Label += " (" + formatTime(at, loc) + ")"
		return l
	}
	return deploymentLink(d.Blames, d.FinishedAt.AddDate(0, 0, -90), d.FinishedAt)
}
