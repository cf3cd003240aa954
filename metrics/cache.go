package metrics

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Figures are a function of the derived facts, which change only when a refresh commits (its
// generation), of the filter, of the projects the engine sees and of the day (which period is
// still running). A computation is kept for its key until the generation moves, and identical
// computations asked at once run once: fifty people opening the Monday review cost one.
//
// The same cache keeps the smaller answers pages read beside the figures (the counts of a
// list, a page's histogram, the deployments' heatmap: tally.go), and what a caller derives
// from a computation once (Memo: the dashboard's index of the figures).
const (
	figureCacheSize = 16  // figure computations: a year by day of a large organisation is big
	tallyCacheSize  = 128 // tallies and counts: a few kilobytes each
)

type figureCache struct {
	// slots bound how many computations run at once (one per processor): more would only
	// share the processors, finish all later, and hold each one's working memory (tens of
	// megabytes for a year of a large organisation) at the same time.
	slots chan struct{}

	mu      sync.Mutex
	entries map[string]any
	figures []string // keys of figure computations, oldest first
	tallies []string // keys of the rest, oldest first
	flight  singleflight.Group
	runs    atomic.Int64 // figure computations run, for tests
	tallied atomic.Int64 // tallies run, for tests

	// What the last checks found, trusted for freshFor: a page asks whether the facts are
	// current, and their generation, a dozen times; a refresh of this process forgets them at
	// once, another process's is seen within freshFor.
	stmts sync.Map // query text -> *sql.Stmt (stmt)

	freshMu   sync.Mutex
	checkedAt time.Time // the facts were found current
	gen       int64
	genAt     time.Time
}

// stmt is the statement q prepared once for the engine's database and kept: a page reads its
// rows by key one statement run each, and preparing each would cost more than the run.
func (e *Engine) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	fc := &e.shared.figures
	if v, ok := fc.stmts.Load(q); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := e.st.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if v, loaded := fc.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

// freshFor is how long a check that the facts are current, and their generation, are trusted.
const freshFor = 500 * time.Millisecond

func (fc *figureCache) recentlyFresh() bool {
	fc.freshMu.Lock()
	defer fc.freshMu.Unlock()
	return time.Since(fc.checkedAt) < freshFor
}

func (fc *figureCache) markFresh() {
	fc.freshMu.Lock()
	fc.checkedAt = time.Now()
	fc.freshMu.Unlock()
}

// forgetFresh drops the trusted checks (this process committed a refresh).
func (fc *figureCache) forgetFresh() {
	fc.freshMu.Lock()
	fc.checkedAt, fc.genAt = time.Time{}, time.Time{}
	fc.freshMu.Unlock()
}

// Recheck makes the next question read the facts' state again rather than trust the last
// check (for up to freshFor): for a caller that moved the facts behind this engine's back, as
// the benchmarks do to measure the first request of a generation.
func (e *Engine) Recheck() { e.shared.figures.forgetFresh() }

// cachedFigures is a figure computation and what callers derived from it.
type cachedFigures struct {
	calc *figureCalc

	mu   sync.Mutex
	memo map[string]*memoEntry
}

type memoEntry struct {
	once sync.Once
	v    any
}

// generation reads the facts' generation (trusted for freshFor).
func (e *Engine) generation(ctx context.Context) (int64, error) {
	fc := &e.shared.figures
	fc.freshMu.Lock()
	if time.Since(fc.genAt) < freshFor {
		gen := fc.gen
		fc.freshMu.Unlock()
		return gen, nil
	}
	fc.freshMu.Unlock()
	var gen int64
	if err := e.st.DB.QueryRowContext(ctx, `SELECT generation FROM fact_state WHERE id = 1`).Scan(&gen); err != nil {
		return 0, fmt.Errorf("metrics: read fact state: %w", err)
	}
	fc.freshMu.Lock()
	fc.gen, fc.genAt = gen, time.Now()
	fc.freshMu.Unlock()
	return gen, nil
}

// cached returns the computation for f, from the cache or by running calc once for all the
// callers that ask at the same time.
func (e *Engine) cached(ctx context.Context, f Filter, calc func(context.Context) (*figureCalc, error)) (*figureCalc, error) {
	c, err := e.cachedEntry(ctx, f, calc)
	if err != nil {
		return nil, err
	}
	return c.calc, nil
}

func (e *Engine) cachedEntry(ctx context.Context, f Filter, calc func(context.Context) (*figureCalc, error)) (*cachedFigures, error) {
	gen, err := e.generation(ctx)
	if err != nil {
		return nil, err
	}
	v, err := e.shared.figures.get(ctx, gen, "fig|"+e.cacheKey(f), true, func(ctx context.Context) (any, error) {
		e.shared.figures.runs.Add(1)
		c, err := calc(ctx)
		if err != nil {
			return nil, err
		}
		return &cachedFigures{calc: c}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*cachedFigures), nil
}

// get returns the value kept for key in generation gen, or runs calc once for every caller
// asking at the same time and keeps its answer. figure says which budget the value counts in.
func (fc *figureCache) get(ctx context.Context, gen int64, key string, figure bool, calc func(context.Context) (any, error)) (any, error) {
	key = strconv.FormatInt(gen, 10) + "|" + key
	fc.mu.Lock()
	if v, ok := fc.entries[key]; ok {
		fc.mu.Unlock()
		return v, nil
	}
	fc.mu.Unlock()
	// The computation is shared: one caller going away must not fail the others.
	v, err, _ := fc.flight.Do(key, func() (any, error) {
		fc.acquire()
		defer fc.release()
		v, err := calc(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		fc.put(gen, key, figure, v)
		return v, nil
	})
	return v, err
}

func (fc *figureCache) acquire() {
	fc.mu.Lock()
	if fc.slots == nil {
		fc.slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))
	}
	slots := fc.slots
	fc.mu.Unlock()
	slots <- struct{}{}
}

func (fc *figureCache) release() { <-fc.slots }

func (fc *figureCache) put(gen int64, key string, figure bool, v any) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.entries == nil {
		fc.entries = map[string]any{}
	}
	prefix := strconv.FormatInt(gen, 10) + "|"
	// Entries of an older generation are stale: drop them all.
	drop := func(keys []string) []string {
		kept := keys[:0]
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				kept = append(kept, k)
			} else {
				delete(fc.entries, k)
			}
		}
		return kept
	}
	fc.figures, fc.tallies = drop(fc.figures), drop(fc.tallies)
	list, size := &fc.tallies, tallyCacheSize
	if figure {
		list, size = &fc.figures, figureCacheSize
	}
	if _, ok := fc.entries[key]; !ok {
		*list = append(*list, key)
	}
	fc.entries[key] = v
	for len(*list) > size {
		delete(fc.entries, (*list)[0])
		*list = (*list)[1:]
	}
}

