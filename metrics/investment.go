package metrics

import (
	"context"
	"maps"
	"slices"
	"time"
)

// CategoryShare is one investment category's part of one period's delivered MRs, and of the
// period's author-days (SPEC section 3).
type CategoryShare struct {
	Period   string
	Start    time.Time
	Category string
	// MRs of the category delivered in the period, out of Total delivered MRs.
	MRs, Total int
	// AuthorDays is the category's part of the period's author-days (a day shared by k MRs
	// counts 1/k for each of them). Its share is AuthorDays ÷ the sum of AuthorDays over the
	// period's categories (tech_debt_effort_share for the tech-debt category); TotalAuthorDays
	// is the number of distinct author-days behind them (the figure's n).
	AuthorDays      float64
	TotalAuthorDays int
}

// Categories lists the investment category names, in configuration order (first match wins).
func (e *Engine) Categories() []string {
	out := make([]string, 0, len(e.cfg.Investment.Categories))
	for _, c := range e.cfg.Investment.Categories {
		out = append(out, c.Name)
	}
	return out
}

// Investment is, per period of the filter (week or day), every category's share of the MRs
// delivered and of the author-days, over the filter's services and team, categories in
// configuration order (zeros included). Periods with no delivered MR and no author-day are
// left out.
func (e *Engine) Investment(ctx context.Context, f Filter) ([]CategoryShare, error) {
	c, err := e.compute(ctx, f)
	if err != nil {
		return nil, err
	}
	starts := map[int64]bool{}
	for ps := range c.catMRs {
		starts[ps] = true
	}
	for ps := range c.catDays {
		starts[ps] = true
	}
	names := e.Categories()
	var out []CategoryShare
	for _, ps := range slices.Sorted(maps.Keys(starts)) {
		t := time.Unix(ps*86400, 0).UTC()
		key := c.periodKey(ps)
		mrs, days := c.catMRs[ps], c.catDays[ps]
		total := 0
		for _, n := range mrs {
			total += n
		}
		for i, name := range names {
			s := CategoryShare{Period: key, Start: t, Category: name, Total: total, TotalAuthorDays: c.authorDaysN[ps]}
			if i < len(mrs) {
				s.MRs = mrs[i]
			}
			if i < len(days) {
				s.AuthorDays = days[i]
			}
			out = append(out, s)
		}
	}
	return out, nil
}
