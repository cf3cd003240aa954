package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/store/storetest"
)

// TestDeployBeforeMergeEndToEnd syncs a team that deploys before merging from the simulator
// over HTTP with `pacer sync`, then reads `pacer export`: the MR's deployed_at is the pre-merge
// deployment's finish, that deployment counts it, the next deployment (which GitLab links it
// to) does not, the category column comes last, and the metrics have the tech-debt shares.
func TestDeployBeforeMergeEndToEnd(t *testing.T) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	sc := gitlabsim.NewScenario(day.AddDate(0, 0, -7))
	p := sc.Project("api", "ann", "production")
	base := p.MR(gitlabsim.MRSpec{Author: "ann", Title: "chore: bump base", Created: day.Add(6 * time.Hour), Merged: day.Add(7 * time.Hour),
		Commits: []gitlabsim.CommitSpec{{At: day.Add(5 * time.Hour)}}})
	mr := p.MR(gitlabsim.MRSpec{Author: "bob", Title: "Add export", Branch: "feature/export",
		Created: day.Add(9 * time.Hour), Merged: day.Add(10*time.Hour + 10*time.Minute),
		Commits:    []gitlabsim.CommitSpec{{At: day.Add(8 * time.Hour)}},
		ApprovedBy: "ann", ApprovedAt: day.Add(9*time.Hour + 30*time.Minute)})
	first := p.Deploy("production", "main", base.MergeSHA(), day.Add(7*time.Hour+30*time.Minute), base)
	before := p.Deploy("production", mr.Branch(), mr.HeadSHA(), day.Add(10*time.Hour)) // deploy before merge
	next := p.Deploy("production", "main", mr.MergeSHA(), day.Add(14*time.Hour), mr)   // GitLab's link
	org := sc.Org(day.AddDate(0, 0, 7))
	srv := gitlabsim.NewServer(org, gitlabsim.ServerOptions{})
	defer srv.Close()

	db := storetest.DSN(t)
	env := mapEnv(map[string]string{"PACER_GITLAB_TOKEN": gitlabsim.DefaultToken, "PACER_GITLAB_URL": srv.URL()})
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"sync", "--group", org.TopGroup(), "--db", db, "--since", "2026-01-01"}, env, &out, &errOut); err != nil {
		t.Fatalf("sync: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	export := func(args ...string) []map[string]string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"export"}, append(args, "--db", db, "--from", "2026-03-02", "--to", "2026-03-08")...), env, &out, &errOut); err != nil {
			t.Fatalf("export %v: %v\n%s", args, err, errOut.String())
		}
		recs, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var rows []map[string]string
		for _, r := range recs[1:] {
			row := map[string]string{}
			for i, c := range recs[0] {
				row[c] = r[i]
			}
			rows = append(rows, row)
		}
		if args[0] == "merge-requests" && recs[0][len(recs[0])-1] != "category" {
			t.Errorf("merge-requests columns end with %q, want category", recs[0][len(recs[0])-1])
		}
		return rows
	}
	mrs := export("merge-requests")
	if len(mrs) != 2 {
		t.Fatalf("want 2 MRs, got %v", mrs)
	}
	got := mrs[1]
	if got["iid"] != strconv.FormatInt(mr.IID(), 10) || got["deployed_at"] != "2026-03-02T10:00:00Z" || got["deploy_seconds"] != "0" ||
		got["review_seconds"] != "1800" || got["cycle_seconds"] != strconv.Itoa(2*3600) || got["category"] != "feature" {
		t.Errorf("deploy-before-merge MR: %v", got)
	}
	if mrs[0]["category"] != "tech debt" {
		t.Errorf("chore MR category %q", mrs[0]["category"])
	}
	counts := map[string]string{}
	for _, d := range export("deployments") {
		counts[d["deployment_id"]] = d["merge_requests"]
	}
	for id, want := range map[int64]string{first: "1", before: "1", next: "0"} {
		if counts[strconv.FormatInt(id, 10)] != want {
			t.Errorf("deployment %d counts %q MRs, want %s (all: %v)", id, counts[strconv.FormatInt(id, 10)], want, counts)
		}
	}
	figs := map[string]string{}
	for _, f := range export("metrics") {
		if f["service"] == "all" {
			figs[f["metric"]] = f["value"] + " n=" + f["n"]
		}
	}
	if figs["tech_debt_share"] != "0.500000 n=2" || figs["tech_debt_effort_share"] != "0.500000 n=2" {
		t.Errorf("tech-debt figures: %v", figs)
	}
}
