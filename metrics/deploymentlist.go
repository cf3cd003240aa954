package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"
)

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
	stmt, err := e.stmt(ctx, deploymentColumns+` WHERE f.finished_at = ? AND f.id = ?`)
	if err != nil {
		return nil, err
	}
	out := make([]*Deployment, 0, len(keys))
	for _, k := range keys {
		rows, err := stmt.QueryContext(ctx, k[0], k[1])
		if err != nil {
			return nil, fmt.Errorf("metrics: list deployments: %w", err)
		}
		if out, err = scanDeployments(rows, out); err != nil {
			return nil, err
		}
	}
	return out, e.attachLinks(ctx, out)
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
