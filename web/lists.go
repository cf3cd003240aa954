package web

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// itemLists is the drill-down area: the MRs and deployments behind any figure, with the same
// filters plus a predicate (rework=true, unapproved=true, weekday=1&hour=9 ...).
type itemLists struct {
	store *store.Store
	cfg   *config.Config
	r     *renderer
}

const (
	defaultListLimit = 100
	maxListLimit     = 2000
)

// mrPredicate is the MR list's extra conditions.
type mrPredicate struct {
	rework, unapproved, deployed *bool
	cycleMin, cycleMax           *int64 // seconds, [min, max)
	category                     string // an investment category, "" for any
	approvalsBelow               *int64 // fewer approvals than this
	author                       string // an author's username (any case), "" for any
	search                       search // q=
	sort                         string // one of mrSorts
	after                        string // the page's cursor, "" for the first page
	limit                        int
}

// mrSorts are the MR list's orders: sort= takes one of these keys.
var mrSorts = []sortOrder{
	{"recent", "delivered", "descending", "most recently delivered first"},
	{"oldest", "delivered", "ascending", "earliest delivered first"},
	{"slowest", "cycle", "descending", "slowest first"},
	{"fastest", "cycle", "ascending", "fastest first"},
	{"coding", "coding", "descending", "longest coding first"},
	{"pickup", "pickup", "descending", "longest pickup first"},
	{"review", "review", "descending", "longest review first"},
	{"deploy", "deploy", "descending", "longest deploy first"},
	{"title", "title", "ascending", "by title"},
	{"author", "author", "ascending", "by author"},
	{"service", "service", "ascending", "by service"},
}

func parseBool(v url.Values, key string) (*bool, error) {
	s := v.Get(key)
	switch s {
	case "":
		return nil, nil
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, badRequestf(key, "%s=%q is not a yes/no condition: use %s=true or %s=false, or leave it out.", key, truncate(s, 40), key, key)
}

func parseInt(v url.Values, key string, lo, hi int64) (*int64, error) {
	s := v.Get(key)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return nil, badRequestf(key, "%s=%q is not a whole number from %d to %d.", key, truncate(s, 40), lo, hi)
	}
	return &n, nil
}

func parseLimit(v url.Values) (int, error) {
	n, err := parseInt(v, "limit", 1, maxListLimit)
	if err != nil || n == nil {
		return defaultListLimit, err
	}
	return int(*n), nil
}

