package web

import (
	"container/heap"
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
	return p, nil
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

func (p *mrPredicate) match(m *metrics.MergeRequest) bool {
	if p.author != "" && !strings.EqualFold(m.Author, p.author) {
		return false
	}
	if !p.search.mr(m) {
		return false
	}
	if p.category != "" && m.Category != p.category {
		return false
	}
	if p.approvalsBelow != nil && int64(m.Approvals) >= *p.approvalsBelow {
		return false
	}
	if p.rework != nil && m.Rework != *p.rework {
		return false
	}
	if p.unapproved != nil && m.Unapproved != *p.unapproved {
		return false
	}
	if p.deployed != nil && (m.DeployedAt != nil) != *p.deployed {
		return false
	}
	if p.cycleMin != nil && m.CycleSeconds < *p.cycleMin {
		return false
	}
	if p.cycleMax != nil && m.CycleSeconds >= *p.cycleMax {
		return false
	}
	return true
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

// mrCollector keeps the MRs a table shows while they stream past: the most recent or the
// slowest `limit`, so memory is bounded by the page, not by the range.
type mrCollector struct {
	limit   int
	slowest bool
	// order, when set (a key of mrSorts other than recent), keeps the first `limit` in that
	// order instead.
	order  string
	sorted sortedMRs
	total  int
	recent []*metrics.MergeRequest // ring of the last `limit`, in delivery order
	next   int
	slow   mrHeap
}

func (c *mrCollector) add(m *metrics.MergeRequest) {
	c.total++
	if c.order != "" && c.order != "recent" {
		c.sorted.add(m, c.order, c.limit)
		return
	}
	if c.slowest {
		if c.slow.Len() < c.limit {
			heap.Push(&c.slow, m)
		} else if m.CycleSeconds > c.slow[0].CycleSeconds {
			c.slow[0] = m
			heap.Fix(&c.slow, 0)
		}
		return
	}
	if len(c.recent) < c.limit {
		c.recent = append(c.recent, m)
		return
	}
	c.recent[c.next] = m
	c.next = (c.next + 1) % c.limit
}

// rows returns the kept MRs: slowest first, or most recent first.
func (c *mrCollector) rows() []*metrics.MergeRequest {
	if c.order != "" && c.order != "recent" {
		return c.sorted.rows(c.order)
	}
	if c.slowest {
		out := append([]*metrics.MergeRequest(nil), c.slow...)
		sort.Slice(out, func(i, j int) bool { return out[i].CycleSeconds > out[j].CycleSeconds })
		return out
	}
	out := make([]*metrics.MergeRequest, 0, len(c.recent))
	for i := range c.recent {
		out = append(out, c.recent[(c.next+len(c.recent)-1-i)%len(c.recent)])
	}
	return out
}

type mrHeap []*metrics.MergeRequest

func (h mrHeap) Len() int           { return len(h) }
func (h mrHeap) Less(i, j int) bool { return h[i].CycleSeconds < h[j].CycleSeconds }
func (h mrHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *mrHeap) Push(x any)        { *h = append(*h, x.(*metrics.MergeRequest)) }
func (h *mrHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
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
	names := h.cfg.Privacy.ShowAuthors()
	p, err := parseMRPredicate(v, engineOf(c).Categories(), names)
	if err != nil {
		return err
	}
	if p.author != "" {
		// The author must be someone the request may see, or the page says nobody is there.
		if _, err := engineOf(c).Author(c.Request().Context(), p.author); errors.Is(err, metrics.ErrNotFound) {
			return notFoundf("Nobody called %q authored or reviewed an MR in the projects you can see.", truncate(p.author, 60))
		} else if err != nil {
			return err
		}
	}
	col := &mrCollector{limit: p.limit, order: p.sort}
	if err := engineOf(c).MergeRequests(c.Request().Context(), q.Filter(), func(m *metrics.MergeRequest) error {
		if p.match(m) {
			col.add(m)
		}
		return nil
	}); err != nil {
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
	page := views.MRListPage{
		Heading: "Merge requests",
		Search:  searchBox("/merge-requests", base, p.search.raw, mrSearchHelp(names)),
		Filters: p.describe(q, without(extra, "q", "sort")),
		Table: views.MRTable{
			ID: "mr-list", Title: views.Plural(col.total, "merge request", "merge requests") + " delivered",
			Rows: h.mrRows(q, col.rows()), CSV: q.link("/export/merge-requests.csv"),
			Empty: views.Empty{Title: "No merge requests match", Body: "No merged MR was delivered in this range with these conditions. Widen the range, pick another service, or remove a condition above."},
			Sorts: sortHeads("/merge-requests", base, mrSorts, p.sort, "recent", names),
		},
		Shown: "Showing " + views.Count(int64(min(col.total, p.limit))) + " of " + views.Count(int64(col.total)) + ", " + sortLabel(mrSorts, p.sort) + " · " + q.RangeLabel(),
	}
	if p.search.raw != "" {
		page.Table.Empty.Body = "No MR delivered in this range matches “" + p.search.raw + "”. The search looks at titles, " + searchFields(names) + "; try fewer words or a wider range."
	}
	if col.total > p.limit && p.limit < maxListLimit {
		page.Next = linkWith("/merge-requests", base, "limit", strconv.Itoa(min(p.limit*4, maxListLimit)))
	}
	m := h.r.meta(c, q, "Merge requests", views.NavMRs, hidden(extra)...)
	return h.r.page(c, http.StatusOK, m, views.MRListView(page), linkWith("/merge-requests", base, "limit", limitParam(v)))
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
