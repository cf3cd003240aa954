package web

import (
	"net/http"
	"net/url"
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
