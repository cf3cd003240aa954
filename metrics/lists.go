package metrics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

func (q *listSQL) in(expr string, vals []string) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	q.add(expr+" IN ("+placeholders(len(vals))+")", args...)
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

// scopeSQL adds the scope's visibility, services and team. byIndex lets the service and team
// conditions use their indexes (the filter's rows read first); authorCol is the column of an
// MR's author key, or "" for deployments, whose authors are those of their MRs.
func (q *listSQL) scope(sc *scope, byIndex bool, deployments bool) {
	if sc.visible != nil {
		if len(sc.visible) == 0 {
			q.add("1 = 0")
		} else {
			ids := make([]int64, 0, len(sc.visible))
			for id := range sc.visible {
				ids = append(ids, id)
			}
			sortInt64s(ids)
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

func sortInt64s(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
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

// mrWhereSQL adds w; indexed names the column whose index the page walks (its conditions
// bound the walk), byIndex lets the author's index be read for the author.
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

const mrColumns = `SELECT f.project_id, f.iid, f.service, f.author, f.created_at, f.first_commit_at, f.first_review_at,
		f.first_approval_at, f.merged_at, f.deployed_at, f.delivered_at, f.coding_seconds, f.pickup_seconds,
		f.review_seconds, f.deploy_seconds, f.cycle_seconds, f.rework, f.unapproved,
		f.project, f.title, f.labels, f.source_branch, f.web_url, f.category, f.before_merge, f.approvals
		FROM mr_facts f`

var mrTie = []string{"f.delivered_at", "f.project_id", "f.iid"}

// mrPlan is how an MR page reads its rows: the statement without its cursor and limit.
type mrPlan struct {
	o       listOrder
	byIndex bool // the filter's index first, then ordered
	sc      scope
	w       MRWhere
}

// sql is the plan's statement after c (nil: from the start), for limit rows of columns.
func (p *mrPlan) sql(columns string, c *cursor, limit int) (string, []any) {
	q := &listSQL{}
	t := "f.delivered_at"
	if p.o.col != "" && !p.byIndex {
		t = noIndex(t, false) // walking the order's index: the range only filters
	}
	q.add(t+" >= ? AND "+t+" < ?", p.sc.from, p.sc.to)
	q.scope(&p.sc, p.byIndex, false)
	q.mrWhere(p.w, p.o.col, p.byIndex)
	if c != nil {
		q.keyset(p.o, mrTie, c)
	}
	s := columns + " WHERE " + strings.Join(q.where, " AND ") + orderBy(p.o, mrTie) + " LIMIT ?"
	return s, append(q.args, limit)
}

// rows reads up to limit rows of the plan after c. Walking the table itself (the time's
// order), it reads them at once; walking another index, it reads the rows' keys from the
// index alone first, then those rows: fact tables are clustered by time (WITHOUT ROWID), and
// SQLite would otherwise read the table row of every index entry it passes, matched or not.
func (p *mrPlan) rows(ctx context.Context, e *Engine, c *cursor, limit int) ([]*MergeRequest, error) {
	if p.o.col == "" && !p.byIndex {
		q, args := p.sql(mrColumns, c, limit)
		return e.mrBatch(ctx, q, args)
	}
	q, args := p.sql(`SELECT f.delivered_at, f.project_id, f.iid FROM mr_facts f`, c, limit)
	keys, err := e.keys(ctx, q, args, 3)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	byKey := map[[3]int64]*MergeRequest{}
	for start := 0; start < len(keys); start += keyChunk {
		chunk := keys[start:min(start+keyChunk, len(keys))]
		var or []string
		var args []any
		for _, k := range chunk {
			or = append(or, "(f.delivered_at = ? AND f.project_id = ? AND f.iid = ?)")
			args = append(args, k[0], k[1], k[2])
		}
		got, err := e.mrBatch(ctx, mrColumns+" WHERE "+strings.Join(or, " OR "), args)
		if err != nil {
			return nil, err
		}
		for _, m := range got {
			byKey[[3]int64{m.DeliveredAt.Unix(), m.ProjectID, m.IID}] = m
		}
	}
	out := make([]*MergeRequest, 0, len(keys))
	for _, k := range keys {
		if m := byKey[k]; m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// keyChunk is how many rows are read by key in one statement.
const keyChunk = 100

// keys reads the rows of a statement whose first n columns are integers.
func (e *Engine) keys(ctx context.Context, q string, args []any, n int) ([][3]int64, error) {
	rows, err := e.st.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("metrics: list: %w", err)
	}
	defer rows.Close()
	var out [][3]int64
	for rows.Next() {
		var k [3]int64
		dst := []any{&k[0], &k[1], &k[2]}[:n]
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("metrics: list: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: list: %w", err)
	}
	return out, nil
}

// MergeRequestPage returns one page of the in-scope MRs of f's range that meet l.Where (and
// l.Match), in l.Sort's order.
func (e *Engine) MergeRequestPage(ctx context.Context, f Filter, l MRList) (*MRPage, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	o, err := findOrder(mrOrders, l.Sort)
	if err != nil {
		return nil, err
	}
	c, err := decodeCursor(l.After, o)
	if err != nil {
		return nil, err
	}
	limit := max(l.Limit, 1)
	page := &MRPage{}
	if c != nil {
		page.Offset = c.N
	}
	count, err := e.CountMergeRequests(ctx, f, l.Where)
	if err != nil || count == 0 {
		return page, err
	}
	p := &mrPlan{o: o, sc: e.scopeOf(f), w: l.Where}
	if p.byIndex, err = e.mrByIndex(ctx, f, p, count, limit); err != nil {
		return nil, err
	}
	batch := limit + 1
	if l.Match != nil {
		batch = max(batch, batchSize)
	}
	var rows []*MergeRequest
	for {
		got, err := p.rows(ctx, e, c, batch)
		if err != nil {
			return nil, err
		}
		for _, m := range got {
			if l.Match == nil || l.Match(m) {
				rows = append(rows, m)
			}
		}
		if len(rows) > limit || len(got) < batch {
			break
		}
		c = mrCursor(o, got[len(got)-1], 0)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = mrCursor(o, rows[limit-1], page.Offset+limit).encode()
	}
	page.Rows = rows
	return page, nil
}

// EachMergeRequest calls fn with every row of the list l names (its Limit is the size of the
// pages read), in its order.
func (e *Engine) EachMergeRequest(ctx context.Context, f Filter, l MRList, fn func(*MergeRequest) error) error {
	l.Limit = max(l.Limit, batchSize)
	for {
		p, err := e.MergeRequestPage(ctx, f, l)
		if err != nil {
			return err
		}
		for _, m := range p.Rows {
			if err := fn(m); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		l.After = p.Next
	}
}

func mrCursor(o listOrder, m *MergeRequest, n int) *cursor {
	c := &cursor{Sort: o.key, N: n, At: m.DeliveredAt.Unix(), P: m.ProjectID, ID: m.IID}
	switch o.col {
	case "cycle_seconds":
		c.K = m.CycleSeconds
	case "coding_seconds":
		c.K = m.CodingSeconds
	case "pickup_seconds":
		c.K = m.PickupSeconds
	case "review_seconds":
		c.K = m.ReviewSeconds
	case "deploy_key":
		c.K = -1
		if m.DeploySeconds != nil {
			c.K = *m.DeploySeconds
		}
	case "title_key":
		c.T = ptrTo(sortKey(m.Title))
	case "author_key":
		c.T = ptrTo(sortKey(m.Author))
	case "service_key":
		c.T = ptrTo(sortKey(m.Service))
	}
	return c
}

func ptrTo[T any](v T) *T { return &v }

// mrByIndex chooses how a page reads: walking its order's index, which costs about limit ×
// (rows the walk passes) ÷ (rows that match), or reading the rows of its narrowest filter
// (service, team, author) and ordering them, which costs those rows.
func (e *Engine) mrByIndex(ctx context.Context, f Filter, p *mrPlan, count, limit int) (bool, error) {
	if p.sc.services == nil && p.sc.team == nil && p.w.Author == "" {
		return false, nil
	}
	fromDay, toDay := int64(-1<<40), int64(1<<40)
	if p.o.col == "" { // the time's order: the walk stays in the range
		fromDay, toDay = rangeDays(&p.sc)
	}
	scan, err := e.packedCount(ctx, packMRs, fromDay, toDay)
	if err != nil {
		return false, err
	}
	filtered := 0
	if p.w.Author != "" {
		filtered, err = e.countMRsWhere(ctx, f, MRWhere{Author: p.w.Author})
	} else {
		var t *mrTally
		t, err = e.mrTally(ctx, f)
		if t != nil {
			filtered = t.n
		}
	}
	if err != nil {
		return false, err
	}
	walk := float64(limit+1) * float64(scan) / float64(max(count, 1))
	return 2*float64(filtered) < walk, nil
}

// rangeDays is the scope's range in Unix days, [from, to).
func rangeDays(sc *scope) (int64, int64) {
	from := int64(-1 << 40)
	if sc.fromSet {
		from = floorDiv(sc.from, 86400)
	}
	return from, floorDiv(sc.to, 86400)
}

// countMRRows counts a list's rows in the database, for conditions the packed records do not
// hold (a number of approvals other than the agreed one).
func (e *Engine) countMRRows(ctx context.Context, f Filter, w MRWhere) (int, error) {
	if err := e.Validate(ctx, f); err != nil {
		return 0, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return 0, err
	}
	sc := e.scopeOf(f)
	q := &listSQL{}
	q.add("f.delivered_at >= ? AND f.delivered_at < ?", sc.from, sc.to)
	q.scope(&sc, false, false)
	q.mrWhere(w, "", false)
	var n int
	if err := e.st.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM mr_facts f WHERE `+strings.Join(q.where, " AND "), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("metrics: count merge requests: %w", err)
	}
	return n, nil
}

const deploymentColumns = `SELECT f.id, f.project_id, f.service, f.finished_at, f.rework, f.rollback, f.change_failure,
		f.recovery_seconds, f.project, f.environment, f.sha, f.job_url, f.ref, f.blamed_by, f.blames, f.out_of_window, f.blames_at
		FROM deployment_facts f`

var deploymentTie = []string{"f.finished_at", "f.id"}

type deploymentPlan struct {
	o         listOrder
	byIndex   bool
	sc        scope
	w         DeploymentWhere
	intervals [][2]int64 // the weekday and hour, as ranges of finish times; nil: no such condition
}

func (p *deploymentPlan) sql(columns string, c *cursor, limit int) (string, []any) {
	q := &listSQL{}
	t := "f.finished_at"
	// Walking another order's index, the range only filters; reading a weekday and hour's
	// spans, they bound the reading.
	if p.o.col != "" && !p.byIndex || p.intervals != nil && p.byIndex {
		t = noIndex(t, false)
	}
	q.add(t+" >= ? AND "+t+" < ?", p.sc.from, p.sc.to)
	if p.intervals != nil {
		it := "f.finished_at"
		if !p.byIndex {
			it = noIndex(it, false)
		}
		if len(p.intervals) == 0 {
			q.add("1 = 0")
		} else {
			var or []string
			var args []any
			for _, r := range p.intervals {
				or = append(or, "("+it+" >= ? AND "+it+" < ?)")
				args = append(args, r[0], r[1])
			}
			q.add("("+strings.Join(or, " OR ")+")", args...)
		}
	}
	q.scope(&p.sc, p.byIndex && p.intervals == nil, true)
	q.flag("f.rework", p.w.Rework)
	q.flag("f.rollback", p.w.Rollback)
	q.flag("f.change_failure", p.w.ChangeFailure)
	q.flag("f.out_of_window", p.w.OutOfWindow)
	if p.w.ID != nil {
		q.add("f.id = ?", *p.w.ID)
	}
	if c != nil {
		q.keyset(p.o, deploymentTie, c)
	}
	s := columns + " WHERE " + strings.Join(q.where, " AND ") + orderBy(p.o, deploymentTie) + " LIMIT ?"
	return s, append(q.args, limit)
}

// rows is mrPlan.rows for deployments.
func (p *deploymentPlan) rows(ctx context.Context, e *Engine, c *cursor, limit int) ([]*Deployment, error) {
	if p.o.col == "" && (!p.byIndex || p.intervals != nil) {
		q, args := p.sql(deploymentColumns, c, limit)
		return e.deploymentBatch(ctx, q, args)
	}
	q, args := p.sql(`SELECT f.finished_at, f.id FROM deployment_facts f`, c, limit)
	keys, err := e.keys(ctx, q, args, 2)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	byKey := map[[2]int64]*Deployment{}
	for start := 0; start < len(keys); start += keyChunk {
		chunk := keys[start:min(start+keyChunk, len(keys))]
		var or []string
		var args []any
		for _, k := range chunk {
			or = append(or, "(f.finished_at = ? AND f.id = ?)")
			args = append(args, k[0], k[1])
		}
		got, err := e.deploymentBatch(ctx, deploymentColumns+" WHERE "+strings.Join(or, " OR "), args)
		if err != nil {
			return nil, err
		}
		for _, d := range got {
			byKey[[2]int64{d.FinishedAt.Unix(), d.ID}] = d
		}
	}
	out := make([]*Deployment, 0, len(keys))
	for _, k := range keys {
		if d := byKey[[2]int64{k[0], k[1]}]; d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// DeploymentPage returns one page of the successful production deployments of f's range and
// scope that meet l.Where (and l.Match), in l.Sort's order, each with its counted MRs.
func (e *Engine) DeploymentPage(ctx context.Context, f Filter, l DeploymentList) (*DeploymentPage, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	o, err := findOrder(deploymentOrders, l.Sort)
	if err != nil {
		return nil, err
	}
	c, err := decodeCursor(l.After, o)
	if err != nil {
		return nil, err
	}
	loc := l.Location
	if loc == nil {
		loc = time.UTC
	}
	limit := max(l.Limit, 1)
	page := &DeploymentPage{}
	if c != nil {
		page.Offset = c.N
	}
	count, err := e.CountDeployments(ctx, f, l.Where, loc)
	if err != nil || count == 0 {
		return page, err
	}
	p := &deploymentPlan{o: o, sc: e.scopeOf(f), w: l.Where}
	if l.Where.Weekday != nil || l.Where.Hour != nil {
		if p.intervals, err = e.hourIntervals(ctx, &p.sc, l.Where.Weekday, l.Where.Hour, loc); err != nil {
			return nil, err
		}
	}
	if p.byIndex, err = e.deploymentByIndex(ctx, f, p, count, limit, loc); err != nil {
		return nil, err
	}
	batch := limit + 1
	if l.Match != nil {
		batch = max(batch, batchSize)
	}
	var rows []*Deployment
	for {
		got, err := p.rows(ctx, e, c, batch)
		if err != nil {
			return nil, err
		}
		for _, d := range got {
			if l.Match == nil || l.Match(d) {
				rows = append(rows, d)
			}
		}
		if len(rows) > limit || len(got) < batch {
			break
		}
		c = deploymentCursor(o, got[len(got)-1], 0)
	}
	if len(rows) > limit {
		rows = rows[:limit]
		page.Next = deploymentCursor(o, rows[limit-1], page.Offset+limit).encode()
	}
	page.Rows = rows
	return page, nil
}

func deploymentCursor(o listOrder, d *Deployment, n int) *cursor {
	c := &cursor{Sort: o.key, N: n, At: d.FinishedAt.Unix(), ID: d.ID}
	switch o.col {
	case "service_key":
		c.T = ptrTo(sortKey(d.Service))
	case "environment_key":
		c.T = ptrTo(sortKey(d.Environment))
	case "merge_requests":
		c.K = int64(len(d.MergeRequests))
	case "recovery_key":
		c.K = -1
		if d.RecoverySeconds != nil {
			c.K = *d.RecoverySeconds
		}
	}
	return c
}

// deploymentByIndex is mrByIndex for deployments: the narrow filters are one or several
// services and a weekday and hour (a team's authors are those of the deployments' MRs, which
// no index of deployments holds).
func (e *Engine) deploymentByIndex(ctx context.Context, f Filter, p *deploymentPlan, count, limit int, loc *time.Location) (bool, error) {
	if p.sc.services == nil && p.intervals == nil {
		return false, nil
	}
	fromDay, toDay := int64(-1<<40), int64(1<<40)
	if p.o.col == "" {
		fromDay, toDay = rangeDays(&p.sc)
	}
	scan, err := e.packedCount(ctx, packDeployments, fromDay, toDay)
	if err != nil {
		return false, err
	}
	var filtered int
	if p.intervals != nil {
		filtered, err = e.CountDeployments(ctx, f, DeploymentWhere{Weekday: p.w.Weekday, Hour: p.w.Hour}, loc)
	} else {
		var t *depTally
		t, err = e.depTally(ctx, f, loc)
		if t != nil {
			filtered = t.n
		}
	}
	if err != nil {
		return false, err
	}
	walk := float64(limit+1) * float64(scan) / float64(max(count, 1))
	return 2*float64(filtered) < walk, nil
}

// countDeploymentRows counts a list's rows in the database (for one deployment by id).
func (e *Engine) countDeploymentRows(ctx context.Context, f Filter, w DeploymentWhere, loc *time.Location) (int, error) {
	if err := e.Validate(ctx, f); err != nil {
		return 0, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return 0, err
	}
	p := &deploymentPlan{o: deploymentOrders[0], sc: e.scopeOf(f), w: w}
	if w.Weekday != nil || w.Hour != nil {
		var err error
		if p.intervals, err = e.hourIntervals(ctx, &p.sc, w.Weekday, w.Hour, loc); err != nil {
			return 0, err
		}
	}
	q, args := p.sql(`SELECT f.id FROM deployment_facts f`, nil, 1<<30)
	q = `SELECT COUNT(*) FROM (` + q + `) c`
	var n int
	if err := e.st.DB.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("metrics: count deployments: %w", err)
	}
	return n, nil
}

// hourIntervals are the spans of the scope's range, as Unix seconds [start, end), whose
// weekday and hour in loc are the given ones (nil: any). Every zone's offset is a multiple of
// 15 minutes, so the range is read a quarter of an hour at a time.
func (e *Engine) hourIntervals(ctx context.Context, sc *scope, weekday, hour *int, loc *time.Location) ([][2]int64, error) {
	from := sc.from
	if !sc.fromSet {
		var first *int64
		if err := e.st.DB.QueryRowContext(ctx, `SELECT MIN(day) FROM fact_days WHERE kind = ?`, packDeployments).Scan(&first); err != nil {
			return nil, fmt.Errorf("metrics: first day of deployments: %w", err)
		}
		if first == nil {
			return [][2]int64{}, nil
		}
		from = *first * 86400
	}
	out := [][2]int64{}
	const step = 15 * 60
	day := int64(-1 << 62)
	var clock dayClock
	for t := from; t < sc.to; t += step {
		if d := floorDiv(t, 86400); d != day {
			day, clock = d, localDay(d, loc)
		}
		wd, h := clock.at(t - day*86400)
		if weekday != nil && wd != *weekday || hour != nil && h != *hour {
			continue
		}
		end := min(t+step, sc.to)
		if n := len(out); n > 0 && out[n-1][1] == t {
			out[n-1][1] = end
		} else {
			out = append(out, [2]int64{t, end})
		}
	}
	return out, nil
}
