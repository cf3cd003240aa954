package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Tallies answer what a page shows beside its figures and lists, from the packed records rather
// than from the rows: how many items a list holds, the cycle-time distribution and where the
// time goes, when deployments finish. One pass over the packed days of a filter's range counts
// the items by every combination of the conditions the lists offer, so that any list's total
// is a sum of a few cells; the answer is kept per facts generation like the figures.

// CycleBuckets are the upper bounds, in seconds, of the cycle-time distribution's buckets,
// each from the previous bound (0 for the first) up to but excluding its own; a last bucket
// holds everything from the last bound on. A negative cycle time is in no bucket.
var CycleBuckets = cycleBuckets[:]

var cycleBuckets = [...]int64{3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 5 * 86400, 7 * 86400, 14 * 86400, 28 * 86400}

// cycleBucket is the bucket of a cycle time: 0 for none (negative), then 1 + the bucket's index.
func cycleBucket(v int64) int {
	if v < 0 {
		return 0
	}
	for i, hi := range cycleBuckets {
		if v < hi {
			return i + 1
		}
	}
	return len(cycleBuckets) + 1
}

// bucketEdge is the index of a cycle bound among the bucket edges (0, then CycleBuckets), or
// -1 when it is not one.
func bucketEdge(v int64) int {
	if v == 0 {
		return 0
	}
	for i, hi := range cycleBuckets {
		if v == hi {
			return i + 1
		}
	}
	return -1
}

// MR flags of a tally cell.
const (
	tallyRework = 1 << iota
	tallyUnapproved
	tallyDeployed
	tallyFewApprovals
	tallyFlags = 1 << iota
)

// mrTally counts the MRs of a filter's range by flags, investment category and cycle-time
// bucket, and sums each period's stages.
type mrTally struct {
	n          int
	cats       int     // categories
	cells      []int32 // ((flags × cats) + category) × buckets + bucket
	buckets    [len(cycleBuckets) + 2]int
	stages     map[string]*[4]int64 // by period key: coding, pickup, review, deploy, in seconds
	perService []ServiceCycleTime
}

// ServiceCycleTime is one service's cycle time over a whole range: how many MRs it delivered
// and their median and 90th percentile, exactly as the figures compute them.
type ServiceCycleTime struct {
	Service  string
	N        int
	P50, P90 int64
}

func (t *mrTally) cell(flags, category, bucket int) int {
	return (flags*t.cats+category)*(len(CycleBuckets)+2) + bucket
}

// CycleTimeBreakdown is what the cycle-time page shows beside the figures: how many MRs were
// delivered in the range, how many fell in each bucket of CycleBuckets, and per period the
// seconds the MRs spent in each stage.
type CycleTimeBreakdown struct {
	MRs     int
	Buckets []int               // len(CycleBuckets)+1 counts, in bucket order
	Stages  map[string][4]int64 // by period key (PeriodKey): coding, pickup, review and deploy seconds, summed
	// PerService is each service's cycle time over the whole range (services with no MR
	// delivered are left out), in no particular order.
	PerService []ServiceCycleTime
}

// CycleTime returns the cycle-time breakdown of f's range and scope, from the packed records.
func (e *Engine) CycleTime(ctx context.Context, f Filter) (*CycleTimeBreakdown, error) {
	t, err := e.mrTally(ctx, f)
	if err != nil {
		return nil, err
	}
	out := &CycleTimeBreakdown{MRs: t.n, Buckets: append([]int(nil), t.buckets[1:]...), Stages: map[string][4]int64{},
		PerService: append([]ServiceCycleTime(nil), t.perService...)}
	for k, v := range t.stages {
		out.Stages[k] = *v
	}
	return out, nil
}

// tallyScope is a figureCalc made only to filter packed records by a scope, with the authors'
// names (lower-cased) by number.
func (e *Engine) tallyScope(ctx context.Context, f Filter) (*figureCalc, []string, error) {
	services, authors, err := loadNames(ctx, e.st.DB)
	if err != nil {
		return nil, nil, err
	}
	c := &figureCalc{e: e, sc: e.scopeOf(f), services: services, out: map[int64]*periodFigures{}}
	c.prepare(authors)
	return c, authors, nil
}

