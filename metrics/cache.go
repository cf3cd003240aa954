package metrics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
)

// Figures are a function of the derived facts, which change only when a refresh commits (its
// generation), of the filter, of the projects the engine sees and of the day (which period is
// still running). A computation is kept for its key until the generation moves, and identical
// computations asked at once run once: fifty people opening the Monday review cost one.
const figureCacheSize = 16

type figureCache struct {
	mu      sync.Mutex
	entries map[string]*figureCalc
	order   []string // oldest first
	flight  singleflight.Group
	runs    atomic.Int64 // computations run, for tests
}

// cached returns the computation for f, from the cache or by running calc once for all the
// callers that ask at the same time.
func (e *Engine) cached(ctx context.Context, f Filter, calc func(context.Context) (*figureCalc, error)) (*figureCalc, error) {
	var gen int64
	if err := e.st.DB.QueryRowContext(ctx, `SELECT generation FROM fact_state WHERE id = 1`).Scan(&gen); err != nil {
		return nil, fmt.Errorf("metrics: read fact state: %w", err)
	}
	key := e.cacheKey(gen, f)
	fc := &e.shared.figures
	fc.mu.Lock()
	if c, ok := fc.entries[key]; ok {
		fc.mu.Unlock()
		return c, nil
	}
	fc.mu.Unlock()
	// The computation is shared: one caller going away must not fail the others.
	v, err, _ := fc.flight.Do(key, func() (any, error) {
		fc.runs.Add(1)
		c, err := calc(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		fc.put(gen, key, c)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*figureCalc), nil
}

func (fc *figureCache) put(gen int64, key string, c *figureCalc) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.entries == nil {
		fc.entries = map[string]*figureCalc{}
	}
	prefix := strconv.FormatInt(gen, 10) + "|"
	// Entries of an older generation are stale: drop them all.
	kept := fc.order[:0]
	for _, k := range fc.order {
		if strings.HasPrefix(k, prefix) {
			kept = append(kept, k)
		} else {
			delete(fc.entries, k)
		}
	}
	fc.order = kept
	if _, ok := fc.entries[key]; !ok {
		fc.order = append(fc.order, key)
	}
	fc.entries[key] = c
	for len(fc.order) > figureCacheSize {
		delete(fc.entries, fc.order[0])
		fc.order = fc.order[1:]
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
	fc.entries, fc.order = nil, nil
}

// cacheKey names a computation: the facts' generation first (put drops other generations by
// it), the day, the projects seen, and the normalised filter.
func (e *Engine) cacheKey(gen int64, f Filter) string {
	sc := e.scopeOf(f)
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%d|%d|%d|%t|%s|", gen, dayOf(e.Now()), sc.from, sc.to, sc.fromSet, sc.by)
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
	var gen int64
	if err := e.st.DB.QueryRowContext(ctx, `SELECT generation FROM fact_state WHERE id = 1`).Scan(&gen); err != nil {
		return 0, fmt.Errorf("metrics: read fact state: %w", err)
	}
	return gen, nil
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
