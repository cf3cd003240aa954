package gitlabsim

import (
	"math"
	"math/rand/v2"
	"time"
)

// rnd wraps the generator's single seeded source so that one seed gives one organisation.
type rnd struct{ *rand.Rand }

func newRnd(seed int64) rnd {
	return rnd{rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))}
}

func (r rnd) chance(p float64) bool { return r.Float64() < p }

// logn draws a log-normal duration with the given median and shape.
func (r rnd) logn(median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
}

// between draws uniformly in [a, b).
func (r rnd) between(a, b time.Duration) time.Duration {
	if b <= a {
		return a
	}
	return a + time.Duration(r.Int64N(int64(b-a)))
}

func (r rnd) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		n := int(math.Round(lambda + math.Sqrt(lambda)*r.NormFloat64()))
		return max(n, 0)
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

const hexDigits = "0123456789abcdef"

func (r rnd) sha() string {
	var b [40]byte
	for i := 0; i < 40; i += 16 {
		v := r.Uint64()
		for j := 0; j < 16 && i+j < 40; j++ {
			b[i+j] = hexDigits[v&15]
			v >>= 4
		}
	}
	return string(b[:])
}

func pick[T any](r rnd, xs []T) T { return xs[r.IntN(len(xs))] }

// weighted returns an index drawn with the given weights.
func (r rnd) weighted(w ...float64) int {
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	v := r.Float64() * sum
	for i, x := range w {
		if v < x {
			return i
		}
		v -= x
	}
	return len(w) - 1
}

// lazyIDs is a min-heap by creation instant. GitLab ids grow with creation time; the generator
// plans items ahead (a note two days from now), so ids are handed out only when the simulated
// clock passes an item's creation instant.
type lazyIDs[T any] struct {
	items []T
	at    func(T) time.Time
}

func (h *lazyIDs[T]) less(i, j int) bool { return h.at(h.items[i]).Before(h.at(h.items[j])) }

func (h *lazyIDs[T]) push(x T) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

// popUntil hands every item created at or before t to assign, oldest first.
func (h *lazyIDs[T]) popUntil(t time.Time, assign func(T)) {
	for len(h.items) > 0 && !h.at(h.items[0]).After(t) {
		x := h.items[0]
		n := len(h.items) - 1
		h.items[0] = h.items[n]
		var zero T
		h.items[n] = zero
		h.items = h.items[:n]
		i := 0
		for {
			l, rr, m := 2*i+1, 2*i+2, i
			if l < n && h.less(l, m) {
				m = l
			}
			if rr < n && h.less(rr, m) {
				m = rr
			}
			if m == i {
				break
			}
			h.items[i], h.items[m] = h.items[m], h.items[i]
			i = m
		}
		assign(x)
	}
}
