package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

const pipelineOverlap = 5 * time.Minute

// pipelinesFrom is where a project's pipeline listing starts (either API): the cursor less the
// overlap, or the sync's start for a project never listed.
func (s *syncer) pipelinesFrom(ctx context.Context, p store.Project) (time.Time, error) {
	from, ok, err := s.st.Cursor(ctx, p.ID, store.ResourcePipelines)
	if err != nil || !ok {
		return s.since(), err
	}
	return from.Add(-pipelineOverlap), nil
}

// syncPipelines lists the project's default-branch pipelines updated since the cursor
// (ref=<default>&order_by=updated_at&sort=asc&updated_after) and saves them page by page with
// the cursor. Coverage is read afterwards, only where it decides something (syncCoverage).
func (s *syncer) syncPipelines(ctx context.Context, p store.Project) error {
	if p.DefaultBranch == "" {
		return nil // an empty repository has no default branch and no pipelines on it
	}
	from, err := s.pipelinesFrom(ctx, p)
	if err != nil {
		return err
	}
	fetch := func(ctx context.Context, after time.Time, page int64) ([]*gitlab.PipelineInfo, *gitlab.Response, error) {
		opt := &gitlab.ListProjectPipelinesOptions{
			ListOptions:  gitlab.ListOptions{PerPage: 100, Page: page},
			Ref:          gitlab.Ptr(p.DefaultBranch),
			OrderBy:      gitlab.Ptr("updated_at"),
			Sort:         gitlab.Ptr("asc"),
			UpdatedAfter: gitlab.Ptr(after),
		}
		ps, resp, err := s.gl.Pipelines.ListProjectPipelines(p.ID, opt, reqOpts(ctx)...)
		if err != nil {
			return nil, resp, explain("list pipelines of "+p.Path, err)
		}
		return ps, resp, nil
	}
	seen := map[int64]bool{}
	save := func(ctx context.Context, ps []*gitlab.PipelineInfo, cursor time.Time) error {
		rows := make([]store.Pipeline, 0, len(ps))
		n := 0
		for _, x := range ps {
			if x.Ref != p.DefaultBranch {
				continue // the ref filter is the server's; checked again in case one ignores it
			}
			rows = append(rows, store.Pipeline{ID: x.ID, IID: x.IID, ProjectID: p.ID, Ref: x.Ref, SHA: x.SHA,
				Status: x.Status, Source: x.Source, CreatedAt: timeOrZero(x.CreatedAt), UpdatedAt: timeOrZero(x.UpdatedAt),
				WebURL: x.WebURL})
			if !seen[x.ID] {
				seen[x.ID] = true
				n++
			}
		}
		if err := s.st.SavePipelines(ctx, p.ID, rows, cursor); err != nil {
			return err
		}
		s.add(func(pr *Progress) { pr.Pipelines += int64(n) })
		return nil
	}
	err = seekList(ctx, from, seekSlack, fetch, func(x *gitlab.PipelineInfo) time.Time { return timeOrZero(x.UpdatedAt) }, save)
	if httpStatus(err) == http.StatusForbidden {
		s.opt.Logger.Info("pipelines not available", "project", p.Path)
		return nil
	}
	return err
}

