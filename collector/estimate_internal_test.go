package collector

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRemainingRequestsFromTheFinishedProjects(t *testing.T) {
	// done: a finished project; running: one under way, not listed yet; listed: under way and
	// listed; counted: not begun, its MRs counted.
	done := func(requests, mrs int64) workState {
		return workState{requests: requests, mrs: mrs, counted: -1, begun: true, listed: true, done: true}
	}
	running := func(requests int64) workState { return workState{requests: requests, counted: -1, begun: true} }
	listed := func(requests, mrs int64) workState {
		return workState{requests: requests, mrs: mrs, counted: -1, begun: true, listed: true}
	}
	counted := func(mrs int64) workState { return workState{counted: mrs} }
	for _, c := range []struct {
		name  string
		known []workState
		total int
		want  float64
		ok    bool
	}{
		{"nothing finished yet", []workState{running(500)}, 4, 0, false},
		// Two finished projects of 100 and 300 requests: 200 per project, for the one under
		// way (not listed yet: 200 - 50) and the two not begun.
		{"by project", []workState{done(100, 0), done(300, 0), running(50)}, 5, 150 + 2*200, true},
		// Listed: scaled by its MRs against the finished ones' average (99 MRs, 200 requests):
		// 199 MRs cost twice that.
		{"by size once listed", []workState{done(100, 49), done(300, 149), listed(100, 199)}, 3, 400 - 100, true},
		// Counted before it began: scaled the same way, nothing made yet; an uncounted one
		// costs the average.
		{"by size when counted", []workState{done(100, 49), done(300, 149), counted(399), counted(0)}, 5, 800 + 2 + 200, true},
		// Under way and counted but not listed yet: the count sizes it.
		{"counted, under way", []workState{done(100, 49), done(300, 149), {requests: 50, counted: 199, begun: true}}, 3, 350, true},
		// A project past its expected requests still has one to go.
		{"over its estimate", []workState{done(100, 0), running(900)}, 2, 1, true},
		{"all finished", []workState{done(100, 0)}, 1, 0, true},
	} {
		got, ok := remainingRequests(c.known, c.total)
		if ok != c.ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	// At the measured rate: 600 requests at 20 a second are 30 s.
	if d := estimateRemaining([]workState{done(200, 0), running(0)}, 4, 20); d != 30*time.Second {
		t.Errorf("estimate: %v, want 30s", d)
	}
	if d := estimateRemaining([]workState{done(200, 0)}, 4, 0); d != 0 {
		t.Errorf("estimate without a rate: %v", d)
	}
}

func TestRateWindowMeasuresTheLastMinute(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	var w rateWindow
	// Young: since the start.
	if r := w.observe(start.Add(5*time.Second), start, 50); r != 10 {
		t.Errorf("after 5 s: %v/s, want 10", r)
	}
	// 10 a second for two minutes, then 2 a second: a minute later the rate is 2.
	n := int64(50)
	for s := 6; s <= 120; s++ {
		n += 10
		w.observe(start.Add(time.Duration(s)*time.Second), start, n)
	}
	if r := w.observe(start.Add(121*time.Second), start, n+10); math.Abs(r-10) > 0.01 {
		t.Errorf("steady: %v/s, want 10", r)
	}
	n += 10
	var r float64
	for s := 122; s <= 200; s++ {
		n += 2
		r = w.observe(start.Add(time.Duration(s)*time.Second), start, n)
	}
	if math.Abs(r-2) > 0.01 {
		t.Errorf("after slowing down: %v/s, want 2", r)
	}
	if len(w.samples) > 62 {
		t.Errorf("%d samples kept", len(w.samples))
	}
}

// parallelBatches cuts each batch at the size of the moment it is sent, runs the first alone
// when asked, covers every item once, and gives up after maxItemFailures failed batches.
func TestParallelBatchesCutsEachBatchWhenItIsSent(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	var mu sync.Mutex
	size := 2
	var sizes []int
	seen := map[int]int{}
	err := parallelBatches(context.Background(), 3, items, func() int { mu.Lock(); defer mu.Unlock(); return size }, true,
		func(_ context.Context, batch []int) error {
			mu.Lock()
			defer mu.Unlock()
			if len(sizes) == 0 && size != 2 {
				t.Error("the first batch did not run alone")
			}
			sizes = append(sizes, len(batch))
			for _, x := range batch {
				seen[x]++
			}
			size++ // each answer lets the next batch grow
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(items) {
		t.Errorf("%d of %d items covered", len(seen), len(items))
	}
	for x, n := range seen {
		if n != 1 {
			t.Errorf("item %d sent %d times", x, n)
		}
	}
	if sizes[0] != 2 || len(sizes) > 15 {
		t.Errorf("batch sizes %v: want 2 first, then growing", sizes)
	}

	calls := 0
	err = parallelBatches(context.Background(), 1, items, func() int { return 1 }, false, func(context.Context, []int) error {
		mu.Lock()
		calls++
		mu.Unlock()
		return errors.New("broken")
	})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 failures") || calls > maxItemFailures+1 {
		t.Errorf("after %d calls: %v", calls, err)
	}
	// A first batch that fails stops everything at once.
	calls = 0
	err = parallelBatches(context.Background(), 4, items, func() int { return 10 }, true, func(context.Context, []int) error {
		calls++
		return errors.New("no such field")
	})
	if err == nil || calls != 1 {
		t.Errorf("first batch failed: %d calls, %v", calls, err)
	}
}
