package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// exportDB makes a database with one project, one merged MR and one deployment.
func exportDB(t *testing.T) string {
	t.Helper()
	path := storetest.DSN(t)
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, q := range []string{
		`INSERT INTO projects(id, path, default_branch, discovered_at) VALUES (1, 'acme/api', 'main', 0)`,
		`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, target_branch, created_at, updated_at, merged_at)
		 VALUES (1, 1, 11, '=1+1', 'merged', 1, 'alice', 'main', 1772409600, 1772409600, 1772413200)`,
		`INSERT INTO environments(id, project_id, name, tier, production) VALUES (10, 1, 'production', 'production', 1)`,
		`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at)
		 VALUES (5, 1, 1, 10, 'production', 'abc', 'success', 1772416800, 1772416800, 1772416800)`,
		`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (5, 1, 1)`,
	} {
		if _, err := st.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func runExportArgs(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut, msg bytes.Buffer
	err := run(context.Background(), append([]string{"export"}, args...), mapEnv(env), &out, &errOut)
	code = exitCode(err, &msg)
	return out.String(), msg.String(), code
}

func TestExportBadInputIsExit2(t *testing.T) {
	db := exportDB(t)
	cfg := filepath.Join(t.TempDir(), "pacer.toml")
	os.WriteFile(cfg, []byte("[[team]]\nname = \"money\"\nservices = [\"acme/api\"]\n"), 0o644)
	missing := filepath.Join(t.TempDir(), "missing.db")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"people", "--db", db}, `unknown dataset "people"`},
		{[]string{"--db", db}, "which dataset"},
		{[]string{"metrics", "--db", db, "--from", "2026-03-05", "--to", "2026-03-01"}, "reversed"},
		{[]string{"metrics", "--db", db, "--from", "2026-3-5"}, `--from "2026-3-5" is not a date`},
		{[]string{"metrics", "--db", db, "--from", "2999-01-01"}, "--from 2999-01-01 is after today"},
		{[]string{"metrics", "--db", db, "--to", "yesterday"}, "not a date"},
		{[]string{"metrics", "--db", db, "--by", "year"}, "not a period"},
		{[]string{"metrics", "--db", db, "--service", "acme/nope"}, `unknown service "acme/nope"`},
		{[]string{"metrics", "--db", db, "--config", cfg, "--team", "nobody"}, `unknown team "nobody" (teams: money)`},
		{[]string{"metrics", "--db", missing}, "does not exist"},
		{[]string{"metrics", "extra", "--db", db}, "unexpected argument"},
		{[]string{"--db", db, "metrics", "--from", "2026-03-02", "extra"}, `unexpected argument "extra"`},
		{[]string{"--db", db, "--from", "2026-03-05", "metrics", "--to", "2026-03-01"}, "reversed"},
		{[]string{"metrics", "--db", db, "--bogus"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		out, msg, code := runExportArgs(t, nil, c.args...)
		if code != 2 || !strings.Contains(msg, c.want) || strings.Count(msg, "\n") != 1 || out != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and one line with %q", c.args, code, msg, out, c.want)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Error("a missing database must not be created")
	}
}

func TestExportWritesCSV(t *testing.T) {
	db := exportDB(t)
	out, msg, code := runExportArgs(t, map[string]string{"PACER_DB": db, "PACER_BY": "day"}, "metrics", "--from", "2026-03-02", "--to", "2026-03-02")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	for _, w := range []string{"period,service,metric,value,n\n", "2026-03-02,all,merged_mrs,1,1\n", "2026-03-02,acme/api,deployments,1,1\n", "2026-03-02,all,deploy_time_p50_seconds,3600,1\n"} {
		if !strings.Contains(out, w) {
			t.Errorf("metrics output lacks %q:\n%s", w, out)
		}
	}
	// Flags may come before the dataset; titles are made inert.
	out, msg, code = runExportArgs(t, nil, "--db", db, "--service", "acme/api", "merge-requests")
	if code != 0 || !strings.HasPrefix(out, "service,project,iid,title,") || !strings.Contains(out, ",'=1+1,alice,") {
		t.Errorf("merge-requests: exit %d %s\n%s", code, msg, out)
	}
	// Flags on both sides of the dataset.
	out, msg, code = runExportArgs(t, nil, "--db", db, "--by=day", "metrics", "--from", "2026-03-02", "--service", "acme/api", "--to", "2026-03-02")
	if code != 0 || !strings.Contains(out, "2026-03-02,acme/api,deployments,1,1\n") {
		t.Errorf("flags around the dataset: exit %d %s\n%s", code, msg, out)
	}
	out, _, code = runExportArgs(t, nil, "deployments", "--db", db)
	if code != 0 || !strings.Contains(out, "acme/api,acme/api,production,5,abc,2026-03-02T02:00:00Z,1,false,false,false,,\n") {
		t.Errorf("deployments: exit %d\n%s", code, out)
	}
	out, _, code = runExportArgs(t, nil, "coverage", "--db", db)
	if code != 0 || out != "service,project,date,pipeline_id,sha,coverage_percent\n" {
		t.Errorf("coverage: exit %d %q", code, out)
	}
}