// FigureComputations counts the figure computations run by this engine and the engines
// derived from it (Scoped, ReadOnly): every other figure question was answered from the
// cache. Tests hold a page to what it costs with it.
func (e *Engine) FigureComputations() int64 { return e.shared.figures.runs.Load() }

// clear forgets every computation (benchmarks measure the computation itself).
func (fc *figureCache) clear() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.entries, fc.figures, fc.tallies = nil, nil, nil
}

// Memo returns what build derives from the figures of f, building it once per figure
// computation (a facts generation, filter, visibility and day) whoever asks: a page that
// indexes the figures the same way on every request does it once. name tells apart the
// values of different builders; build must depend only on the figures and on what the
// computation's key holds, and its value is shared, so nobody may change it.
func (e *Engine) Memo(ctx context.Context, f Filter, name string, build func(figs []Figure) any) (any, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	c, err := e.cachedEntry(ctx, f, func(ctx context.Context) (*figureCalc, error) { return e.calculate(ctx, f) })
	if err != nil {
		return nil, err
	}
	return c.memoized("ext|"+name, func() any { return build(c.figures()) }), nil
}

// memoCalc is Memo inside the package: what build derives from the computation of f (and its
// rows), built once per computation for every caller asking under name.
func (e *Engine) memoCalc(ctx context.Context, f Filter, name string, build func(c *figureCalc, figs []Figure) any) (any, error) {
	if err := e.Validate(ctx, f); err != nil {
		return nil, err
	}
	if err := e.ensureFresh(ctx); err != nil {
		return nil, err
	}
	c, err := e.cachedEntry(ctx, f, func(ctx context.Context) (*figureCalc, error) { return e.calculate(ctx, f) })
	if err != nil {
		return nil, err
	}
	return c.memoized(name, func() any { return build(c.calc, c.figures()) }), nil
}

func (c *cachedFigures) memoized(name string, build func() any) any {
	c.mu.Lock()
	if c.memo == nil {
		c.memo = map[string]*memoEntry{}
	}
	m := c.memo[name]
	if m == nil {
		m = &memoEntry{}
		c.memo[name] = m
	}
	c.mu.Unlock()
	m.once.Do(func() { m.v = build() })
	return m.v
}

// figures is the computation's rows, flattened for a builder (each builds once, and keeps
// what it needs: a year of a large organisation is some 200,000 rows, not kept beside it).
func (c *cachedFigures) figures() []Figure { return c.calc.figures() }

// cacheKey names a computation: the day, the projects seen, and the normalised filter (the
// cache puts the facts' generation first).
func (e *Engine) cacheKey(f Filter) string {
	sc := e.scopeOf(f)
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%d|%t|%s|", dayOf(e.Now()), sc.from, sc.to, sc.fromSet, sc.by)
	if sc.services != nil {
		b.WriteString(strings.Join(sortedKeys(sc.services), ","))
	} else {
		b.WriteString("*")
	}
	b.WriteString("|" + f.Team + "|" + e.VisibilityKey())
	return b.String()
}

// Generation identifies the facts figures are computed from: it moves with every refresh that
// commits. It derives them first when they are stale, as any figure would, so a page validated
// against it (an ETag) is never answered from facts a pending refresh would replace.
func (e *Engine) Generation(ctx context.Context) (int64, error) {
	if err := e.ensureFresh(ctx); err != nil {
		return 0, err
	}
	return e.generation(ctx)
}

// VisibilityKey names the projects the engine sees ("*" for every project), for keys of
// answers computed over them.
func (e *Engine) VisibilityKey() string {
	if e.visible == nil {
		return "*"
	}
	return e.visibleKey
}

// visibilityKey hashes a set of project ids (Scoped makes it once per engine).
func visibilityKey(visible map[int64]bool) string {
	ids := make([]int64, 0, len(visible))
	for id := range visible {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := sha256.New()
	for _, id := range ids {
		fmt.Fprintf(h, "%d,", id)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
