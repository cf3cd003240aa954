package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"time"
)

// Figures computes every metric of SPEC section 3 per period and service: one row per metric,
// period and service (each service with items in scope, and "all", computed over the items,
// never as a mean of means). Rows whose n is 0 are left out. Rows are ordered by period,
// then "all" before the services in name order, then metric in the spec's order.
func (e *Engine) Figures(ctx context.Context, f Filter) ([]Figure, error) {
	c, err := e.compute(ctx, f)
	if err != nil {
		return nil, err
	}
	return c.figures(), nil
}

// compute runs one figures computation: the figures and what Investment and Agreements read
// beside them.
func (e *Engine) compute(ctx context.Context, f Filter) (*figureCalc, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	return e.cached(ctx, f, func(ctx context.Context) (*figureCalc, error) { return e.calculate(ctx, f) })
}

// calculate runs one figures computation over the current facts.
func (e *Engine) calculate(ctx context.Context, f Filter) (*figureCalc, error) {
	sc := e.scopeOf(f)
	services, authors, err := loadNames(ctx, e.st.DB)
	if err != nil {
		return nil, err
	}
	c := &figureCalc{e: e, sc: sc, services: services, out: map[int64]*periodFigures{}}
	c.prepare(authors)

	fromDay, toDay := c.dayRange()
	// Author-days are read beside the rest, on the other core when there is one: they touch
	// only their own results until the join.
	var effort []effortFigure
	effortErr := make(chan error, 1)
	go func() {
		var err error
		effort, err = c.authorDays(ctx, fromDay, toDay)
		effortErr <- err
	}()
	err = c.deployments(ctx, fromDay, toDay)
	if err == nil {
		err = c.mergeRequests(ctx, fromDay, toDay)
	}
	if e := <-effortErr; err == nil {
		err = e
	}
	if err != nil {
		return nil, err
	}
	for _, f := range effort {
		c.add(f.ps, f.service, TechDebtEffort, f.value, f.n)
	}
	if err := c.coverage(ctx, fromDay, toDay); err != nil {
		return nil, err
	}
	return c, nil
}

// figureCalc holds one Figures computation.
type figureCalc struct {
	e        *Engine
	sc       scope
	services []string
	// Per service number: whether it passes the filter alone, and whether it is a team service.
	svcOK, svcTeam []bool
	authorTeam     []bool
	out            map[int64]*periodFigures // by period start day
	today          int64
	techDebt       []bool // by category index: counts as tech debt

	// Over the MRs that pass the filter ("all"), by period start day: how many fell in each
	// category and how many had fewer approvals than agreed (for Investment and Agreements),
	// and each category's share of the author-days.
	catMRs       map[int64][]int
	fewApprovals map[int64]map[string]int // by service too ("all" included)
	catDays      map[int64][]float64
	authorDaysN  map[int64]int
	// For the agreements, by period start day and service ("all" included): MRs slower than
	// the cycle-time target and projects under the coverage target.
	overCycle     map[int64]map[string]int
	coverageUnder map[int64]map[string]int
}

// periodFigures are the finished figures of one period, by service ("all" included).
type periodFigures struct {
	start int64 // Unix day
	key   string
	t     time.Time
	rows  map[string]*serviceFigures
}

// serviceFigures holds one period's figures of one service by metric number (n 0: absent).
type serviceFigures struct {
	value [numMetrics]float64
	n     [numMetrics]int
}

func (c *figureCalc) prepare(authors []string) {
	c.svcOK = make([]bool, len(c.services))
	c.svcTeam = make([]bool, len(c.services))
	for i, s := range c.services {
		c.svcOK[i] = c.sc.serviceOK(s)
		c.svcTeam[i] = c.sc.team == nil || c.sc.teamSvc[s]
	}
	c.authorTeam = make([]bool, len(authors))
	for i, a := range authors {
		c.authorTeam[i] = c.sc.teamAuth[a]
	}
	c.today = dayOf(c.e.Now())
	c.techDebt = make([]bool, len(c.e.res.categories))
	for i, k := range c.e.res.categories {
		c.techDebt[i] = k.techDebt
	}
	c.catMRs, c.fewApprovals = map[int64][]int{}, map[int64]map[string]int{}
	c.catDays, c.authorDaysN = map[int64][]float64{}, map[int64]int{}
	c.overCycle, c.coverageUnder = map[int64]map[string]int{}, map[int64]map[string]int{}
}

