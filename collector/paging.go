package collector

import (
	"context"
	"net/http"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// seekList walks a list GitLab sorts ascending by a time key (updated_at, finished_at) and
// filters with a lower bound (updated_after, finished_after).
//
// Plain offset paging over such a list loses rows: when an item already read is updated, it
// moves to the end, every later item shifts one place left, and the first item of the next page
// slides onto the page already read; the cursor then passes it for good. So after each page the
// lower bound is moved up to the page's last key (minus slack, for equal and not-quite-ordered
// keys) and paging restarts at page 1. Only when a whole page fits inside the slack does it
// fall back to the next offset page. Rows seen twice are harmless: saving is an upsert.
//
// fetch lists one page; save commits a page together with the cursor it covers (its highest
// key), before the next page is requested.
func seekList[T any](ctx context.Context, from time.Time, slack time.Duration,
	fetch func(ctx context.Context, after time.Time, page int64) ([]T, *gitlab.Response, error),
	key func(T) time.Time,
	save func(ctx context.Context, items []T, cursor time.Time) error,
) error {
	bound, page := from, int64(1)
	for {
		items, resp, err := fetch(ctx, bound, page)
		if err != nil {
			return err
		}
		var top time.Time
		for _, it := range items {
			if k := key(it); k.After(top) {
				top = k
			}
		}
		if len(items) > 0 {
			if err := save(ctx, items, top); err != nil {
				return err
			}
		}
		next := nextPage(resp)
		if next == 0 || len(items) == 0 {
			return nil
		}
		if nb := top.Add(-slack); nb.After(bound) {
			bound, page = nb, 1
		} else {
			page = next
		}
	}
}

// allPages lists every page of an endpoint.
func allPages[T any](ctx context.Context, fetch func(ctx context.Context, page int64) ([]T, *gitlab.Response, error)) ([]T, error) {
	var out []T
	for page := int64(1); page > 0; {
		items, resp, err := fetch(ctx, page)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		page = nextPage(resp)
		if len(items) == 0 {
			break
		}
	}
	return out, nil
}

// getJSON sends GET path (relative to /api/v4, built from numeric ids so nothing needs
// escaping) through the shared client, so it is paced, retried and counted like every other
// request, and decodes the answer into T. The hot endpoints (commits, notes, deployment MRs,
// single pipelines) are decoded into small structs of the fields Pacer reads: client-go's
// entities have dozens of nested fields, and decoding them was most of a sync's CPU time.
func getJSON[T any](ctx context.Context, c *gitlab.Client, path string, opt any) (T, *gitlab.Response, error) {
	var out T
	req, err := c.NewRequest(http.MethodGet, path, opt, []gitlab.RequestOptionFunc{gitlab.WithContext(ctx)})
	if err != nil {
		return out, nil, err
	}
	resp, err := c.Do(req, &out)
	return out, resp, err
}
