package gitlabsim

import "math"

// mrsPerServiceDay is about how many MRs a day (weekends included) each service beyond the
// default dozen brings at Scale 1 (mrsPerScaleDay is the dozen's, the monolith among them).
const mrsPerServiceDay = 2.7

// GenOptionsForMRs returns options for an organisation with about n merge requests over days
// of history (seeded with seed): the default dozen services busier, up to twice the usual
// activity, then more services at that activity, as a large organisation has more projects
// rather than busier people (ScaleFor only makes the dozen busier). n <= 0 gives the default
// organisation.
func GenOptionsForMRs(seed int64, n, days int) GenOptions {
	opt := GenOptions{Seed: seed, Days: days}
	if days <= 0 {
		opt.Days = 90
	}
	if n <= 0 {
		return opt
	}
	scale := ScaleFor(n, opt.Days)
	if scale <= 2 {
		opt.Scale = max(scale, 0.05)
		return opt
	}
	opt.Scale = 2
	extra := (float64(n)/float64(opt.Days) - 2*mrsPerScaleDay) / (2 * mrsPerServiceDay)
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