func (c *figureCalc) serviceIn(s uint64) bool { return s < uint64(len(c.svcOK)) && c.svcOK[s] }

func (c *figureCalc) authorIn(a uint64) bool { return a < uint64(len(c.authorTeam)) && c.authorTeam[a] }

// dayRange is the requested range in Unix days, [from, to).
func (c *figureCalc) dayRange() (int64, int64) {
	from := int64(math.MinInt32)
	if c.sc.fromSet {
		from = floorDiv(c.sc.from, 86400)
	}
	return from, floorDiv(c.sc.to, 86400)
}

// periodStart is the first day of the period containing day.
func (c *figureCalc) periodStart(day int64) int64 {
	switch c.sc.by {
	case Range:
		return floorDiv(c.sc.from, 86400)
	case Day:
		return day
	case Month, Quarter:
		_, start := PeriodKey(time.Unix(day*86400, 0), c.sc.by)
		return start.Unix() / 86400
	}
	// Unix day 0 was a Thursday; Monday starts the ISO week.
	return day - ((day+3)%7+7)%7
}

// periodNext is the first day of the period after the one starting at ps.
func (c *figureCalc) periodNext(ps int64) int64 {
	switch c.sc.by {
	case Range:
		return floorDiv(c.sc.to, 86400)
	case Day:
		return ps + 1
	case Month, Quarter:
		return periodEnd(time.Unix(ps*86400, 0).UTC(), c.sc.by).Unix() / 86400
	}
	return ps + 7
}

// periodKey names the period starting at ps: PeriodKey's name, or for Range the range itself.
func (c *figureCalc) periodKey(ps int64) string {
	t := time.Unix(ps*86400, 0).UTC()
	if c.sc.by == Range {
		last := time.Unix((floorDiv(c.sc.to, 86400)-1)*86400, 0).UTC()
		return t.Format(time.DateOnly) + "/" + last.Format(time.DateOnly)
	}
	key, _ := PeriodKey(t, c.sc.by)
	return key
}

func (c *figureCalc) period(start int64) *periodFigures {
	p := c.out[start]
	if p == nil {
		p = &periodFigures{start: start, t: time.Unix(start*86400, 0).UTC(), rows: map[string]*serviceFigures{}}
		p.key = c.periodKey(start)
		c.out[start] = p
	}
	return p
}

func (c *figureCalc) add(start int64, service, metric string, value float64, n int) {
	if n == 0 {
		return
	}
	p := c.period(start)
	sf := p.rows[service]
	if sf == nil {
		sf = &serviceFigures{}
		p.rows[service] = sf
	}
	i := metricOrder[metric]
	sf.value[i], sf.n[i] = value, n
}

// depBucket gathers the deployments of one period and service.
type depBucket struct {
	n, rework, cf, outOfWindow int
	recovery                   []int64
}

