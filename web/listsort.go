package web

import (
	"container/heap"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/views"
)

// sortOrder is one value of a list's sort= parameter: the column it sorts and in which
// direction.
type sortOrder struct {
	key, column, dir, label string
}

// parseSort reads sort= as one of orders; absent is the first.
func parseSort(v url.Values, orders []sortOrder) (string, error) {
	s := v.Get("sort")
	if s == "" {
		return orders[0].key, nil
	}
	keys := make([]string, len(orders))
	for i, o := range orders {
		if o.key == s {
			return s, nil
		}
		keys[i] = o.key
	}
	return "", badRequestf("sort", "sort=%q is not an order of this list: use one of %s.", truncate(s, 40), strings.Join(keys, ", "))
}

func sortLabel(orders []sortOrder, key string) string {
	for _, o := range orders {
		if o.key == key {
			return o.label
		}
	}
	return ""
}

// sortHeads are a table's sortable headings: each links to the list sorted by its column (by
// the column's other direction when it is the current one). The default order needs no
// parameter. names false leaves the author column unsortable (it shows no names).
func sortHeads(path string, base url.Values, orders []sortOrder, current, def string, names bool) map[string]views.SortHead {
	link := func(key string) string {
		v := mergeValues(base, nil)
		v.Del("limit")
		if key == def {
			v.Del("sort")
		} else {
			v.Set("sort", key)
		}
		return linkWith(path, v)
	}
	var cur sortOrder
	for _, o := range orders {
		if o.key == current {
			cur = o
		}
	}
	out := map[string]views.SortHead{}
	for _, o := range orders {
		if o.column == "author" && !names {
			continue
		}
		if _, done := out[o.column]; done {
			continue
		}
		if o.column != cur.column {
			out[o.column] = views.SortHead{Href: link(o.key)}
			continue
		}
		next := cur.key
		for _, p := range orders {
			if p.column == cur.column && p.key != cur.key {
				next = p.key
			}
		}
		out[o.column] = views.SortHead{Href: link(next), Current: true, Order: cur.dir}
	}
	return out
}

// topK keeps the first `limit` items of a stream in the order `before`, in memory bounded by
// the page.
type topK[T any] struct {
	limit  int
	before func(a, b T) bool
	items  []T
}

func (k *topK[T]) Len() int           { return len(k.items) }
func (k *topK[T]) Less(i, j int) bool { return k.before(k.items[j], k.items[i]) } // the root ranks last
func (k *topK[T]) Swap(i, j int)      { k.items[i], k.items[j] = k.items[j], k.items[i] }
func (k *topK[T]) Push(x any)         { k.items = append(k.items, x.(T)) }
func (k *topK[T]) Pop() any {
	x := k.items[len(k.items)-1]
	k.items = k.items[:len(k.items)-1]
	return x
}

func (k *topK[T]) add(x T) {
	if len(k.items) < k.limit {
		heap.Push(k, x)
	} else if k.limit > 0 && k.before(x, k.items[0]) {
		k.items[0] = x
		heap.Fix(k, 0)
	}
}

func (k *topK[T]) sorted() []T {
	out := append([]T(nil), k.items...)
	sort.SliceStable(out, func(i, j int) bool { return k.before(out[i], out[j]) })
	return out
}

// sortedMRs keeps the MRs of a list sorted by an order of mrSorts.
type sortedMRs struct{ k *topK[*metrics.MergeRequest] }

func (s *sortedMRs) add(m *metrics.MergeRequest, order string, limit int) {
	if s.k == nil {
		s.k = &topK[*metrics.MergeRequest]{limit: limit, before: mrBefore(order)}
	}
	s.k.add(m)
}

func (s *sortedMRs) rows(string) []*metrics.MergeRequest {
	if s.k == nil {
		return nil
	}
	return s.k.sorted()
}

