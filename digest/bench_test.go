package digest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// BenchmarkRender composes and renders one digest (subject, HTML, text) over the fixed
// dataset, or over the database named by PACER_DIGEST_BENCH_DB (for example one made by
// pacer demo --db), for its last full week.
func BenchmarkRender(b *testing.B) {
	ctx := context.Background()
	var s *Sender
	week := w09
	if path := os.Getenv("PACER_DIGEST_BENCH_DB"); path != "" {
		st, err := store.OpenExisting(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		var last int64
		if err := st.DB.QueryRow(`SELECT MAX(finished_at) FROM deployments`).Scan(&last); err != nil {
			b.Fatal(err)
		}
		week = LastFullWeek(time.Unix(last, 0))
		cfg := config.Default()
		cfg.BaseURL = "https://pacer.example.com"
		s = New(st, metrics.New(st, cfg), cfg)
	} else {
		f, eng := newFixture(b)
		s = New(f.st, eng, f.cfg)
	}
	if _, _, _, err := s.Render(ctx, week, Scope{}); err != nil { // derives the facts once
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := s.Render(ctx, week, Scope{}); err != nil {
			b.Fatal(err)
		}
	}
}
