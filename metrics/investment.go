package metrics

import (
	"context"
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
	// AuthorDays is the category's share of the period's author-days (a day shared by k MRs
	// counts 1/k for each), out of TotalAuthorDays.
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
	return nil, nil
}
