package metrics

import (
	"context"
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
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	sc := e.scopeOf(f)
	services, authors, err := loadNames(ctx, e.st.DB)
	if err != nil {
		return nil, err
	}
	c := &figureCalc{e: e, sc: sc, services: services, out: map[int64]*periodFigures{}}
	c.prepare(authors)

	fromDay, toDay := c.dayRange()
	if err := c.deployments(ctx, fromDay, toDay); err != nil {
		return nil, err
	}
	if err := c.mergeRequests(ctx, fromDay, toDay); err != nil {
		return nil, err
	}
	if err := c.coverage(ctx, fromDay, toDay); err != nil {
		return nil, err
	}
	return c.figures(), nil
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
}

// periodFigures are the finished figures of one period, by service ("all" included).
type periodFigures struct {
	start int64 // Unix day
	rows  map[string][]Figure
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
	if c.sc.by == Day {
		return day
	}
	// Unix day 0 was a Thursday; Monday starts the ISO week.
	return day - ((day+3)%7+7)%7
}

func (c *figureCalc) periodDays() int64 {
	if c.sc.by == Day {
		return 1
	}
	return 7
}

func (c *figureCalc) period(start int64) *periodFigures {
	p := c.out[start]
	if p == nil {
		p = &periodFigures{start: start, rows: map[string][]Figure{}}
		c.out[start] = p
	}
	return p
}

