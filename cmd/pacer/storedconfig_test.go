package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
	"github.com/pacer-dev/pacer/web"
)

// The configuration the facts were derived with is kept with them: export and digest without
// --config use it (its services and teams), and given another configuration they refuse
// instead of deriving the facts again under it, so a server beside them serves the same pages
// and figures throughout.
func TestStoredConfigurationBesideARunningServer(t *testing.T) {
	ctx := context.Background()
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 5, Days: 14, Services: 3, Scale: 0.5,
		End: time.Now().UTC().Truncate(24 * time.Hour)})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	var paths []string
	for _, p := range org.Truth().Projects {
		paths = append(paths, p.Path)
	}
	dir := t.TempDir()
	db := storetest.DSN(t)
	cfgA := filepath.Join(dir, "a.toml")
	writeFile(t, cfgA, fmt.Sprintf("[[service]]\nname = \"money\"\nprojects = [%q, %q]\n\n[[team]]\nname = \"core\"\nservices = [\"money\"]\n\n[bots]\nusernames = %q\n",
		paths[0], paths[1], org.BotUsernames()))
	cfgB := filepath.Join(dir, "b.toml")
	writeFile(t, cfgB, fmt.Sprintf("[bots]\nusernames = %q\n", org.BotUsernames()))
	env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_GITLAB_URL": srv.URL()})
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"sync", "--group", org.TopGroup(), "--db", db, "--config", cfgA, "--since", "2000-01-01"}, env, &out, &errOut); err != nil {
		t.Fatalf("sync: %v\n%s", err, errOut.String())
	}

	// The server, as pacer serve --config a.toml would run it, in its own connection.
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := config.Load(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	server, err := web.New(web.Options{Store: st, Engine: metrics.New(st, a), Config: a,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	page := func(path string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "127.0.0.1"
		server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.String()
	}
	generation := func() (g int64) {
		st.DB.QueryRow(`SELECT generation FROM fact_state`).Scan(&g)
		return g
	}
	figures := page("/export/metrics.csv")
	gen := generation()

	// Without --config: the stored configuration, its service and team.
	code, stdout, stderr := runCmd(t, "export", "metrics", "--db", db, "--service", "money")
	if code != 0 || !strings.Contains(stdout, ",money,") {
		t.Fatalf("export --service money: exit %d %s", code, stderr)
	}
	if stdout != page("/export/metrics.csv?service=money") {
		t.Error("export with the stored configuration differs from the server's CSV")
	}
	html := filepath.Join(dir, "core.html")
	if code, _, stderr := runCmd(t, "digest", "--db", db, "--team", "core", "--out", html); code != 0 {
		t.Fatalf("digest --team core: exit %d %s", code, stderr)
	}
	// With another configuration: refused, nothing derived again.
	code, _, stderr = runCmd(t, "export", "metrics", "--db", db, "--config", cfgB)
	if code != 2 || !strings.Contains(stderr, "derived with another configuration") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("export --config b.toml: exit %d %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, "digest", "--db", db, "--config", cfgB, "--out", html); code == 0 {
		t.Errorf("digest --config b.toml was not refused: %q", stderr)
	}
	if generation() != gen || page("/export/metrics.csv") != figures {
		t.Error("the server's facts or figures moved while other commands ran")
	}
	// --write-config writes the demo's configuration, which loads.
	demoCfg := filepath.Join(dir, "demo.toml")
	if code, _, stderr := runCmd(t, "demo", "--write-config", demoCfg); code != 0 {
		t.Fatalf("demo --write-config: %d %s", code, stderr)
	}
	if c, err := config.Load(demoCfg); err != nil || len(c.Services) == 0 || len(c.Teams) == 0 {
		t.Errorf("the written demo configuration: %v", err)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
