package web

import (
	"net/http"
	"os"
	"testing"
	"time"
)

func TestSmokeDump(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/merge-requests", "/deployments", "/sync"} {
		rec := f.get(p, false)
		t.Logf("%s -> %d (%d bytes)", p, rec.Code, rec.Body.Len())
		if rec.Code != 200 {
			t.Log(rec.Body.String())
		}
		name := p[1:]
		if name == "" {
			name = "index"
		}
		os.WriteFile("/tmp/pacer-"+name+".html", rec.Body.Bytes(), 0o644)
	}
}

func TestDevServe(t *testing.T) {
	if os.Getenv("PACER_DEV_SERVE") == "" {
		t.Skip()
	}
	f := newFixture(t)
	srv := &http.Server{Addr: "127.0.0.1:8099", Handler: f.srv}
	go srv.ListenAndServe()
	time.Sleep(60 * time.Second)
	srv.Close()
}
