package metrics

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

func exportCSV(t *testing.T, e *Engine, dataset string, flt Filter) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteCSV(context.Background(), &b, e, dataset, flt); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCSVMergeRequestsAndDeployments(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	f.user(2, "bob", false)
	f.env(10, 1, "production", "production")
	f.mr(mrSpec{project: 1, iid: 7, title: "=HYPERLINK(\"http://evil\",\"click\")", authorID: 9, author: "@mallory",
		labels: []string{"b", "-a", "Bug"}, source: "+branch", created: at(hour), merged: at(3 * hour)})
	f.commit(1, 7, "x", at(0))
	f.note(1, 7, "approved", 2, "bob", at(2*hour))
	f.mr(mrSpec{project: 1, iid: 8, title: "Quote \"this\", and\nthat", created: at(2 * hour), merged: at(4 * hour)})
	f.mr(mrSpec{project: 1, iid: 9, title: "\tTabbed", created: at(5 * hour), merged: at(6 * hour), labels: []string{"hotfix"}})
	f.deploy(55, 1, 10, "0123456789abcdef0123456789abcdef01234567", at(3*hour+90), 7)
	f.deploy(56, 1, 10, "fedcba9876543210fedcba9876543210fedcba98", at(7*hour), 9)
	e := f.engine(nil, t0.Add(10*24*time.Hour))

	got := exportCSV(t, e, "merge-requests", Filter{})
	want := "service,project,iid,title,author,labels,source_branch,created_at,first_commit_at,first_review_at,first_approval_at,merged_at,deployed_at,coding_seconds,pickup_seconds,review_seconds,deploy_seconds,cycle_seconds,rework,url,category\n" +
		"acme/api,acme/api,7,\"'=HYPERLINK(\"\"http://evil\"\",\"\"click\"\")\",'@mallory,'-a;Bug;b,'+branch,2026-03-02T01:00:00Z,2026-03-02T00:00:00Z,2026-03-02T02:00:00Z,2026-03-02T02:00:00Z,2026-03-02T03:00:00Z,2026-03-02T03:01:30Z,3600,3600,3600,90,10890,true,https://gitlab.example.com/mr/7,rework\n" +
		"acme/api,acme/api,8,\"Quote \"\"this\"\", and\nthat\",alice,,feature,2026-03-02T02:00:00Z,2026-03-02T02:00:00Z,,,2026-03-02T04:00:00Z,,0,7200,0,,7200,false,https://gitlab.example.com/mr/8,feature\n" +
		"acme/api,acme/api,9,'\tTabbed,alice,hotfix,feature,2026-03-02T05:00:00Z,2026-03-02T05:00:00Z,,,2026-03-02T06:00:00Z,2026-03-02T07:00:00Z,0,3600,0,3600,7200,true,https://gitlab.example.com/mr/9,rework\n"
	if got != want {
		t.Errorf("merge-requests CSV:\n got %q\nwant %q", got, want)
	}
	// MR 7 is rework because of its "Bug" label; the deployment shipping it is rework, and
	// the one before... there is none, so no change failure; 56 ships a hotfix, so 55 is one.
	got = exportCSV(t, e, "deployments", Filter{})
	want = "service,project,environment,deployment_id,sha,finished_at,merge_requests,rework,rollback,change_failure,recovery_seconds,url\n" +
		"acme/api,acme/api,production,55,0123456789abcdef0123456789abcdef01234567,2026-03-02T03:01:30Z,1,true,false,true,14310,https://gitlab.example.com/jobs/55\n" +
		"acme/api,acme/api,production,56,fedcba9876543210fedcba9876543210fedcba98,2026-03-02T07:00:00Z,1,true,false,false,,https://gitlab.example.com/jobs/56\n"
	if got != want {
		t.Errorf("deployments CSV:\n got %q\nwant %q", got, want)
	}
	// Every record parses back with the same number of fields (RFC 4180 round trip).
	r := csv.NewReader(strings.NewReader(exportCSV(t, e, "merge-requests", Filter{})))
	recs, err := r.ReadAll()
	if err != nil || len(recs) != 4 || recs[2][3] != "Quote \"this\", and\nthat" {
		t.Errorf("round trip: %v %q", err, recs)
	}

	got = exportCSV(t, e, "metrics", Filter{From: date("2026-03-02"), To: date("2026-03-08")})
	lines := strings.Split(got, "\n")
	if lines[0] != "period,service,metric,value,n" {
		t.Errorf("metrics header %q", lines[0])
	}
	for _, w := range []string{
		"2026-W10,all,merged_mrs,3,3",
		"2026-W10,all,cycle_time_p50_seconds,7200,3",
		"2026-W10,all,deploys_per_day,0.29,2",
		"2026-W10,all,rework_rate,1.000000,2",
		"2026-W10,all,change_failure_rate,0.500000,2",
		"2026-W10,all,recovery_time_p50_seconds,14310,1",
		"2026-W10,all,mr_rework_rate,0.666667,3",
		"2026-W10,all,unapproved_rate,0.666667,3",
		"2026-W10,acme/api,merged_mrs,3,3",
	} {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("metrics CSV lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "\r") {
		t.Error("CRLF line ends")
	}
}

func TestCSVCoverageAndErrors(t *testing.T) {
	f := newFixture(t)
	f.project(2, "=cmd|' /C calc'!A0")
	f.pipeline(6, 2, "main", "success", at(hour), 61.456)
	e := f.engine(nil, t0.Add(10*24*time.Hour))
	got := exportCSV(t, e, "coverage", Filter{})
	want := "service,project,date,pipeline_id,sha,coverage_percent\n'=cmd|' /C calc'!A0,'=cmd|' /C calc'!A0,2026-03-02,6,sha6,61.46\n"
	if got != want {
		t.Errorf("coverage CSV:\n got %q\nwant %q", got, want)
	}
	if got := exportCSV(t, e, "metrics", Filter{From: date("2026-03-02"), To: date("2026-03-02")}); !strings.Contains(got, "2026-W10,all,coverage_percent,61.46,1\n") {
		t.Errorf("coverage figure: %q", got)
	}
	var fe *FilterError
	var b bytes.Buffer
	if err := WriteCSV(context.Background(), &b, e, "people", Filter{}); !errors.As(err, &fe) || fe.Field != "dataset" || b.Len() != 0 {
		t.Errorf("unknown dataset: %v, wrote %q", err, b.String())
	}
	if err := WriteCSV(context.Background(), &b, e, "metrics", Filter{From: date("2026-03-03"), To: date("2026-03-02")}); !errors.As(err, &fe) || b.Len() != 0 {
		t.Errorf("reversed range: %v, wrote %q", err, b.String())
	}
}

func TestInert(t *testing.T) {
	for in, want := range map[string]string{"": "", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b", " =x": " =x", "'x": "'x"} {
		if got := inert(in); got != want {
			t.Errorf("inert(%q) = %q, want %q", in, got, want)
		}
	}
}

// fillMergeRequests inserts n merged, deployed MRs spread over a year, directly in SQL.
func fillMergeRequests(t testing.TB, f *fixture, n int) {
	t.Helper()
	tx, err := f.st.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
		source_branch, target_branch, created_at, updated_at, merged_at, web_url) VALUES (1, ?, ?, ?, 'merged', 1, 'alice',
		'["feature","backend"]', 'feature/x', 'main', ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		created := at(int64(i) * 600)
		if _, err := stmt.Exec(i, 1000000+i, "A reasonably long merge request title that makes each row take some room "+itoa(int64(i)),
			created, created, created+3600, "https://gitlab.example.com/acme/api/-/merge_requests/"+itoa(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// heapSampler is a writer that records the live heap (after a collection) every so often.
type heapSampler struct {
	n, every int
	max      uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.n++
	if h.n%h.every == 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.max = max(h.max, ms.HeapAlloc)
	}
	return len(p), nil
}

// TestCSVMemoryFlat exports 1,000 and then 8,000 rows: the live heap while writing must not
// grow with the row count (rows stream in keyset batches).
func TestCSVMemoryFlat(t *testing.T) {
	f := newFixture(t)
	f.project(1, "acme/api")
	fillMergeRequests(t, f, 8000)
	e := f.engine(nil, t0.Add(400*24*time.Hour))
	peak := func(to time.Time) (uint64, int) {
		h := &heapSampler{every: 64}
		cw := &countingWriter{w: h}
		if err := WriteCSV(context.Background(), cw, e, "merge-requests", Filter{To: to}); err != nil {
			t.Fatal(err)
		}
		return h.max, cw.lines
	}
	small, smallRows := peak(t0.Add(7 * 24 * time.Hour))
	large, largeRows := peak(time.Time{})
	if smallRows < 1000 || largeRows != 8001 {
		t.Fatalf("rows: %d and %d", smallRows, largeRows)
	}
	t.Logf("live heap: %d KiB for %d rows, %d KiB for %d rows", small/1024, smallRows, large/1024, largeRows)
	// 7,000 more rows of ~330 bytes would be ~2.3 MiB if they were held.
	if large > small+1<<20 {
		t.Errorf("live heap grew from %d to %d bytes with 8x the rows", small, large)
	}
}

type countingWriter struct {
	w     io.Writer
	lines int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte{'\n'})
	return c.w.Write(p)
}