func (c *figureCalc) deployments(ctx context.Context, fromDay, toDay int64) error {
	rows, err := c.e.st.DB.QueryContext(ctx, `SELECT day, data FROM fact_days WHERE kind = ? AND day >= ? AND day < ? ORDER BY day`,
		packDeployments, fromDay, toDay)
	if err != nil {
		return fmt.Errorf("metrics: read deployment facts: %w", err)
	}
	defer rows.Close()
	buckets := map[int64]map[uint64]*depBucket{} // period -> service -> bucket
	var data sql.RawBytes                        // decoded before the next row, so the driver's buffer is not copied
	for rows.Next() {
		var day int64
		if err := rows.Scan(&day, &data); err != nil {
			return fmt.Errorf("metrics: read deployment facts: %w", err)
		}
		ps := c.periodStart(day)
		byService := buckets[ps]
		if byService == nil {
			byService = map[uint64]*depBucket{}
			buckets[ps] = byService
		}
		err := decodeDeployments(data, func(d *packedDeployment) {
			if !c.serviceIn(d.service) || !c.sc.projectOK(int64(d.project)) {
				return
			}
			if !c.svcTeam[d.service] {
				found := false
				for _, a := range d.authors {
					if c.authorIn(a) {
						found = true
						break
					}
				}
				if !found {
					return
				}
			}
			b := byService[d.service]
			if b == nil {
				b = &depBucket{}
				byService[d.service] = b
			}
			b.n++
			if d.flags&depRework != 0 {
				b.rework++
			}
			if d.flags&depOutOfWindow != 0 {
				b.outOfWindow++
			}
			if d.flags&depCF != 0 {
				b.cf++
				b.recovery = append(b.recovery, d.recovery)
			}
		})
		if err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read deployment facts: %w", err)
	}
	window := c.e.cfg.DeployWindow != nil
	for ps, byService := range buckets {
		days := c.daysInRange(ps, fromDay, toDay)
		all := &depBucket{}
		for s, b := range byService {
			c.emitDeployments(ps, c.services[s], b, days, window)
			all.n += b.n
			all.rework += b.rework
			all.cf += b.cf
			all.outOfWindow += b.outOfWindow
			all.recovery = append(all.recovery, b.recovery...)
		}
		c.emitDeployments(ps, AllServices, all, days, window)
	}
	return nil
}

// daysInRange counts the days of the period starting at ps that lie in the requested range and
// have begun by today (so a running period counts the days elapsed, today included).
func (c *figureCalc) daysInRange(ps, fromDay, toDay int64) int64 {
	lo, hi := ps, c.periodNext(ps)
	lo = max(lo, fromDay)
	hi = min(hi, toDay, c.today+1)
	if hi <= lo {
		return 1 // deployments stamped in the future of the clock: count the period as one day
	}
	return hi - lo
}

func (c *figureCalc) emitDeployments(ps int64, service string, b *depBucket, days int64, window bool) {
	if b.n == 0 {
		return
	}
	n := float64(b.n)
	c.add(ps, service, Deployments, n, b.n)
	c.add(ps, service, DeploysPerDay, n/float64(days), b.n)
	c.add(ps, service, ReworkRate, float64(b.rework)/n, b.n)
	c.add(ps, service, ChangeFailureRate, float64(b.cf)/n, b.n)
	if b.cf > 0 {
		c.add(ps, service, RecoveryTimeP50, float64(selectPercentile(b.recovery, 50)), b.cf)
	}
	if window {
		c.add(ps, service, OutOfWindowRate, float64(b.outOfWindow)/n, b.n)
	}
}

// mrBucket gathers the MRs of one period and service; its slices are reused across periods.
type mrBucket struct {
	n, rework, unapproved, techDebt, fewApprovals int
	overCycle                                     int
	cycle, coding, pickup, review, deploy         []int64
}

func (b *mrBucket) reset() {
	b.n, b.rework, b.unapproved, b.techDebt, b.fewApprovals, b.overCycle = 0, 0, 0, 0, 0, 0
	b.cycle, b.coding, b.pickup, b.review, b.deploy = b.cycle[:0], b.coding[:0], b.pickup[:0], b.review[:0], b.deploy[:0]
}