func (c *figureCalc) add(start int64, service, metric string, value float64, n int) {
	if n == 0 {
		return
	}
	p := c.period(start)
	t := time.Unix(start*86400, 0).UTC()
	key, _ := PeriodKey(t, c.sc.by)
	p.rows[service] = append(p.rows[service], Figure{Period: key, Start: t, Service: service, Metric: metric, Value: value, N: n})
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
	var data []byte
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
			if !c.serviceIn(d.service) {
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
	lo, hi := ps, ps+c.periodDays()
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
	n, rework, unapproved                 int
	cycle, coding, pickup, review, deploy []int64
}

func (b *mrBucket) reset() {
	b.n, b.rework, b.unapproved = 0, 0, 0
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
	all := &mrBucket{}
	current := int64(math.MinInt64)
	flush := func() {
		if current == math.MinInt64 {
			return
		}
		for s, b := range buckets {
			if b == nil || !used[s] {
				continue
			}
			c.emitMRs(current, c.services[s], b, all)
			b.reset()
			used[s] = false
		}
		c.emitMRs(current, AllServices, all, nil)
		all.reset()
	}
	var data []byte
	for rows.Next() {
		var day int64
		if err := rows.Scan(&day, &data); err != nil {
			return fmt.Errorf("metrics: read merge request facts: %w", err)
		}
		if ps := c.periodStart(day); ps != current {
			flush()
			current = ps
		}
		err := decodeMRs(data, func(m *packedMR) {
			if !c.serviceIn(m.service) || !c.svcTeam[m.service] && !c.authorIn(m.author) {
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

// emitMRs adds the MR figures of one bucket; when all is given, the bucket's items are added
// to it first (selection reorders the slices, which the "all" figures do not mind).
func (c *figureCalc) emitMRs(ps int64, service string, b *mrBucket, all *mrBucket) {
	if all != nil {
		all.n += b.n
		all.rework += b.rework
		all.unapproved += b.unapproved
		all.cycle = append(all.cycle, b.cycle...)
		all.coding = append(all.coding, b.coding...)
		all.pickup = append(all.pickup, b.pickup...)
		all.review = append(all.review, b.review...)
		all.deploy = append(all.deploy, b.deploy...)
	}
	if b.n == 0 {
		return
	}
	c.add(ps, service, MergedMRs, float64(b.n), b.n)
	c.add(ps, service, CycleTimeP50, float64(selectPercentile(b.cycle, 50)), b.n)
	c.add(ps, service, CycleTimeP75, float64(selectPercentile(b.cycle, 75)), b.n)
	c.add(ps, service, CycleTimeP90, float64(selectPercentile(b.cycle, 90)), b.n)
	c.add(ps, service, CodingTimeP50, float64(selectPercentile(b.coding, 50)), b.n)
	c.add(ps, service, PickupTimeP50, float64(selectPercentile(b.pickup, 50)), b.n)
	c.add(ps, service, ReviewTimeP50, float64(selectPercentile(b.review, 50)), b.n)
	if len(b.deploy) > 0 {
		c.add(ps, service, DeployTimeP50, float64(selectPercentile(b.deploy, 50)), len(b.deploy))
	}
	n := float64(b.n)
	c.add(ps, service, MRReworkRate, float64(b.rework)/n, b.n)
	c.add(ps, service, UnapprovedRate, float64(b.unapproved)/n, b.n)
}

// figures flattens the computed rows in their documented order.
func (c *figureCalc) figures() []Figure {
	starts := make([]int64, 0, len(c.out))
	for s := range c.out {
		starts = append(starts, s)
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	var out []Figure
	for _, s := range starts {
		p := c.out[s]
		names := make([]string, 0, len(p.rows))
		for name := range p.rows {
			if name != AllServices {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		names = append([]string{AllServices}, names...)
		for _, name := range names {
			rows := p.rows[name]
			sort.SliceStable(rows, func(i, j int) bool { return metricOrder[rows[i].Metric] < metricOrder[rows[j].Metric] })
			out = append(out, rows...)
		}
	}
	return out
}

// MetricNames lists the metrics in the order of the spec's table.
var MetricNames = []string{MergedMRs, CycleTimeP50, CycleTimeP75, CycleTimeP90, CodingTimeP50, PickupTimeP50,
	ReviewTimeP50, DeployTimeP50, Deployments, DeploysPerDay, ReworkRate, ChangeFailureRate, RecoveryTimeP50,
	MRReworkRate, UnapprovedRate, CoveragePercent, OutOfWindowRate}

var metricOrder = func() map[string]int {
	m := map[string]int{}
	for i, n := range MetricNames {
		m[n] = i
	}
	return m
}()

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
	db := c.e.st.DB
	first := fromDay
	if !c.sc.fromSet {
		var a, b *int64
		if err := db.QueryRowContext(ctx, `SELECT (SELECT MIN(day) FROM fact_days), (SELECT MIN(day) FROM coverage_days)`).Scan(&a, &b); err != nil {
			return fmt.Errorf("metrics: first day of data: %w", err)
		}
		switch {
		case a == nil && b == nil:
			return nil
		case a == nil:
			first = *b
		case b == nil:
			first = *a
		default:
			first = min(*a, *b)
		}
	}
	type point struct {
		project, day int64
		value        float64
	}
	var points []point
	// The value each project carries into the range, then every day in it.
	rows, err := db.QueryContext(ctx, `SELECT project_id, MAX(day), coverage FROM coverage_days WHERE day < ? GROUP BY project_id`, first)
	if err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}
	for rows.Next() {
		var p point
		if err := rows.Scan(&p.project, &p.day, &p.value); err != nil {
			rows.Close()
			return fmt.Errorf("metrics: read coverage: %w", err)
		}
		points = append(points, p)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT project_id, day, coverage FROM coverage_days WHERE day >= ? AND day < ? ORDER BY day, project_id`, first, toDay)
	if err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}
	for rows.Next() {
		var p point
		if err := rows.Scan(&p.project, &p.day, &p.value); err != nil {
			rows.Close()
			return fmt.Errorf("metrics: read coverage: %w", err)
		}
		points = append(points, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: read coverage: %w", err)
	}

	current := map[int64]float64{}
	i := 0
	for ps := c.periodStart(first); ps < toDay; ps += c.periodDays() {
		end := min(ps+c.periodDays(), toDay)
		for ; i < len(points) && points[i].day < end; i++ {
			if projects[points[i].project] != nil {
				current[points[i].project] = points[i].value
			}
		}
		if len(current) == 0 {
			continue
		}
		ids := make([]int64, 0, len(current))
		for id := range current {
			ids = append(ids, id)
		}
		// A fixed order keeps the floating-point sums identical from run to run.
		sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
		sums := map[string]float64{}
		counts := map[string]int{}
		for _, id := range ids {
			v := current[id]
			sums[AllServices] += v
			counts[AllServices]++
			for _, s := range projects[id].services {
				sums[s] += v
				counts[s]++
			}
		}
		for s, n := range counts {
			c.add(ps, s, CoveragePercent, sums[s]/float64(n), n)
		}
	}
	return nil
}
