package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkPages renders each page, as a full document, over a generated organisation at the
// default activity (12 weeks: about 3,400 merged MRs and 2,400 production deployments), through the
// router and its middleware.
func BenchmarkPages(b *testing.B) {
	srv := demoServer(b, 84, 1)
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"cycle-time", "/cycle-time"},
		{"releases", "/releases"},
		{"rework", "/rework"},
		{"coverage", "/coverage"},
		{"approvals", "/approvals"},
		{"merge-requests", "/merge-requests?sort=slowest"},
		{"deployments", "/deployments"},
		{"overview-by-day", "/?by=day"},
		{"compare", "/compare"},
		{"compare-teams", "/compare?of=teams"},
		{"export-merge-requests", "/export/merge-requests.csv"},
	} {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p.path, rec.Code)
				}
			}
		})
	}
}