func (c *figureCalc) mergeRequests(ctx context.Context, fromDay, toDay int64) error {
	rows, err := c.e.st.DB.QueryContext(ctx, `SELECT day, data FROM fact_days WHERE kind = ? AND day >= ? AND day < ? ORDER BY day`,
		packMRs, fromDay, toDay)
	if err != nil {
		return fmt.Errorf("metrics: read merge request facts: %w", err)
	}
	defer rows.Close()
	buckets := make([]*mrBucket, len(c.services))
	used := make([]bool, len(c.services))
	cycleTarget := int64(c.e.cfg.Agreements.CycleTime / time.Second)
	var cats []int // the current period's MRs by category
	all := &mrBucket{}
	current := int64(math.MinInt64)
	flush := func() {
		if current == math.MinInt64 {
			return
		}
		for s, b := range buckets {
			if b != nil && used[s] {
				all.add(b)
			}
		}
		// "all" holds as many values as the services together: its percentiles are selected
		// beside theirs, on another core when there is one.
		var allStats mrStats
		done := make(chan struct{})
		go func() {
			defer close(done)
			allStats = all.stats()
		}()
		for s, b := range buckets {
			if b == nil || !used[s] {
				continue
			}
			c.emitMRs(current, c.services[s], b.stats())
			b.reset()
			used[s] = false
		}
		<-done
		c.emitMRs(current, AllServices, allStats)
		all.reset()
	}
	var data sql.RawBytes // decoded before the next row, so the driver's buffer is not copied
	for rows.Next() {
		var day int64
		if err := rows.Scan(&day, &data); err != nil {
			return fmt.Errorf("metrics: read merge request facts: %w", err)
		}
		if ps := c.periodStart(day); ps != current {
			flush()
			current = ps
			cats = c.catMRs[current]
		}
		err := decodeMRs(data, func(m *packedMR) {
			if !c.serviceIn(m.service) || !c.svcTeam[m.service] && !c.authorIn(m.author) || !c.sc.projectOK(int64(m.project)) {
				return
			}
			b := buckets[m.service]
			if b == nil {
				b = &mrBucket{}
				buckets[m.service] = b
			}
			used[m.service] = true
			b.n++
			if m.flags&mrRework != 0 {
				b.rework++
			}
			if m.flags&mrUnapproved != 0 {
				b.unapproved++
			}
			if m.flags&mrFewApprovals != 0 {
				b.fewApprovals++
			}
			if cycleTarget > 0 && m.cycle > cycleTarget {
				b.overCycle++
			}
			if m.category < uint64(len(c.techDebt)) {
				if c.techDebt[m.category] {
					b.techDebt++
				}
				if cats == nil {
					cats = make([]int, len(c.techDebt))
					c.catMRs[current] = cats
				}
				cats[m.category]++
			}
			b.cycle = append(b.cycle, m.cycle)
			b.coding = append(b.coding, m.coding)
			b.pickup = append(b.pickup, m.pickup)
			b.review = append(b.review, m.review)
			if m.deploy >= 0 {
				b.deploy = append(b.deploy, m.deploy)
			}
		})
		if err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read merge request facts: %w", err)
	}
	flush()
	return nil
}

// add appends another bucket's items.
func (b *mrBucket) add(o *mrBucket) {
	b.n += o.n
	b.rework += o.rework
	b.unapproved += o.unapproved
	b.techDebt += o.techDebt
	b.fewApprovals += o.fewApprovals
	b.overCycle += o.overCycle
	b.cycle = append(b.cycle, o.cycle...)
	b.coding = append(b.coding, o.coding...)
	b.pickup = append(b.pickup, o.pickup...)
	b.review = append(b.review, o.review...)
	b.deploy = append(b.deploy, o.deploy...)
}

// mrStats are one bucket's MR figures (selection reorders the bucket's slices).
type mrStats struct {
	n, deployed, rework, unapproved int
	techDebt, fewApprovals          int
	overCycle                       int
	cycle                           [3]int64
	coding, pickup, review, deploy  int64
}

func (b *mrBucket) stats() mrStats {
	st := mrStats{n: b.n, deployed: len(b.deploy), rework: b.rework, unapproved: b.unapproved, techDebt: b.techDebt,
		fewApprovals: b.fewApprovals, overCycle: b.overCycle}
	if b.n == 0 {
		return st
	}
	st.cycle = selectPercentiles(b.cycle, 50, 75, 90)
	st.coding = selectPercentile(b.coding, 50)
	st.pickup = selectPercentile(b.pickup, 50)
	st.review = selectPercentile(b.review, 50)
	st.deploy = selectPercentile(b.deploy, 50)
	return st
}

