package metrics

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Lists of MRs and deployments are read a page at a time (keyset paging): a page starts just
// after the last row of the one before, named by a cursor that holds that row's sort key and a
// unique tie-breaker, and reads rows in the list's order from an index made for it (migration
// 0013). The first page of a list then costs the same at a million MRs as at a thousand.
//
// A list with a narrow filter (a small service, a team, an author, a weekday and hour) may
// hold a few rows spread over the whole index; walking the index in order would read many to
// find them. The list then reads the rows of its filter from that filter's index instead, and
// orders them: which way costs less is decided by the counts the tallies know (tally.go).

// MRWhere are the conditions an MR list adds to the filter.
type MRWhere struct {
	Rework, Unapproved, Deployed *bool
	CycleMin, CycleMax           *int64 // cycle time in seconds, [CycleMin, CycleMax)
	Category                     string // an investment category, "" for any
	ApprovalsBelow               *int64 // fewer approvals than this
	Author                       string // the author's username, in any case; "" for anyone
}

// MRList asks for one page of an MR list.
type MRList struct {
	Where MRWhere
	// Match, when set, is a further condition checked on each row read (a search): the page
	// then reads rows in order until it holds Limit matches.
	Match func(*MergeRequest) bool
	Sort  string // one of MROrders; "" is "recent"
	After string // the Next of the page before; "" for the first page
	Limit int
}

// MRPage is one page of an MR list.
type MRPage struct {
	Rows   []*MergeRequest
	Offset int    // how many rows of the list come before this page
	Next   string // the cursor of the next page; "" when this is the last
}

// DeploymentWhere are the conditions a deployment list adds to the filter.
type DeploymentWhere struct {
	Rework, Rollback, ChangeFailure, OutOfWindow *bool
	Weekday, Hour                                *int   // when it finished, in the list's time zone (time.Weekday, 0-23)
	ID                                           *int64 // one deployment, by GitLab id
}

// DeploymentList asks for one page of a deployment list.
type DeploymentList struct {
	Where DeploymentWhere
	// Location is the time zone of Where's weekday and hour (UTC when nil).
	Location *time.Location
	Match    func(*Deployment) bool // see MRList.Match
	Sort     string                 // one of DeploymentOrders; "" is "recent"
	After    string
	Limit    int
}

// DeploymentPage is one page of a deployment list.
type DeploymentPage struct {
	Rows   []*Deployment
	Offset int
	Next   string
}

// listOrder is one order of a list: the column of its key (none for the time alone), and
// whether the key descends. Ties go to the most recent (the time, then the ids, descending),
// except in "oldest", which reverses everything.
type listOrder struct {
	key  string
	col  string
	desc bool
	text bool
}

var mrOrders = []listOrder{
	{"recent", "", true, false},
	{"oldest", "", false, false},
	{"slowest", "cycle_seconds", true, false},
	{"fastest", "cycle_seconds", false, false},
	{"coding", "coding_seconds", true, false},
	{"pickup", "pickup_seconds", true, false},
	{"review", "review_seconds", true, false},
	{"deploy", "deploy_key", true, false}, // never deployed last
	{"title", "title_key", false, true},
	{"author", "author_key", false, true},
	{"service", "service_key", false, true},
}

var deploymentOrders = []listOrder{
	{"recent", "", true, false},
	{"oldest", "", false, false},
	{"service", "service_key", false, true},
	{"environment", "environment_key", false, true},
	{"mrs", "merge_requests", true, false},
	{"recovery", "recovery_key", true, false}, // not a change failure last
}

// MROrders and DeploymentOrders name the lists' orders (the sort keys of MRList and
// DeploymentList), the default first.
var (
	MROrders         = orderKeys(mrOrders)
	DeploymentOrders = orderKeys(deploymentOrders)
)

func orderKeys(os []listOrder) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.key
	}
	return out
}