// tallyGet runs a tally through the cache (after checking the filter and the facts).
func (e *Engine) tallyGet(ctx context.Context, f Filter, key string, calc func(context.Context) (any, error)) (any, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	gen, err := e.generation(ctx)
	if err != nil {
		return nil, err
	}
	return e.shared.figures.get(ctx, gen, key+"|"+e.cacheKey(f), false, func(ctx context.Context) (any, error) {
		e.shared.figures.tallied.Add(1)
		return calc(ctx)
	})
}

func (e *Engine) mrTally(ctx context.Context, f Filter) (*mrTally, error) {
	v, err := e.tallyGet(ctx, f, "mrt", func(ctx context.Context) (any, error) { return e.countMRs(ctx, f) })
	if err != nil {
		return nil, err
	}
	return v.(*mrTally), nil
}

// countMRs makes the MR tally of f.
func (e *Engine) countMRs(ctx context.Context, f Filter) (*mrTally, error) {
	c, _, err := e.tallyScope(ctx, f)
	if err != nil {
		return nil, err
	}
	t := &mrTally{cats: max(len(e.res.categories), 1), stages: map[string]*[4]int64{}}
	cycles := map[uint64][]int64{} // by service: the cycle times of the range
	t.cells = make([]int32, tallyFlags*t.cats*(len(CycleBuckets)+2))
	periods := map[int64]*[4]int64{}
	err = e.eachPacked(ctx, c, packMRs, func(day int64, data []byte) error {
		ps := c.periodStart(day)
		st := periods[ps]
		return decodeMRs(data, func(m *packedMR) {
			if !c.mrIn(m) {
				return
			}
			if st == nil {
				st = &[4]int64{}
				periods[ps] = st
			}
			t.n++
			flags := 0
			if m.flags&mrRework != 0 {
				flags |= tallyRework
			}
			if m.flags&mrUnapproved != 0 {
				flags |= tallyUnapproved
			}
			if m.deploy >= 0 {
				flags |= tallyDeployed
				st[3] += m.deploy
			}
			if m.flags&mrFewApprovals != 0 {
				flags |= tallyFewApprovals
			}
			cycles[m.service] = append(cycles[m.service], m.cycle)
			b := cycleBucket(m.cycle)
			t.buckets[b]++
			t.cells[t.cell(flags, min(int(m.category), t.cats-1), b)]++
			st[0] += m.coding
			st[1] += m.pickup
			st[2] += m.review
		})
	})
	if err != nil {
		return nil, err
	}
	for ps, st := range periods {
		key, _ := PeriodKey(time.Unix(ps*86400, 0).UTC(), c.sc.by)
		t.stages[key] = st
	}
	for s, v := range cycles {
		p := selectPercentiles(v, 50, 90)
		t.perService = append(t.perService, ServiceCycleTime{Service: c.services[s], N: len(v), P50: p[0], P90: p[1]})
	}
	return t, nil
}

// mrIn says whether a packed MR passes the scope (as figures count it).
func (c *figureCalc) mrIn(m *packedMR) bool {
	return c.serviceIn(m.service) && (c.svcTeam[m.service] || c.authorIn(m.author)) && c.sc.projectOK(int64(m.project))
}

// depIn says whether a packed deployment passes the scope (as figures count it).
func (c *figureCalc) depIn(d *packedDeployment) bool {
	if !c.serviceIn(d.service) || !c.sc.projectOK(int64(d.project)) {
		return false
	}
	if c.svcTeam[d.service] {
		return true
	}
	for _, a := range d.authors {
		if c.authorIn(a) {
			return true
		}
	}
	return false
}