// parseMRPredicate reads the MR list's conditions; categories are the configured investment
// categories a category= condition must name; names is false when pages name no author
// ([privacy] authors = false): author= is then refused and q= does not search authors.
func parseMRPredicate(v url.Values, categories []string, names bool) (*mrPredicate, error) {
	p := &mrPredicate{sort: "recent"}
	var err error
	if a := strings.TrimSpace(v.Get("author")); a != "" {
		if !names {
			return nil, errAuthorsHidden
		}
		if len(a) > maxNameLen {
			return nil, badRequestf("author", "author=%.40q… is too long to be a username.", a)
		}
		p.author = a
	}
	if p.search, err = parseSearch(v, names); err != nil {
		return nil, err
	}
	if p.category, err = parseCategory(v, categories); err != nil {
		return nil, err
	}
	if p.approvalsBelow, err = parseInt(v, "approvals_below", 1, 100); err != nil {
		return nil, err
	}
	if p.rework, err = parseBool(v, "rework"); err != nil {
		return nil, err
	}
	if p.unapproved, err = parseBool(v, "unapproved"); err != nil {
		return nil, err
	}
	if p.deployed, err = parseBool(v, "deployed"); err != nil {
		return nil, err
	}
	if p.cycleMin, err = parseInt(v, "cycle_min", 0, 1<<40); err != nil {
		return nil, err
	}
	if p.cycleMax, err = parseInt(v, "cycle_max", 0, 1<<40); err != nil {
		return nil, err
	}
	if p.sort, err = parseSort(v, mrSorts); err != nil {
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

// parseAfter reads after=, the position a list's page starts after (the Next link of the page
// before names it; metrics checks it).
func parseAfter(v url.Values) (string, error) {
	s := v.Get("after")
	if len(s) > 2048 {
		return "", badRequestf("after", "after= is too long to be a page position: open the list's first page again.")
	}
	return s, nil
}

// parseCategory reads category=, one of the configured investment categories (its case
// need not match); "" when absent.
func parseCategory(v url.Values, categories []string) (string, error) {
	s := strings.TrimSpace(v.Get("category"))
	if s == "" {
		return "", nil
	}
	for _, c := range categories {
		if strings.EqualFold(c, s) {
			return c, nil
		}
	}
	quoted := make([]string, len(categories))
	for i, c := range categories {
		quoted[i] = strconv.Quote(c)
	}
	return "", badRequestf("category", "category=%q is not an investment category: use one of %s (the [[investment.category]] names of the config, or the built-in ones).",
		truncate(s, 40), strings.Join(quoted, ", "))
}

// where is the predicate as the metrics list conditions; the search is checked on each row.
func (p *mrPredicate) where() metrics.MRWhere {
	return metrics.MRWhere{Rework: p.rework, Unapproved: p.unapproved, Deployed: p.deployed, CycleMin: p.cycleMin,
		CycleMax: p.cycleMax, Category: p.category, ApprovalsBelow: p.approvalsBelow, Author: p.author}
}

// list is the predicate as a page of the metrics list.
func (p *mrPredicate) list() metrics.MRList {
	l := metrics.MRList{Where: p.where(), Sort: p.sort, After: p.after, Limit: p.limit}
	if len(p.search.terms) > 0 {
		l.Match = p.search.mr
	}
	return l
}

// describe lists the active conditions for people, each linking to the list without it.
func (p *mrPredicate) describe(q *query, v url.Values) []views.Link {
	var out []views.Link
	add := func(label string, keys ...string) {
		rest := mergeValues(q.Values(), v)
		for _, k := range keys {
			rest.Del(k)
		}
		out = append(out, views.Link{Label: label, Href: linkWith("/merge-requests", rest)})
	}
	yes := func(b *bool, t, f string, key string) {
		if b != nil {
			if *b {
				add(t, key)
			} else {
				add(f, key)
			}
		}
	}
	yes(p.rework, "rework MRs", "not rework", "rework")
	yes(p.unapproved, "merged without approval", "approved", "unapproved")
	yes(p.deployed, "deployed", "never deployed", "deployed")
	if p.cycleMin != nil || p.cycleMax != nil {
		label := "cycle time "
		switch {
		case p.cycleMin != nil && p.cycleMax != nil:
			label += views.Duration(*p.cycleMin) + " – " + views.Duration(*p.cycleMax)
		case p.cycleMin != nil:
			label += "≥ " + views.Duration(*p.cycleMin)
		default:
			label += "< " + views.Duration(*p.cycleMax)
		}
		add(label, "cycle_min", "cycle_max")
	}
	if p.category != "" {
		add("category "+p.category, "category")
	}
	if p.approvalsBelow != nil {
		label := "fewer than " + views.Plural(int(*p.approvalsBelow), "approval", "approvals")
		if *p.approvalsBelow == 1 {
			label = "no approval note before merge"
		}
		add(label, "approvals_below")
	}
	if p.author != "" {
		add("by "+p.author, "author")
	}
	return out
}

func (h *itemLists) query(c *echo.Context) (*query, url.Values, error) {
	v := c.Request().URL.Query()
	q, err := requestQuery(c)
	if err != nil {
		return nil, nil, err
	}
	if err := engineOf(c).Validate(c.Request().Context(), q.Filter()); err != nil {
		return nil, nil, err
	}
	return q, v, nil
}

func (h *itemLists) mergeRequests(c *echo.Context) error {
	q, v, err := h.query(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	eng := engineOf(c)
	names := h.cfg.Privacy.ShowAuthors()
	p, err := parseMRPredicate(v, eng.Categories(), names)
	if err != nil {
		return err
	}
	if p.author != "" {
		// The author must be someone the request may see, or the page says nobody is there.
		if _, err := eng.Author(ctx, p.author); errors.Is(err, metrics.ErrNotFound) {
			return notFoundf("Nobody called %q authored or reviewed an MR in the projects you can see.", truncate(p.author, 60))
		} else if err != nil {
			return err
		}
	}
	page, err := eng.MergeRequestPage(ctx, q.Filter(), p.list())
	if err != nil {
		return err
	}
	total, err := mrTotal(c, q, p, page.Offset+len(page.Rows), page.Next == "")
	if err != nil {
		return err
	}
	extra := predicateValues(v, "rework", "unapproved", "deployed", "cycle_min", "cycle_max", "category", "approvals_below", "author", "q", "sort")
	if p.category != "" {
		extra.Set("category", p.category) // the configured spelling
	}
	if p.sort == "recent" {
		extra.Del("sort")
	}
	base := mergeValues(q.Values(), extra)
	title := views.Plural(total, "merge request", "merge requests") + " delivered"
	if total < 0 {
		title = "Merge requests delivered matching “" + p.search.raw + "”"
	}
	page1 := views.MRListPage{
		Heading: "Merge requests",
		Search:  searchBox("/merge-requests", base, p.search.raw, mrSearchHelp(names)),
		Filters: p.describe(q, without(extra, "q", "sort")),
		Table: views.MRTable{
			ID: "mr-list", Title: title,
			Rows: h.mrRows(q, page.Rows), CSV: q.link("/export/merge-requests.csv"),
			Empty: views.Empty{Title: "No merge requests match", Body: "No merged MR was delivered in this range with these conditions. Widen the range, pick another service, or remove a condition above."},
			Sorts: sortHeads("/merge-requests", base, mrSorts, p.sort, "recent", names),
		},
		Shown: shownText(page.Offset, len(page.Rows), total) + ", " + sortLabel(mrSorts, p.sort) + " · " + q.RangeLabel(),
		Pager: pager("/merge-requests", base, v, page.Offset, p.limit, page.Next),
	}
	if p.search.raw != "" {
		page1.Table.Empty.Body = "No MR delivered in this range matches “" + p.search.raw + "”. The search looks at titles, " + searchFields(names) + "; try fewer words or a wider range."
	}
	m := h.r.meta(c, q, "Merge requests", views.NavMRs, hidden(extra)...)
	return h.r.page(c, http.StatusOK, m, views.MRListView(page1), listCanonical("/merge-requests", base, v))
}

// mrTotal is how many MRs the list holds: counted from the packed facts without a search; with
// one, known only once its last page is read (shown is the rows up to there), else -1.
func mrTotal(c *echo.Context, q *query, p *mrPredicate, shown int, last bool) (int, error) {
	if len(p.search.terms) == 0 {
		return engineOf(c).CountMergeRequests(c.Request().Context(), q.Filter(), p.where())
	}
	if last {
		return shown, nil
	}
	return -1, nil
}

// shownText says which rows a page shows: "Showing 100 of 2,345", "Showing 101–200 of 2,345",
// or without a known total "Showing 1–100".
func shownText(offset, rows, total int) string {
	if total >= 0 && offset == 0 {
		return "Showing " + views.Count(int64(rows)) + " of " + views.Count(int64(total))
	}
	span := views.Count(int64(offset+1)) + "–" + views.Count(int64(offset+rows))
	if rows == 0 {
		span = "none"
	}
	if total < 0 {
		return "Showing " + span
	}
	return "Showing " + span + " of " + views.Count(int64(total))
}

// pager links a list's page to the next one and back to the first.
func pager(path string, base, v url.Values, offset, limit int, next string) views.Pager {
	var out views.Pager
	rest := mergeValues(base, nil)
	if s := limitParam(v); s != "" {
		rest.Set("limit", s)
	}
	if next != "" {
		out.Next = linkWith(path, mergeValues(rest, nil), "after", next)
		out.NextLabel = "Next " + views.Count(int64(limit))
	}
	if offset > 0 {
		out.First = linkWith(path, rest)
	}
	return out
}

// listCanonical is a list page's own address (with its page size and position).
func listCanonical(path string, base, v url.Values) string {
	rest := mergeValues(base, nil)
	if s := limitParam(v); s != "" {
		rest.Set("limit", s)
	}
	if s := v.Get("after"); s != "" {
		rest.Set("after", s)
	}
	return linkWith(path, rest)
}

// mrRows formats MRs for a table, with the author links per-person views allow.
func (h *itemLists) mrRows(q *query, ms []*metrics.MergeRequest) []views.MRRow {
	rows := mrRows(q, ms)
	if !h.cfg.Privacy.ShowAuthors() {
		for i := range rows {
			rows[i].Author, rows[i].AuthorHref = "", ""
		}
	}
	return rows
}

func mrSearchHelp(names bool) string {
	return "Searches " + searchFields(names) + " and titles; !12 or 12 finds MR !12. Every word must match."
}

func searchFields(names bool) string {
	if names {
		return "authors, labels, source branches"
	}
	return "labels, source branches"
}

// predicateValues picks the list predicates out of the request's parameters.
func predicateValues(v url.Values, keys ...string) url.Values {
	out := url.Values{}
	for _, k := range keys {
		if s := v.Get(k); s != "" {
			out.Set(k, s)
		}
	}
	return out
}

func limitParam(v url.Values) string {
	if s := v.Get("limit"); s != "" {
		return s
	}
	return ""
}

func mergeValues(a, b url.Values) url.Values {
	out := url.Values{}
	for k, vs := range a {
		out[k] = append([]string(nil), vs...)
	}
	for k, vs := range b {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// hidden carries predicates through the filter form.
func hidden(v url.Values) []views.Hidden {
	var keys []string
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []views.Hidden
	for _, k := range keys {
		out = append(out, views.Hidden{Name: k, Value: v.Get(k)})
	}
	return out
}

// mrRows formats MRs for a table; each category links to the MRs of that category in q, each
// MR to its timeline, each author to their page (the views leave names out when [privacy]
// says so).
func mrRows(q *query, ms []*metrics.MergeRequest) []views.MRRow {
	out := make([]views.MRRow, 0, len(ms))
	for _, m := range ms {
		r := views.MRRow{
			Title:       m.Title,
			Href:        timelineHref(m.ProjectID, m.IID),
			URL:         externalURL(m.URL),
			Ref:         m.Project + "!" + strconv.FormatInt(m.IID, 10),
			Service:     m.Service,
			Author:      m.Author,
			AuthorHref:  authorHref(q, m.Author),
			Labels:      m.Labels,
			Merged:      formatTime(m.MergedAt, q.location()),
			Delivered:   formatTime(m.DeliveredAt, q.location()),
			Coding:      views.Duration(m.CodingSeconds),
			Pickup:      views.Duration(m.PickupSeconds),
			Review:      views.Duration(m.ReviewSeconds),
			Deploy:      "not deployed",
			Cycle:       views.Duration(m.CycleSeconds),
			Rework:      m.Rework,
			Unapproved:  m.Unapproved,
			Category:    m.Category,
			BeforeMerge: m.BeforeMerge,
		}
		if m.Category != "" {
			r.CategoryHref = q.link("/merge-requests", "category", m.Category)
		}
		if m.DeploySeconds != nil {
			r.Deploy = views.Duration(*m.DeploySeconds)
		}
		out = append(out, r)
	}
	return out
}