// mrBefore says whether a comes before b in order; ties go to the most recently delivered.
func mrBefore(order string) func(a, b *metrics.MergeRequest) bool {
	recent := func(a, b *metrics.MergeRequest) bool {
		if !a.DeliveredAt.Equal(b.DeliveredAt) {
			return a.DeliveredAt.After(b.DeliveredAt)
		}
		if a.ProjectID != b.ProjectID {
			return a.ProjectID > b.ProjectID
		}
		return a.IID > b.IID
	}
	desc := func(f func(*metrics.MergeRequest) int64) func(a, b *metrics.MergeRequest) bool {
		return func(a, b *metrics.MergeRequest) bool {
			if x, y := f(a), f(b); x != y {
				return x > y
			}
			return recent(a, b)
		}
	}
	text := func(f func(*metrics.MergeRequest) string) func(a, b *metrics.MergeRequest) bool {
		return func(a, b *metrics.MergeRequest) bool {
			if x, y := strings.ToLower(f(a)), strings.ToLower(f(b)); x != y {
				return x < y
			}
			return recent(a, b)
		}
	}
	switch order {
	case "oldest":
		return func(a, b *metrics.MergeRequest) bool { return recent(b, a) }
	case "slowest":
		return desc(func(m *metrics.MergeRequest) int64 { return m.CycleSeconds })
	case "fastest":
		return desc(func(m *metrics.MergeRequest) int64 { return -m.CycleSeconds })
	case "coding":
		return desc(func(m *metrics.MergeRequest) int64 { return m.CodingSeconds })
	case "pickup":
		return desc(func(m *metrics.MergeRequest) int64 { return m.PickupSeconds })
	case "review":
		return desc(func(m *metrics.MergeRequest) int64 { return m.ReviewSeconds })
	case "deploy":
		return desc(func(m *metrics.MergeRequest) int64 {
			if m.DeploySeconds == nil {
				return -1 // never deployed: last
			}
			return *m.DeploySeconds
		})
	case "title":
		return text(func(m *metrics.MergeRequest) string { return m.Title })
	case "author":
		return text(func(m *metrics.MergeRequest) string { return m.Author })
	case "service":
		return text(func(m *metrics.MergeRequest) string { return m.Service })
	}
	return recent
}

// search is a list's q=: words that must each match some field of an item.
type search struct {
	raw   string
	terms []string
	names bool // authors may be searched
}

const maxSearchLen = 200

func parseSearch(v url.Values, names bool) (search, error) {
	raw := strings.TrimSpace(v.Get("q"))
	if len([]rune(raw)) > maxSearchLen {
		return search{}, badRequestf("q", "q=%.40q… is longer than %d characters: search for fewer words.", raw, maxSearchLen)
	}
	return search{raw: raw, terms: strings.Fields(strings.ToLower(raw)), names: names}, nil
}

// iidTerm reads "!12" or "12" as an MR iid.
func iidTerm(t string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(t, "!"), 10, 64)
	return n, err == nil && n > 0
}

// mr says whether every word matches the MR's title, author, a label, its source branch or
// its iid (!12 or 12).
func (s search) mr(m *metrics.MergeRequest) bool {
	for _, t := range s.terms {
		if n, ok := iidTerm(t); ok {
			if m.IID == n || (!strings.HasPrefix(t, "!") && strings.Contains(strings.ToLower(m.Title), t)) {
				continue
			}
			return false
		}
		if strings.Contains(strings.ToLower(m.Title), t) || strings.Contains(strings.ToLower(m.SourceBranch), t) ||
			(s.names && strings.Contains(strings.ToLower(m.Author), t)) {
			continue
		}
		found := false
		for _, l := range m.Labels {
			if strings.Contains(strings.ToLower(l), t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// deployment says whether every word matches the deployment's commit (a prefix of its SHA),
// environment, ref, service, the id, or one of its MRs (a title, or !iid).
func (s search) deployment(d *metrics.Deployment) bool {
	for _, t := range s.terms {
		if strings.HasPrefix(strings.ToLower(d.SHA), t) || strings.Contains(strings.ToLower(d.Environment), t) ||
			strings.Contains(strings.ToLower(d.Ref), t) || strings.Contains(strings.ToLower(d.Service), t) ||
			strconv.FormatInt(d.ID, 10) == t {
			continue
		}
		n, isIID := iidTerm(t)
		found := false
		for _, m := range d.MergeRequests {
			if (isIID && m.IID == n) || (!strings.HasPrefix(t, "!") && strings.Contains(strings.ToLower(m.Title), t)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// searchBox is a list's search form, keeping the list's other parameters.
func searchBox(path string, base url.Values, q, help string) views.SearchBox {
	rest := without(base, "q", "limit")
	b := views.SearchBox{Action: path, Q: q, Help: help, Hidden: hidden(rest),
		Placeholder: "Search this list"}
	if q != "" {
		b.Clear = linkWith(path, rest)
	}
	return b
}

// without is a copy of v without keys.
func without(v url.Values, keys ...string) url.Values {
	out := mergeValues(v, nil)
	for _, k := range keys {
		out.Del(k)
	}
	return out
}

// timelineHref is the page of one MR's timeline.
func timelineHref(projectID, iid int64) string {
	return "/merge-requests/" + strconv.FormatInt(projectID, 10) + "/" + strconv.FormatInt(iid, 10)
}

// authorHref is an author's page over q's filters.
func authorHref(q *query, username string) string {
	if username == "" {
		return ""
	}
	return q.link("/authors/" + url.PathEscape(username))
}

// errAuthorsHidden answers a per-person view where [privacy] turns them off.
var errAuthorsHidden = &UserError{Status: http.StatusNotFound,
	Message: "Per-person views are turned off on this Pacer ([privacy] authors = false in its configuration): " +
		"it shows no one's MRs or reviews on their own, and names no author. Figures of services and teams are unaffected."}
