package metrics

import (
	"context"
	"fmt"
	"strings"
)

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
	stmt, err := e.stmt(ctx, mrColumns+` WHERE f.delivered_at = ? AND f.project_id = ? AND f.iid = ?`)
	if err != nil {
		return nil, err
	}
	out := make([]*MergeRequest, 0, len(keys))
	for _, k := range keys {
		rows, err := stmt.QueryContext(ctx, k[0], k[1], k[2])
		if err != nil {
			return nil, fmt.Errorf("metrics: list merge requests: %w", err)
		}
		if out, err = scanMRs(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

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