// syncCoverage reads finish time and coverage (GET /projects/:id/pipelines/:id; the list has
// neither) for the pipelines that decide a coverage figure, and no others.
//
// Every coverage figure of SPEC sections 3 and 4 is, per project, the successful default-branch
// pipeline with coverage that finished last on a UTC day (or before a period ended, which is
// the last such pipeline of the last day that has one). So per day only the latest successful
// pipeline is read, then earlier ones only while those read so far report no coverage. The
// list gives updated_at, not finished_at; a finished pipeline's finished_at is never after its
// updated_at, which bounds what an unread pipeline can change:
//   - an unread pipeline updated on day D matters only if it was updated at or after the finish
//     of D's best pipeline so far (it might have finished later), or D has no best yet;
//   - one created on an earlier day than it was updated might have finished on any day in
//     between, so it is read.
//
// Rounds read, in parallel, the latest candidate of each day until no candidate is left.
func (s *syncer) syncCoverage(ctx context.Context, p store.Project) error {
	if p.DefaultBranch == "" {
		return nil
	}
	ps, err := s.st.SuccessfulPipelines(ctx, p.ID) // latest updated first
	if err != nil {
		return err
	}
	best := map[time.Time]time.Time{} // UTC day -> latest finish with coverage
	note := func(x store.Pipeline) {
		if x.Coverage == nil || x.FinishedAt == nil {
			return
		}
		d := day(*x.FinishedAt)
		if b, ok := best[d]; !ok || x.FinishedAt.After(b) {
			best[d] = *x.FinishedAt
		}
	}
	for _, x := range ps {
		if x.DetailFetched {
			note(x)
		}
	}
	done := map[int64]bool{}
	for {
		var round []store.Pipeline
		taken := map[time.Time]bool{}
		for _, x := range ps {
			if x.DetailFetched || done[x.ID] {
				continue
			}
			d := day(x.UpdatedAt)
			if taken[d] || !coverageMatters(x, best) {
				continue
			}
			taken[d] = true
			round = append(round, x)
		}
		if len(round) == 0 {
			return nil
		}
		var mu sync.Mutex
		err := parallel(ctx, s.opt.Concurrency, round, func(ctx context.Context, x store.Pipeline) error {
			got, err := s.pipelineDetail(ctx, p, x)
			mu.Lock()
			defer mu.Unlock()
			done[x.ID] = true
			if err == nil {
				note(got)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
}

// coverageMatters says whether an unread successful pipeline could be the latest with coverage
// of some day, given the best finishes known.
func coverageMatters(x store.Pipeline, best map[time.Time]time.Time) bool {
	d := day(x.UpdatedAt)
	if day(x.CreatedAt).Before(d) {
		return true
	}
	b, ok := best[d]
	return !ok || !x.UpdatedAt.Before(b)
}

func (s *syncer) pipelineDetail(ctx context.Context, p store.Project, x store.Pipeline) (store.Pipeline, error) {
	// Coverage is a string ("83.4") or null in GitLab's pipeline entity.
	type pipelineDetail struct {
		FinishedAt *time.Time      `json:"finished_at"`
		Coverage   json.RawMessage `json:"coverage"`
	}
	gp, _, err := getJSON[pipelineDetail](ctx, s.gl, fmt.Sprintf("projects/%d/pipelines/%d", p.ID, x.ID), nil)
	if httpStatus(err) == http.StatusNotFound {
		// Deleted since it was listed (and the project still readable): it decides nothing.
		if err := s.confirmGone(ctx, p, "", fmt.Sprintf("pipeline %d of %s", x.ID, p.Path), err); err != nil {
			return x, err
		}
		_, err := s.st.SetPipelineDetail(ctx, x.ID, x.UpdatedAt, nil, nil)
		return x, err
	}
	if err != nil {
		return x, explain(fmt.Sprintf("get pipeline %d of %s", x.ID, p.Path), err)
	}
	x.FinishedAt = secsPtr(gp.FinishedAt)
	x.Coverage = parseCoverage(gp.Coverage)
	x.DetailFetched = true
	ok, err := s.st.SetPipelineDetail(ctx, x.ID, x.UpdatedAt, x.FinishedAt, x.Coverage)
	if err != nil {
		return x, err
	}
	if !ok {
		x.Coverage = nil // the stored pipeline moved on meanwhile; its next listing re-reads it
	}
	s.add(func(pr *Progress) { pr.Coverage++ })
	return x, nil
}

// parseCoverage reads GitLab's coverage, a string ("83.4") or null; a bare number is accepted
// too. Empty or unreadable is no coverage.
func parseCoverage(raw json.RawMessage) *float64 {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		return nil
	}
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v > 100 {
		return nil
	}
	return &v
}

// day is the UTC day containing t.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
