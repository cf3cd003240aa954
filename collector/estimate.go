package collector

import (
	"sync/atomic"
	"time"
)

// A sync at scale is bound by requests: by GitLab's rate limit, or by latency times the
// requests in flight. So the time left is estimated as the requests still to make at the
// request rate measured over the last minute, which already reflects the pace, 429 waits and
// answer times. The requests still to make come from the projects finished so far: their
// requests per project, scaled by each project's size (the MRs its listing returned, or, through
// GraphQL, the MRs GitLab counted for it before the sync began: see order.go) once that is
// known; the requests a project has made count as progress before it finishes.

// projectWork is one project's part of a sync, for the estimate.
type projectWork struct {
	requests  *atomic.Int64 // requests made for it so far; nil until it begins
	mrs       int64         // MRs its listing returned in this sync
	listed    bool          // its MR listing is done
	done      bool
	counted   int64 // MRs GitLab counted for it to list, before the sync began
	isCounted bool
}

func (w *projectWork) state() workState {
	st := workState{mrs: w.mrs, listed: w.listed, done: w.done, begun: w.requests != nil, counted: -1}
	if w.requests != nil {
		st.requests = w.requests.Load()
	}
	if w.isCounted {
		st.counted = w.counted
	}
	return st
}

// workState is a snapshot of a projectWork.
type workState struct {
	requests int64
	mrs      int64
	counted  int64 // -1: not counted
	begun    bool
	listed   bool
	done     bool
}

// remainingRequests estimates the requests the sync still has to make. known are the projects
// begun (finished or not) and those counted before they began; total is all of them. ok is
// false until a project finished.
func remainingRequests(known []workState, total int) (float64, bool) {
	var doneReq, doneMRs float64
	finished := 0
	for _, w := range known {
		if w.done {
			doneReq += float64(w.requests)
			doneMRs += float64(w.mrs)
			finished++
		}
	}
	if finished == 0 {
		return 0, false
	}
	perProject := doneReq / float64(finished)
	avgMRs := doneMRs / float64(finished)
	left := 0.0
	for _, w := range known {
		if w.done {
			continue
		}
		expected := perProject
		switch {
		case w.listed:
			// A project twice the size of the average finished one costs about twice as much.
			expected = perProject * (float64(w.mrs) + 1) / (avgMRs + 1)
		case w.counted >= 0:
			expected = perProject * (float64(w.counted) + 1) / (avgMRs + 1)
		}
		if !w.begun {
			left += expected
			continue
		}
		// One still under way has at least a request left, however long it took so far.
		left += max(expected-float64(w.requests), 1)
	}
	left += float64(max(total-len(known), 0)) * perProject
	return left, true
}

// rateWindow measures the request rate over the last minute from samples of the request count.
type rateWindow struct {
	samples []rateSample // oldest first, at most one a second, at most a minute's
}

type rateSample struct {
	at       time.Time
	requests int64
}

const rateSpan = time.Minute

// observe records the count at now and returns the requests per second since the oldest sample
// within the span (or since start, while the sync is younger than 10 s: too few samples).
func (r *rateWindow) observe(now, start time.Time, requests int64) float64 {
	if n := len(r.samples); n == 0 || now.Sub(r.samples[n-1].at) >= time.Second {
		r.samples = append(r.samples, rateSample{now, requests})
	}
	for len(r.samples) > 1 && now.Sub(r.samples[0].at) > rateSpan {
		r.samples = r.samples[1:]
	}
	first := r.samples[0]
	if d := now.Sub(first.at); d >= 10*time.Second {
		return float64(requests-first.requests) / d.Seconds()
	}
	if d := now.Sub(start); d > 0 {
		return float64(requests) / d.Seconds()
	}
	return 0
}

// estimateRemaining is the time the requests left take at rate (per second); 0 when unknown.
func estimateRemaining(known []workState, total int, rate float64) time.Duration {
	left, ok := remainingRequests(known, total)
	if !ok || rate <= 0 {
		return 0
	}
	return time.Duration(left / rate * float64(time.Second))
}