// eachPacked calls fn with every packed row of a kind in c's range.
func (e *Engine) eachPacked(ctx context.Context, c *figureCalc, kind int, fn func(day int64, data []byte) error) error {
	fromDay, toDay := c.dayRange()
	rows, err := e.st.DB.QueryContext(ctx, `SELECT day, data FROM fact_days WHERE kind = ? AND day >= ? AND day < ?`, kind, fromDay, toDay)
	if err != nil {
		return fmt.Errorf("metrics: read packed facts: %w", err)
	}
	defer rows.Close()
	var data sql.RawBytes // decoded before the next row
	for rows.Next() {
		var day int64
		if err := rows.Scan(&day, &data); err != nil {
			return fmt.Errorf("metrics: read packed facts: %w", err)
		}
		if err := fn(day, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read packed facts: %w", err)
	}
	return nil
}

// countMRsWhere counts, for conditions the tally's cells cannot answer (an author, a cycle
// bound between buckets), the in-scope MRs of f's range that meet w, from the packed records.
func (e *Engine) countMRsWhere(ctx context.Context, f Filter, w MRWhere) (int, error) {
	key := "mrw|" + w.key()
	v, err := e.tallyGet(ctx, f, key, func(ctx context.Context) (any, error) {
		c, names, err := e.tallyScope(ctx, f)
		if err != nil {
			return nil, err
		}
		author := strings.ToLower(w.Author)
		few := e.cfg.Agreements.Approvals
		n := 0
		err = e.eachPacked(ctx, c, packMRs, func(_ int64, data []byte) error {
			return decodeMRs(data, func(m *packedMR) {
				if !c.mrIn(m) {
					return
				}
				if w.Author != "" && (m.author >= uint64(len(names)) || names[m.author] != author) {
					return
				}
				if w.Rework != nil && (m.flags&mrRework != 0) != *w.Rework ||
					w.Unapproved != nil && (m.flags&mrUnapproved != 0) != *w.Unapproved ||
					w.Deployed != nil && (m.deploy >= 0) != *w.Deployed ||
					w.CycleMin != nil && m.cycle < *w.CycleMin || w.CycleMax != nil && m.cycle >= *w.CycleMax {
					return
				}
				if w.ApprovalsBelow != nil && (*w.ApprovalsBelow != int64(few) || m.flags&mrFewApprovals == 0) {
					return
				}
				if w.Category != "" && (int(m.category) >= len(e.res.categories) || e.res.categories[m.category].name != w.Category) {
					return
				}
				n++
			})
		})
		return n, err
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}

// CountMergeRequests counts the MRs of f's range and scope that meet w: what MergeRequestPage
// pages through. It reads the packed records (kept per facts generation), not the rows, but
// for a number of approvals other than the agreed one, which only the rows hold.
func (e *Engine) CountMergeRequests(ctx context.Context, f Filter, w MRWhere) (int, error) {
	if w.ApprovalsBelow != nil && *w.ApprovalsBelow != int64(e.cfg.Agreements.Approvals) {
		return e.countMRRows(ctx, f, w)
	}
	lo, hi := 0, 0
	aligned := true
	if w.CycleMin != nil {
		if lo = bucketEdge(*w.CycleMin); lo < 0 {
			aligned = false
		}
	}
	if w.CycleMax != nil {
		if hi = bucketEdge(*w.CycleMax); hi < 0 {
			aligned = false
		}
	}
	if w.Author != "" || !aligned {
		return e.countMRsWhere(ctx, f, w)
	}
	t, err := e.mrTally(ctx, f)
	if err != nil {
		return 0, err
	}
	cat := -1
	if w.Category != "" {
		for i, c := range e.res.categories {
			if c.name == w.Category {
				cat = i
			}
		}
		if cat < 0 {
			return 0, nil
		}
	}
	want := func(flags, bit int, b *bool) bool { return b == nil || (flags&bit != 0) == *b }
	// Cycle bounds on bucket edges: bucket b (from 1) holds [edge b-1, edge b), bucket 0 the
	// negative times; a lower bound on edge lo keeps the buckets from lo+1, an upper bound on
	// edge hi those up to hi.
	first, last := 0, len(CycleBuckets)+1
	if w.CycleMin != nil {
		first = lo + 1
	}
	if w.CycleMax != nil {
		last = hi
	}
	n := 0
	for flags := 0; flags < tallyFlags; flags++ {
		if !want(flags, tallyRework, w.Rework) || !want(flags, tallyUnapproved, w.Unapproved) ||
			!want(flags, tallyDeployed, w.Deployed) {
			continue
		}
		if w.ApprovalsBelow != nil && flags&tallyFewApprovals == 0 {
			continue
		}
		for c := 0; c < t.cats; c++ {
			if cat >= 0 && c != cat {
				continue
			}
			for b := first; b <= last; b++ {
				n += int(t.cells[t.cell(flags, c, b)])
			}
		}
	}
	return n, nil
}

// depTally counts the deployments of a filter's range by flags and by the weekday and hour
// they finished at, in a time zone.
type depTally struct {
	n     int
	cells [16 * 7 * 24]int32 // (flags × 7 + weekday) × 24 + hour
}

// DeploymentHours counts the deployments of f's range and scope by the weekday (time.Weekday)
// and hour they finished at in loc.
func (e *Engine) DeploymentHours(ctx context.Context, f Filter, loc *time.Location) ([7][24]int, error) {
	var out [7][24]int
	t, err := e.depTally(ctx, f, loc)
	if err != nil {
		return out, err
	}
	for flags := 0; flags < 16; flags++ {
		for wd := 0; wd < 7; wd++ {
			for h := 0; h < 24; h++ {
				out[wd][h] += int(t.cells[(flags*7+wd)*24+h])
			}
		}
	}
	return out, nil
}

func (e *Engine) depTally(ctx context.Context, f Filter, loc *time.Location) (*depTally, error) {
	if loc == nil {
		loc = time.UTC
	}
	v, err := e.tallyGet(ctx, f, "dpt|"+loc.String(), func(ctx context.Context) (any, error) {
		c, _, err := e.tallyScope(ctx, f)
		if err != nil {
			return nil, err
		}
		t := &depTally{}
		err = e.eachPacked(ctx, c, packDeployments, func(day int64, data []byte) error {
			local := localDay(day, loc)
			return decodeDeployments(data, func(d *packedDeployment) {
				if !c.depIn(d) {
					return
				}
				t.n++
				wd, h := local.at(d.second)
				t.cells[(int(d.flags&15)*7+wd)*24+h]++
			})
		})
		return t, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*depTally), nil
}

// dayClock reads the weekday and hour of the seconds of one UTC day in a time zone: by
// arithmetic when the zone's offset holds all day, else instant by instant.
type dayClock struct {
	start  int64 // Unix seconds of the UTC day's start
	offset int64 // the zone's offset all day, when fixed
	fixed  bool
	loc    *time.Location
}

func localDay(day int64, loc *time.Location) dayClock {
	start := day * 86400
	_, a := time.Unix(start, 0).In(loc).Zone()
	_, b := time.Unix(start+86399, 0).In(loc).Zone()
	return dayClock{start: start, offset: int64(a), fixed: a == b, loc: loc}
}

func (c dayClock) at(second int64) (weekday, hour int) {
	if !c.fixed {
		t := time.Unix(c.start+second, 0).In(c.loc)
		return int(t.Weekday()), t.Hour()
	}
	s := c.start + second + c.offset
	d := floorDiv(s, 86400)
	// Unix day 0 was a Thursday (weekday 4).
	return int(((d+4)%7 + 7) % 7), int((s - d*86400) / 3600)
}

// CountDeployments counts the deployments of f's range and scope that meet w, from the packed
// records (kept per facts generation); loc is the zone of w's weekday and hour. With an id,
// the rows are counted.
func (e *Engine) CountDeployments(ctx context.Context, f Filter, w DeploymentWhere, loc *time.Location) (int, error) {
	if w.ID != nil {
		return e.countDeploymentRows(ctx, f, w, loc)
	}
	t, err := e.depTally(ctx, f, loc)
	if err != nil {
		return 0, err
	}
	want := func(flags, bit int, b *bool) bool { return b == nil || (flags&bit != 0) == *b }
	n := 0
	for flags := 0; flags < 16; flags++ {
		if !want(flags, depRework, w.Rework) || !want(flags, depRollback, w.Rollback) ||
			!want(flags, depCF, w.ChangeFailure) || !want(flags, depOutOfWindow, w.OutOfWindow) {
			continue
		}
		for wd := 0; wd < 7; wd++ {
			if w.Weekday != nil && *w.Weekday != wd {
				continue
			}
			for h := 0; h < 24; h++ {
				if w.Hour != nil && *w.Hour != h {
					continue
				}
				n += int(t.cells[(flags*7+wd)*24+h])
			}
		}
	}
	return n, nil
}

// packedCount is how many packed records of a kind lie in [fromDay, toDay) (n of fact_days:
// no record is decoded), kept per facts generation.
func (e *Engine) packedCount(ctx context.Context, kind int, fromDay, toDay int64) (int, error) {
	gen, err := e.generation(ctx)
	if err != nil {
		return 0, err
	}
	key := "cnt|" + strconv.Itoa(kind) + "|" + strconv.FormatInt(fromDay, 10) + "|" + strconv.FormatInt(toDay, 10)
	v, err := e.shared.figures.get(ctx, gen, key, false, func(ctx context.Context) (any, error) {
		var n int64
		err := e.st.DB.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM fact_days WHERE kind = ? AND day >= ? AND day < ?`,
			kind, fromDay, toDay).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("metrics: count packed facts: %w", err)
		}
		return int(n), nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int), nil
}
