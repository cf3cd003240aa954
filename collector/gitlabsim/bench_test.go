package gitlabsim

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

func BenchmarkGenerateQuarter(b *testing.B) {
	for b.Loop() {
		Generate(GenOptions{Seed: 1, End: testEnd})
	}
}

func BenchmarkGenerate10kMRs(b *testing.B) {
	var n int
	for b.Loop() {
		o := Generate(GenOptions{Seed: 1, End: testEnd, Scale: ScaleFor(10000, 90)})
		n = len(o.Truth().MergeRequests)
	}
	b.ReportMetric(float64(n), "MRs")
}

func BenchmarkTruthQuarter(b *testing.B) {
	o := Generate(GenOptions{Seed: 1, End: testEnd})
	for b.Loop() {
		o.Truth()
	}
}

func BenchmarkServeMergeRequestPage(b *testing.B) {
	o := Generate(GenOptions{Seed: 1, End: testEnd})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	url := s.URL() + "/api/v4/projects/acme%2Fmonolith/merge_requests?state=all&order_by=updated_at&sort=asc&per_page=100&page=3"
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("PRIVATE-TOKEN", DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

func TestScaleFor(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 2, End: testEnd, Days: 20, Scale: ScaleFor(1500, 20)})
	if n := len(o.Truth().MergeRequests); n < 1250 || n > 1750 {
		t.Errorf("ScaleFor(1500, 20) gave %d MRs", n)
	}
}

// TestConcurrentAdvance serves while the organisation advances (run with -race).
func TestConcurrentAdvance(t *testing.T) {
	t.Parallel()
	o := smallOrg(12)
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	c := newClient(t, s)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			o.Advance(17 * time.Minute)
			_ = o.Truth()
		}
		close(stop)
	}()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := c.MergeRequests.ListProjectMergeRequests("acme/monolith", &gitlab.ListProjectMergeRequestsOptions{
					ListOptions: gitlab.ListOptions{PerPage: 50}}); err != nil {
					t.Error(err)
					return
				}
				if _, _, err := c.Deployments.ListProjectDeployments("acme/monolith", nil); err != nil {
					t.Error(fmt.Errorf("deployments: %w", err))
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAdvanceToAndLive(t *testing.T) {
	t.Parallel()
	o := smallOrg(13)
	start := o.Now()
	o.AdvanceTo(start.Add(-time.Hour))
	if !o.Now().Equal(start) {
		t.Fatalf("AdvanceTo the past moved the clock to %v", o.Now())
	}
	o.AdvanceTo(start.Add(90 * time.Minute))
	if !o.Now().Equal(start.Add(90 * time.Minute)) {
		t.Fatalf("AdvanceTo: now %v", o.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Live(ctx, time.Millisecond, time.Minute); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for o.Now().Before(start.Add(100*time.Minute)) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if o.Now().Before(start.Add(100 * time.Minute)) {
		t.Fatalf("Live did not advance: %v", o.Now())
	}
}

func TestOptionEdges(t *testing.T) {
	t.Parallel()
	for _, opt := range []GenOptions{
		{Seed: 1, End: testEnd, Days: 3, Services: 1},
		{Seed: 2, End: testEnd, Days: 2, Services: 30, Scale: 0.1},
		{Seed: 3, End: testEnd.Add(13*time.Hour + 7*time.Minute), Days: 4, Scale: 4},
	} {
		o := Generate(opt)
		tr := o.Truth()
		if want := cmp.Or(opt.Services, 12); len(tr.Projects) != want {
			t.Errorf("%+v: %d projects", opt, len(tr.Projects))
		}
		s := NewServer(o, ServerOptions{})
		c := newClient(t, s)
		for _, p := range tr.Projects[:1] {
			if _, _, err := c.MergeRequests.ListProjectMergeRequests(p.ID, nil); err != nil {
				t.Errorf("%+v: %v", opt, err)
			}
		}
		s.Close()
	}
}