func findOrder(os []listOrder, key string) (listOrder, error) {
	if key == "" {
		return os[0], nil
	}
	for _, o := range os {
		if o.key == key {
			return o, nil
		}
	}
	return listOrder{}, &FilterError{Field: "sort", Message: fmt.Sprintf("%q is not an order of this list (use %s)", key, strings.Join(orderKeys(os), ", "))}
}

// cursor is where a page ends: the sort key and the tie-breaker of its last row, and how many
// rows the list has shown up to there.
type cursor struct {
	Sort string  `json:"s"`
	N    int     `json:"n"`
	K    int64   `json:"k,omitempty"`
	T    *string `json:"t,omitempty"`
	At   int64   `json:"a"`
	P    int64   `json:"p,omitempty"`
	ID   int64   `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errCursor is a cursor that is not one this list gave.
func errCursor(o listOrder) error {
	return &FilterError{Field: "after", Message: "the page position after=… is not one this list gave for its order " + strconv.Quote(o.key) +
		" (it was cut, or made for another order): open the list's first page again"}
}

func decodeCursor(s string, o listOrder) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 4096 {
		return nil, errCursor(o)
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort != o.key || c.N < 0 || (o.text != (c.T != nil)) {
		return nil, errCursor(o)
	}
	return &c, nil
}

// listSQL builds a page's statement over one of the fact tables.
type listSQL struct {
	where []string
	args  []any
}

func (q *listSQL) add(cond string, args ...any) {
	q.where = append(q.where, cond)
	q.args = append(q.args, args...)
}

func (q *listSQL) flag(col string, b *bool) {
	if b != nil {
		q.add(col+" = ?", boolInt(*b))
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// keyset adds the condition "after the cursor" of order o over the tie-breaker columns tie
// (time first).
func (q *listSQL) keyset(o listOrder, tie []string, c *cursor) {
	tuple := "(" + strings.Join(tie, ", ") + ")"
	vals := []any{c.At}
	if len(tie) == 3 {
		vals = append(vals, c.P)
	}
	vals = append(vals, c.ID)
	var key any = c.K
	if c.T != nil {
		key = *c.T
	}
	switch {
	case o.col == "" && o.desc:
		q.add(tuple+" < ("+placeholders(len(vals))+")", vals...)
	case o.col == "":
		q.add(tuple+" > ("+placeholders(len(vals))+")", vals...)
	case o.desc:
		q.add("(f."+o.col+", "+strings.Join(tie, ", ")+") < ("+placeholders(len(vals)+1)+")", append([]any{key}, vals...)...)
	default:
		q.add("f."+o.col+" >= ? AND (f."+o.col+" > ? OR "+tuple+" < ("+placeholders(len(vals))+"))", append([]any{key, key}, vals...)...)
	}
}

// orderBy is o's ORDER BY over the tie-breaker columns.
func orderBy(o listOrder, tie []string) string {
	dir := " DESC"
	if o.col == "" && !o.desc {
		dir = ""
	}
	var terms []string
	if o.col != "" {
		d := ""
		if o.desc {
			d = " DESC"
		}
		terms = append(terms, "f."+o.col+d)
	}
	for _, t := range tie {
		terms = append(terms, t+dir)
	}
	return " ORDER BY " + strings.Join(terms, ", ")
}

// noIndex keeps the database from reading a column's index for a condition (SQLite takes
// "x + 0" and "x || ”" for expressions no index holds; PostgreSQL reads them the same): the
// page then walks the index of its order, or of its filter, as chosen.
func noIndex(col string, text bool) string {
	if text {
		return col + " || ''"
	}
	return col + " + 0"
}

// scope adds the scope's visibility, services and team. byIndex lets the service and team
// conditions use their indexes (the filter's rows read first); deployments' authors are those
// of their MRs.
func (q *listSQL) scope(sc *scope, byIndex bool, deployments bool) {
	if sc.visible != nil {
		if len(sc.visible) == 0 {
			q.add("1 = 0")
		} else {
			ids := make([]int64, 0, len(sc.visible))
			for id := range sc.visible {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			args := make([]any, len(ids))
			for i, id := range ids {
				args[i] = id
			}
			q.add(noIndex("f.project_id", false)+" IN ("+placeholders(len(ids))+")", args...)
		}
	}
	services := func(names map[string]bool) (string, []any) {
		ns := sortedKeys(names)
		var args []any
		cond := "f.service IN (" + placeholders(len(ns)) + ")"
		if byIndex {
			keys := map[string]bool{}
			for _, n := range ns {
				keys[sortKey(n)] = true
			}
			ks := sortedKeys(keys)
			cond = "f.service_key IN (" + placeholders(len(ks)) + ") AND " + cond
			for _, k := range ks {
				args = append(args, k)
			}
		}
		for _, n := range ns {
			args = append(args, n)
		}
		return cond, args
	}
	if sc.services != nil {
		cond, args := services(sc.services)
		q.add(cond, args...)
	}
	if sc.team != nil {
		var or []string
		var args []any
		if len(sc.teamSvc) > 0 {
			cond, a := services(sc.teamSvc)
			or = append(or, "("+cond+")")
			args = append(args, a...)
		}
		if len(sc.teamAuth) > 0 {
			authors := sortedKeys(sc.teamAuth)
			for _, a := range authors {
				args = append(args, a)
			}
			list := "(" + placeholders(len(authors)) + ")"
			switch {
			case deployments:
				or = append(or, "EXISTS (SELECT 1 FROM deployment_mr_facts l WHERE l.deployment_id = f.id AND lower(l.author) IN "+list+")")
			case byIndex:
				or = append(or, "f.author_key IN "+list)
			default:
				or = append(or, noIndex("f.author_key", true)+" IN "+list)
			}
		}
		if len(or) == 0 {
			or = append(or, "1 = 0")
		}
		q.add("("+strings.Join(or, " OR ")+")", args...)
	}
}

// key names the conditions, for the tallies' cache.
func (w MRWhere) key() string {
	var b strings.Builder
	bl := func(p *bool) {
		switch {
		case p == nil:
			b.WriteString("-|")
		case *p:
			b.WriteString("1|")
		default:
			b.WriteString("0|")
		}
	}
	in := func(p *int64) {
		if p == nil {
			b.WriteString("-|")
		} else {
			b.WriteString(strconv.FormatInt(*p, 10) + "|")
		}
	}
	bl(w.Rework)
	bl(w.Unapproved)
	bl(w.Deployed)
	in(w.CycleMin)
	in(w.CycleMax)
	in(w.ApprovalsBelow)
	b.WriteString(strconv.Quote(w.Category) + "|" + strconv.Quote(strings.ToLower(w.Author)))
	return b.String()
}

// mrWhere adds w; col names the column whose index the page walks (its conditions bound the
// walk), byIndex lets the author's index be read for the author.
func (q *listSQL) mrWhere(w MRWhere, col string, byIndex bool) {
	q.flag("f.rework", w.Rework)
	q.flag("f.unapproved", w.Unapproved)
	if w.Deployed != nil {
		c := "f.deploy_key"
		if col != "deploy_key" {
			c = noIndex(c, false)
		}
		if *w.Deployed {
			q.add(c + " >= 0")
		} else {
			q.add(c + " < 0")
		}
	}
	cycle := "f.cycle_seconds"
	if col != "cycle_seconds" {
		cycle = noIndex(cycle, false)
	}
	if w.CycleMin != nil {
		q.add(cycle+" >= ?", *w.CycleMin)
	}
	if w.CycleMax != nil {
		q.add(cycle+" < ?", *w.CycleMax)
	}
	if w.Category != "" {
		q.add("f.category = ?", w.Category)
	}
	if w.ApprovalsBelow != nil {
		q.add("f.approvals < ?", *w.ApprovalsBelow)
	}
	if w.Author != "" {
		c := "f.author_key"
		if !byIndex && col != "author_key" {
			c = noIndex(c, true)
		}
		q.add(c+" = ?", sortKey(w.Author))
	}
}
