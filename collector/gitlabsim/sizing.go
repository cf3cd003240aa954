package gitlabsim

import "math"

// About how many merge requests a day (weekends included) the default organisation (12
// services, the monolith among them, at scale 1) opens, and each further service.
const (
	mrsPerDay        = 57
	mrsPerDayService = 2.7
)

// GenOptionsForMRs returns options for an organisation with about n merge requests over days
// of history (seeded with seed): the default dozen services busier, up to twice the usual
// activity, then more services at that activity. n <= 0 gives the default organisation.
func GenOptionsForMRs(seed int64, n, days int) GenOptions {
	opt := GenOptions{Seed: seed, Days: days}
	if days <= 0 {
		opt.Days = 90
	}
	if n <= 0 {
		return opt
	}
	scale := float64(n) / float64(mrsPerDay*opt.Days)
	if scale <= 2 {
		opt.Scale = max(scale, 0.05)
		return opt
	}
	opt.Scale = 2
	extra := (float64(n)/float64(opt.Days) - 2*mrsPerDay) / (2 * mrsPerDayService)
	opt.Services = 12 + int(math.Round(extra))
	return opt
}

// MergeRequests counts the merge requests that exist at Now.
func (o *Org) MergeRequests() int {
	o.mu.RLock()
	defer o.mu.RUnlock()
	n := 0
	for _, p := range o.projects {
		for _, m := range p.mrs {
			if m.exists(o.now) {
				n++
			}
		}
	}
	return n
}
