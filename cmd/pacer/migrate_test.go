package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store/storetest"
)

// A synced SQLite database moved to PostgreSQL gives the same exports, byte for byte, and the
// source file is left as it was.
func TestMigrateMovesADatabaseToPostgres(t *testing.T) {
	pg := storetest.PostgresDSN(t)
	end := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 5, End: end, Days: 28})
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()
	env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_GITLAB_URL": srv.URL()})
	dir := t.TempDir()
	lite := filepath.Join(dir, "pacer.db")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"sync", "--group", org.TopGroup(), "--db", lite, "--since", "2026-01-01"}, env, &out, &errOut); err != nil {
		t.Fatalf("sync: %v\n%s", err, errOut.String())
	}
	exports := func(db string) string {
		t.Helper()
		var b strings.Builder
		for _, ds := range []string{"merge-requests", "deployments", "coverage", "metrics"} {
			for _, by := range []string{"week", "day"} {
				var out, errOut bytes.Buffer
				if err := run(context.Background(), []string{"export", ds, "--db", db, "--by", by, "--from", "2026-02-09", "--to", "2026-03-08"},
					env, &out, &errOut); err != nil {
					t.Fatalf("export %s from %s: %v\n%s", ds, db, err, errOut.String())
				}
				b.WriteString(out.String())
			}
		}
		return b.String()
	}
	want := exports(lite)
	sum := func() [32]byte {
		b, err := os.ReadFile(lite)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	before := sum()

	code, stdout, stderr := runCmd(t, "migrate", "--from", lite, "--to", pg)
	if code != 0 || !strings.Contains(stdout, "row counts verified") {
		t.Fatalf("migrate: exit %d, %q, %q", code, stdout, stderr)
	}
	if sum() != before {
		t.Error("migrate changed the source file")
	}
	got := exports(pg)
	if got != want {
		a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("exports differ at line %d:\nSQLite:     %s\nPostgreSQL: %s", i+1, a[i], b[i])
			}
		}
		t.Fatalf("exports differ in length: %d vs %d lines", len(a), len(b))
	}
	if len(want) < 5000 {
		t.Fatalf("the exports are nearly empty (%d bytes)", len(want))
	}

	// A second copy is refused without --force, and replaces the target with it.
	code, _, stderr = runCmd(t, "migrate", "--from", lite, "--to", pg)
	if code != 2 || !strings.Contains(stderr, "not empty") || !strings.Contains(stderr, "--force") {
		t.Errorf("second migrate: exit %d, %q", code, stderr)
	}
	code, stdout, stderr = runCmd(t, "migrate", "--from", lite, "--to", pg, "--force")
	if code != 0 || exports(pg) != want {
		t.Errorf("migrate --force: exit %d, %q, %q, or other exports", code, stdout, stderr)
	}
}

func TestMigrateBadInputIsOneLineExit2(t *testing.T) {
	dir := t.TempDir()
	lite := filepath.Join(dir, "pacer.db")
	if code, _, stderr := runCmd(t, "sync", "--db", lite, "-h"); code != 0 {
		t.Fatalf("sync -h: %d %s", code, stderr)
	}
	os.WriteFile(lite, nil, 0o644) // an empty file is an empty SQLite database
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", lite}, "give --from FILE and --to"},
		{[]string{"--from", filepath.Join(dir, "missing.db"), "--to", "postgres://u@127.0.0.1:1/p"}, "cannot read"},
		{[]string{"--from", lite, "--to", "mysql://u@h/p"}, "must be a postgres://"},
		{[]string{"--from", lite, "--to", "postgres://u:s3cret@127.0.0.1:1/p?connect_timeout=2"}, "cannot reach PostgreSQL"},
		{[]string{"--from", lite, "--to", "postgres://u:s3cret@[::1/p"}, "PostgreSQL URL"},
	} {
		code, _, stderr := runCmd(t, append([]string{"migrate"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("migrate %v: exit %d, %q; want exit 2 and one line with %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "s3cret") {
			t.Errorf("migrate %v: the password reached the message: %q", c.args, stderr)
		}
	}
}