// emitMRs adds the MR figures of one bucket.
func (c *figureCalc) emitMRs(ps int64, service string, st mrStats) {
	if st.n == 0 {
		return
	}
	c.add(ps, service, MergedMRs, float64(st.n), st.n)
	c.add(ps, service, CycleTimeP50, float64(st.cycle[0]), st.n)
	c.add(ps, service, CycleTimeP75, float64(st.cycle[1]), st.n)
	c.add(ps, service, CycleTimeP90, float64(st.cycle[2]), st.n)
	c.add(ps, service, CodingTimeP50, float64(st.coding), st.n)
	c.add(ps, service, PickupTimeP50, float64(st.pickup), st.n)
	c.add(ps, service, ReviewTimeP50, float64(st.review), st.n)
	c.add(ps, service, DeployTimeP50, float64(st.deploy), st.deployed) // left out when none was deployed
	n := float64(st.n)
	c.add(ps, service, MRReworkRate, float64(st.rework)/n, st.n)
	c.add(ps, service, UnapprovedRate, float64(st.unapproved)/n, st.n)
	c.add(ps, service, TechDebtShare, float64(st.techDebt)/n, st.n)
	few := c.fewApprovals[ps]
	if few == nil {
		few = map[string]int{}
		c.fewApprovals[ps] = few
	}
	few[service] = st.fewApprovals
	slow := c.overCycle[ps]
	if slow == nil {
		slow = map[string]int{}
		c.overCycle[ps] = slow
	}
	slow[service] = st.overCycle
}

// authorDays computes tech_debt_effort_share from the packed author-days (kind 4): an
// author-day counts for a service when one of its MRs is the service's (and passes the filter),
// and is split equally among all its MRs.
//
// It runs beside the other readers: it writes only c.catDays and c.authorDaysN, and returns
// its figures for the caller to add.
func (c *figureCalc) authorDays(ctx context.Context, fromDay, toDay int64) ([]effortFigure, error) {
	rows, err := c.e.st.DB.QueryContext(ctx, `SELECT day, data FROM fact_days WHERE kind = ? AND day >= ? AND day < ? ORDER BY day`,
		packAuthorDays, fromDay, toDay)
	if err != nil {
		return nil, fmt.Errorf("metrics: read author-days: %w", err)
	}
	var out []effortFigure
	defer rows.Close()
	// One period at a time, by service number (the last slot is "all").
	ns := len(c.services)
	n := make([]int, ns+1)
	techDebt := make([]float64, ns+1)
	of := make([]float64, ns+1)
	stamp := make([]int, ns+1) // the author-day a service was last counted for
	run := 0
	var runBuf []authorDayRec // the current author-day's MRs
	var runAuthor uint64
	current := int64(math.MinInt64)
	flush := func() {
		if current == math.MinInt64 {
			return
		}
		for s := 0; s <= ns; s++ {
			if n[s] > 0 && of[s] > 0 {
				name := AllServices
				if s < ns {
					name = c.services[s]
				}
				out = append(out, effortFigure{current, name, techDebt[s] / of[s], n[s]})
			}
		}
		c.authorDaysN[current] = n[ns]
		clear(n)
		clear(techDebt)
		clear(of)
	}
	// A day comes in parts (by project): they are gathered, then merged in commit-author order.
	var data sql.RawBytes
	var dayBuf []byte
	var dayParts [][]byte
	handle := func(day int64) error {
		if ps := c.periodStart(day); ps != current {
			flush()
			current = ps
		}
		cats := c.catDays[current]
		if cats == nil {
			cats = make([]float64, len(c.techDebt))
			c.catDays[current] = cats
		}
		// Decoded in place (this is the figures' hottest loop after the percentiles): records
		// are five uvarints, and a run of one commit author is one author-day.
		process := func() {
			run++
			share := 1 / float64(len(runBuf))
			for i := range runBuf {
				m := &runBuf[i]
				if !c.serviceIn(m.service) || !c.svcTeam[m.service] && !c.authorIn(m.author) || !c.sc.projectOK(int64(m.project)) {
					continue
				}
				if m.category < uint64(len(cats)) {
					cats[m.category] += share
					td := c.techDebt[m.category]
					for _, s := range [2]int{int(m.service), ns} {
						if stamp[s] != run {
							stamp[s] = run
							n[s]++
						}
						of[s] += share
						if td {
							techDebt[s] += share
						}
					}
				}
			}
			runBuf = runBuf[:0]
		}
		if err := mergeAuthorDays(dayParts, func(vals *[5]uint64) {
			if len(runBuf) > 0 && runAuthor != vals[0] {
				process()
			}
			runAuthor = vals[0]
			runBuf = append(runBuf, authorDayRec{project: vals[1], service: vals[2], author: vals[3], category: vals[4]})
		}); err != nil {
			return err
		}
		if len(runBuf) > 0 {
			process()
		}
		return nil
	}
	curDay := int64(math.MinInt64)
	var offs []int
	gathered := func() error {
		if len(offs) == 0 {
			return nil
		}
		dayParts = dayParts[:0]
		for i, o := range offs {
			end := len(dayBuf)
			if i+1 < len(offs) {
				end = offs[i+1]
			}
			dayParts = append(dayParts, dayBuf[o:end])
		}
		err := handle(curDay)
		dayBuf, offs = dayBuf[:0], offs[:0]
		return err
	}
	for rows.Next() {
		var day int64
		if err := rows.Scan(&day, &data); err != nil {
			return nil, fmt.Errorf("metrics: read author-days: %w", err)
		}
		if day != curDay {
			if err := gathered(); err != nil {
				return nil, err
			}
			curDay = day
		}
		offs = append(offs, len(dayBuf))
		dayBuf = append(dayBuf, data...)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: read author-days: %w", err)
	}
	if err := gathered(); err != nil {
		return nil, err
	}
	flush()
	return out, nil
}

