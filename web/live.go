package web

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// The overview's headline figures and the sync status keep themselves up to date: they poll a
// section endpoint that answers 204 No Content (htmx then leaves the page alone) while what
// they show has not changed, and the new section when it has. A webhook's merge or deployment
// moves the facts' generation, so it shows within a poll of being fetched. Polling, not
// server-sent events: it passes every proxy, needs no connection held open per tab, and costs
// one read of the generation per tab and poll while nothing happens.

// overviewCards are the overview's headline cards.
func overviewCards(q *query, fs *figureSet) []views.Card {
	var cards []views.Card
	for _, cs := range []cardSpec{cycleCard(q), deploymentsCard(q), reworkCard(q), cfrCard(q), recoveryCard(q), unapprovedCard(q), coverageCard(q), mergedCard(q)} {
		cards = append(cards, fs.card(metrics.AllServices, cs))
	}
	return cards
}

// headlineVersion names what the headline figures are computed from: the facts' generation
// and the day (which period is the current one).
func headlineVersion(c *echo.Context) (string, error) {
	e := engineOf(c)
	gen, err := e.Generation(c.Request().Context())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%s", gen, e.Now().Format(time.DateOnly)), nil
}

// headlineURL is where the overview of q polls its headline figures.
func headlineURL(q *query, version string) string {
	return q.link("/overview/headline", "live", version)
}

// headlineSection is GET /overview/headline: the overview's headline cards alone, for the
// overview to swap in when the facts moved since the version it shows (live); 204 otherwise.
func (d *dashboard) headlineSection(c *echo.Context) error {
	q, err := requestQuery(c)
	if err != nil {
		return err
	}
	version, err := headlineVersion(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if c.QueryParam("live") == version {
		return c.NoContent(http.StatusNoContent)
	}
	if !isFragment(c.Request()) {
		return c.Redirect(http.StatusSeeOther, q.link("/"))
	}
	_, fs, err := d.load(c)
	if err != nil {
		return err
	}
	now, err := liveNow(c, q, fs)
	if err != nil {
		return err
	}
	return d.r.section(c, views.LiveCards(overviewCards(q, fs), now, headlineURL(q, version)))
}

// liveNow is the period still running, so far: its deployments and delivered MRs, and the
// last deployment. The cards show complete periods; this line is where a deployment that just
// happened shows. Nil when the range ended before today.
func liveNow(c *echo.Context, q *query, fs *figureSet) (*views.LiveNow, error) {
	var cur *period
	for i := range fs.periods {
		if fs.periods[i].running {
			cur = &fs.periods[i]
		}
	}
	if cur == nil {
		return nil, nil
	}
	all := metrics.AllServices
	count := func(metric string) int {
		f, ok := fs.get(*cur, all, metric)
		if !ok {
			return 0
		}
		return int(f.Value)
	}
	label := "So far this " + string(q.By) + " (" + fs.periodName(*cur) + ")"
	if q.By == metrics.Day {
		label = "So far today"
	}
	n := &views.LiveNow{Label: label,
		Deployments: views.Link{Label: views.Plural(count(metrics.Deployments), "production deployment", "production deployments"),
			Href: depLink(q)(*cur, all)},
		Delivered: views.Link{Label: views.Plural(count(metrics.MergedMRs), "MR delivered", "MRs delivered"), Href: mrLink(q)(*cur, all)},
	}
	var last *metrics.Deployment
	if err := engineOf(c).Deployments(c.Request().Context(), q.periodQuery(cur.start).Filter(), func(d *metrics.Deployment) error {
		if last == nil || !d.FinishedAt.Before(last.FinishedAt) {
			x := *d
			last = &x
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if last != nil {
		n.Last = formatTime(last.FinishedAt, displayZone(c)) + ", " + last.Project + " to " + last.Environment
	}
	return n, nil
}

// syncVersion names a sync-status page as rendered: a hash of its model.
func syncVersion(p views.SyncPage) string {
	p.Live = ""
	b, _ := json.Marshal(p)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// live is GET /sync/live: the sync status without the page around it, for the page to swap in
// when it changed since the version it shows (v); 204 otherwise.
func (h *syncStatus) live(c *echo.Context) error {
	p, err := h.model(c)
	if err != nil {
		return err
	}
	version := syncVersion(p)
	c.Response().Header().Set("Cache-Control", "no-store")
	if c.QueryParam("v") == version {
		return c.NoContent(http.StatusNoContent)
	}
	if !isFragment(c.Request()) {
		return c.Redirect(http.StatusSeeOther, "/sync")
	}
	p.Live = "/sync/live?v=" + version
	return h.r.section(c, views.SyncLive(p))
}
