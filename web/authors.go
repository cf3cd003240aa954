package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// authorPages is /authors/{username}: one person's delivered MRs, the medians of their
// stages, and the reviews they gave on others' MRs. [privacy] authors = false turns it off.
type authorPages struct {
	cfg *config.Config
	r   *renderer
}

// authorRows is how many MRs and reviews the page lists; the MR list has them all.
const authorRows = 25

func (h *authorPages) show(c *echo.Context) error {
	if !h.cfg.Privacy.ShowAuthors() {
		return errAuthorsHidden
	}
	ctx := c.Request().Context()
	eng := engineOf(c)
	raw := c.Param("username")
	username, err := url.PathUnescape(raw)
	if err != nil || username == "" || len(username) > maxNameLen {
		return notFoundf("An author's page is /authors/{GitLab username}: the lists link to it.")
	}
	q, err := parseQuery(c.Request().URL.Query(), eng.Now())
	if err != nil {
		return err
	}
	if err := eng.Validate(ctx, q.Filter()); err != nil {
		return err
	}
	name, err := eng.Author(ctx, username)
	if errors.Is(err, metrics.ErrNotFound) {
		return notFoundf("Nobody called %q authored or reviewed an MR in the projects you can see.", truncate(username, 60))
	}
	if err != nil {
		return err
	}

	// Their MRs through the author's index: the latest for the table, all for the medians.
	var coding, pickup, review, deploy, cycle []int64
	mine := metrics.MRWhere{Author: name}
	latest, err := eng.MergeRequestPage(ctx, q.Filter(), metrics.MRList{Where: mine, Limit: authorRows})
	if err != nil {
		return err
	}
	if err := eng.EachMergeRequest(ctx, q.Filter(), metrics.MRList{Where: mine}, func(m *metrics.MergeRequest) error {
		coding, pickup, review, cycle = append(coding, m.CodingSeconds), append(pickup, m.PickupSeconds), append(review, m.ReviewSeconds), append(cycle, m.CycleSeconds)
		if m.DeploySeconds != nil {
			deploy = append(deploy, *m.DeploySeconds)
		}
		return nil
	}); err != nil {
		return err
	}
	delivered := len(cycle)
	reviews, total, err := eng.ReviewsBy(ctx, name, q.Filter(), authorRows)
	if err != nil {
		return err
	}
	approvals := 0
	all, _, err := eng.ReviewsBy(ctx, name, q.Filter(), total)
	if err != nil {
		return err
	}
	for _, r := range all {
		if r.Kind == "approved" {
			approvals++
		}
	}

	theirs := q.link("/merge-requests", "author", name)
	card := func(label string, v []int64, nOne, nMany, help, sort string) views.Card {
		c := views.Card{Label: label, Help: help, N: "no " + nMany}
		if len(v) > 0 {
			s := slices.Clone(v)
			slices.Sort(s)
			c.Value = views.Duration(metrics.Percentile(s, 50))
			c.N = "n = " + views.Plural(len(v), nOne, nMany)
			c.Href = q.link("/merge-requests", "author", name, "sort", sort)
		}
		return c
	}
	page := views.AuthorPage{
		Name:  name,
		Range: q.RangeLabel(),
		Note: "Their delivered MRs and the reviews they gave, over the page's range and filters. " +
			"A person's numbers depend on their team's way of working more than on them: use them to help, not to rank.",
		Cards: []views.Card{
			{Label: "MRs delivered", Value: views.Count(int64(delivered)), N: "n = " + views.Plural(delivered, "MR", "MRs"), Href: theirs, Help: "Merged MRs they authored that reached production (or merged, if never deployed)."},
			card("Cycle time (median)", cycle, "MR", "MRs", "First commit to production.", "slowest"),
			card("Coding (median)", coding, "MR", "MRs", "First commit to opened.", "coding"),
			card("Pickup (median)", pickup, "MR", "MRs", "Opened to first review.", "pickup"),
			card("Review (median)", review, "MR", "MRs", "First review to merge.", "review"),
			card("Deploy (median)", deploy, "deployed MR", "deployed MRs", "Merge to production.", "deploy"),
			{Label: "Reviews given", Value: views.Count(int64(total)), N: views.Plural(approvals, "approval", "approvals") + " · " + views.Plural(total-approvals, "comment", "comments"), Help: "Comments and approvals on others' MRs."},
		},
		MRs: views.MRTable{
			ID: "author-mrs", Title: "Their latest merge requests", Rows: mrRows(q, latest.Rows),
			Empty: views.Empty{Title: "No merge requests delivered in this range", Body: "Widen the range, or look at the reviews they gave below."},
		},
		Reviews: views.ReviewTable{ID: "author-reviews", Title: "Reviews they gave",
			Empty: views.Empty{Title: "No reviews in this range", Body: "No comment or approval on someone else's MR in the projects you can see. Widen the range."}},
	}
	if delivered > authorRows {
		page.MRs.More = views.Link{Label: "All " + views.Plural(delivered, "MR", "MRs"), Href: theirs}
	}
	for _, r := range reviews {
		kind := "comment"
		if r.Kind == "approved" {
			kind = "approval"
		}
		page.Reviews.Rows = append(page.Reviews.Rows, views.ReviewRow{
			At: formatTime(r.At, h.cfg.Location), Kind: kind, MR: r.Project + "!" + strconv.FormatInt(r.IID, 10), Title: r.Title,
			Href: timelineHref(r.ProjectID, r.IID), URL: externalURL(r.WebURL), MRAuthor: r.MRAuthor, AuthorHref: authorHref(q, r.MRAuthor),
		})
	}
	if total > len(reviews) {
		page.Reviews.Shown = "The latest " + strconv.Itoa(len(reviews)) + " of " + views.Plural(total, "review", "reviews") + "."
	}
	path := "/authors/" + url.PathEscape(name)
	m := h.r.meta(c, q, name, "")
	m.Filters.Action = path
	return h.r.page(c, http.StatusOK, m, views.AuthorView(page), q.link(path))
}