// effortFigure is one tech_debt_effort_share figure, computed apart and added after.
type effortFigure struct {
	ps      int64
	service string
	value   float64
	n       int
}

// authorDayRec is one MR of an author-day, as the figures read it.
type authorDayRec struct{ project, service, author, category uint64 }

// figures flattens the computed rows in their documented order.
func (c *figureCalc) figures() []Figure {
	starts := make([]int64, 0, len(c.out))
	total := 0
	for s, p := range c.out {
		starts = append(starts, s)
		for _, sf := range p.rows {
			for _, n := range sf.n {
				if n > 0 {
					total++
				}
			}
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	out := make([]Figure, 0, total)
	for _, s := range starts {
		p := c.out[s]
		names := make([]string, 0, len(p.rows))
		for name := range p.rows {
			if name != AllServices {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		if p.rows[AllServices] != nil {
			names = append([]string{AllServices}, names...)
		}
		for _, name := range names {
			sf := p.rows[name]
			for i, n := range sf.n {
				if n > 0 {
					out = append(out, Figure{Period: p.key, Start: p.t, Service: name, Metric: metricNames[i], Value: sf.value[i], N: n})
				}
			}
		}
	}
	return out
}

// MetricNames lists the metrics in the order of the spec's table.
var MetricNames = metricNames[:]

var metricNames = [...]string{MergedMRs, CycleTimeP50, CycleTimeP75, CycleTimeP90, CodingTimeP50, PickupTimeP50,
	ReviewTimeP50, DeployTimeP50, Deployments, DeploysPerDay, ReworkRate, ChangeFailureRate, RecoveryTimeP50,
	MRReworkRate, UnapprovedRate, CoveragePercent, OutOfWindowRate, TechDebtShare, TechDebtEffort}

const numMetrics = len(metricNames)

var metricOrder = func() map[string]int {
	m := map[string]int{}
	for i, n := range MetricNames {
		m[n] = i
	}
	return m
}()

// selectPercentiles returns the percentiles ps (ascending) of a like Percentile, selecting
// each within the part of a above the previous one, reordering a.
func selectPercentiles(a []int64, ps ...float64) [3]int64 {
	var out [3]int64
	base := 0 // a[:base] holds values no greater than any in a[base:]
	for i, p := range ps {
		n := len(a)
		if n == 0 {
			break
		}
		rank := p / 100 * float64(n-1)
		lo := int(math.Floor(rank))
		if lo >= n-1 {
			lo = n - 1
		}
		if lo < base {
			lo = base // cannot happen for ascending ps; kept for safety
		}
		selectK(a[base:], lo-base)
		v := a[lo]
		frac := rank - float64(lo)
		if frac == 0 || lo == n-1 {
			out[i] = v
		} else {
			next := a[lo+1]
			for _, x := range a[lo+2:] {
				if x < next {
					next = x
				}
			}
			out[i] = int64(math.Round(float64(v) + (float64(next)-float64(v))*frac))
		}
		base = lo
	}
	return out
}

// selectPercentile is Percentile without sorting: it finds the two closest ranks by selection
// (linear time), reordering a.
func selectPercentile(a []int64, p float64) int64 {
	n := len(a)
	if n == 0 {
		return 0
	}
	rank := p / 100 * float64(n-1)
	lo := int(math.Floor(rank))
	if lo >= n-1 {
		lo = n - 1
	}
	selectK(a, lo)
	v := a[lo]
	frac := rank - float64(lo)
	if frac == 0 || lo == n-1 {
		return v
	}
	next := a[lo+1]
	for _, x := range a[lo+2:] {
		if x < next {
			next = x
		}
	}
	return int64(math.Round(float64(v) + (float64(next)-float64(v))*frac))
}

// selectK reorders a so that a[k] is the value it would have if a were sorted, smaller or
// equal values before it and greater or equal after it (Hoare's quickselect, median of three).
func selectK(a []int64, k int) {
	lo, hi := 0, len(a)-1
	for hi > lo {
		if hi-lo < 16 {
			for i := lo + 1; i <= hi; i++ {
				for j := i; j > lo && a[j] < a[j-1]; j-- {
					a[j], a[j-1] = a[j-1], a[j]
				}
			}
			return
		}
		mid := lo + (hi-lo)/2
		if a[mid] < a[lo] {
			a[mid], a[lo] = a[lo], a[mid]
		}
		if a[hi] < a[lo] {
			a[hi], a[lo] = a[lo], a[hi]
		}
		if a[hi] < a[mid] {
			a[hi], a[mid] = a[mid], a[hi]
		}
		pivot := a[mid]
		i, j := lo, hi
		for i <= j {
			for a[i] < pivot {
				i++
			}
			for a[j] > pivot {
				j--
			}
			if i <= j {
				a[i], a[j] = a[j], a[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// coverageProject is a project whose coverage counts, with the services it counts for.
type coverageProject struct {
	id       int64
	path     string
	services []string
}

// coverageProjects lists the projects in scope with the services their coverage counts for:
// the project's own service and any service split out of it.
func (e *Engine) coverageProjects(ctx context.Context, sc *scope) (map[int64]*coverageProject, error) {
	rows, err := e.st.DB.QueryContext(ctx, `SELECT id, path FROM projects`)
	if err != nil {
		return nil, fmt.Errorf("metrics: list projects: %w", err)
	}
	defer rows.Close()
	out := map[int64]*coverageProject{}
	for rows.Next() {
		p := &coverageProject{}
		if err := rows.Scan(&p.id, &p.path); err != nil {
			return nil, fmt.Errorf("metrics: list projects: %w", err)
		}
		if !sc.projectOK(p.id) {
			continue
		}
		for _, s := range append([]string{e.res.projectService(p.path)}, e.res.splitServices(p.path)...) {
			if sc.serviceOK(s) && (sc.team == nil || sc.teamSvc[s]) {
				p.services = append(p.services, s)
			}
		}
		sort.Strings(p.services)
		if len(p.services) > 0 {
			out[p.id] = p
		}
	}
	return out, rows.Err()
}

// coverage adds coverage_percent per period: per project the last value known before the
// period (or the requested range) ended, carried forward; per service and for "all", the mean
// over the projects with a value.
func (c *figureCalc) coverage(ctx context.Context, fromDay, toDay int64) error {
	projects, err := c.e.coverageProjects(ctx, &c.sc)
	if err != nil {
		return err
	}
	if len(projects) == 0 {
		return nil
	}
	// A period that has not begun has no coverage yet: carrying today's value into next
	// month's weeks would draw a flat line into the future.
	toDay = min(toDay, c.today+1)
	db := c.e.st.DB
	first := fromDay
	if !c.sc.fromSet {
		var a *int64
		if err := db.QueryRowContext(ctx, `SELECT MIN(day) FROM fact_days`).Scan(&a); err != nil {
			return fmt.Errorf("metrics: first day of data: %w", err)
		}
		if a == nil {
			return nil
		}
		first = *a
	}
	// Dense numbers for the projects and services in scope.
	ids := make([]int64, 0, len(projects))
	for id := range projects {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	index := make(map[int64]int, len(ids))
	var names []string
	svcIndex := map[string]int{}
	projSvcs := make([][]int, len(ids))
	for i, id := range ids {
		index[id] = i
		for _, s := range projects[id].services {
			k, ok := svcIndex[s]
			if !ok {
				k = len(names)
				svcIndex[s] = k
				names = append(names, s)
			}
			projSvcs[i] = append(projSvcs[i], k)
		}
	}
	value := make([]float64, len(ids))
	has := make([]bool, len(ids))
	known := 0
	set := func(project int64, v float64) {
		if i, ok := index[project]; ok {
			if !has[i] {
				has[i] = true
				known++
			}
			value[i] = v
		}
	}
	// The value each project carries into the range: one index seek per project.
	rows, err := db.QueryContext(ctx, `SELECT p.id, (SELECT c.coverage FROM coverage_days c WHERE c.project_id = p.id AND c.day < ?
		ORDER BY c.day DESC LIMIT 1) FROM projects p`, first)
	if err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}
	for rows.Next() {
		var id int64
		var v *float64
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return fmt.Errorf("metrics: read coverage: %w", err)
		}
		if v != nil {
			set(id, *v)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}

	// Then the packed days of the range, period by period.
	rows, err = db.QueryContext(ctx, `SELECT day, data FROM fact_days WHERE kind = ? AND day >= ? AND day < ? ORDER BY day`,
		packCoverage, first, toDay)
	if err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}
	defer rows.Close()
	sums := make([]float64, len(names))
	counts := make([]int, len(names))
	emit := func(ps int64) {
		if known == 0 {
			return
		}
		clear(sums)
		clear(counts)
		all, n := 0.0, 0
		// Projects in id order keep the floating-point sums identical from run to run.
		for i := range ids {
			if !has[i] {
				continue
			}
			all += value[i]
			n++
			for _, k := range projSvcs[i] {
				sums[k] += value[i]
				counts[k]++
			}
		}
		c.add(ps, AllServices, CoveragePercent, all/float64(n), n)
		for k, name := range names {
			if counts[k] > 0 {
				c.add(ps, name, CoveragePercent, sums[k]/float64(counts[k]), counts[k])
			}
		}
		// Projects under the coverage target, for the agreements.
		under := map[string]int{}
		for i := range ids {
			if has[i] && value[i] < c.e.cfg.Coverage.Target {
				under[AllServices]++
				for _, k := range projSvcs[i] {
					under[names[k]]++
				}
			}
		}
		c.coverageUnder[ps] = under
	}
	ps := c.periodStart(first)
	var data sql.RawBytes // decoded before the next row, so the driver's buffer is not copied
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d, &data); err != nil {
			return fmt.Errorf("metrics: read coverage: %w", err)
		}
		for ; c.periodNext(ps) <= d; ps = c.periodNext(ps) {
			emit(ps)
		}
		if err := decodeCoverage(data, set); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}
	for ; ps < toDay; ps = c.periodNext(ps) {
		emit(ps)
	}
	return nil
}
