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
	return d.r.section(c, views.LiveCards(overviewCards(q, fs), headlineURL(q, version)))
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
