package main

import (
	"bytes"
	"context"
	"net"
	url2 "net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

// A port already in use is found before anything is generated or synced: one line, exit 2,
// nothing on standard output and no database file.
func TestDemoOnAPortInUseFailsFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "demo.db")
	var out, errOut bytes.Buffer
	start := time.Now()
	err = run(context.Background(), []string{"demo", "--addr", ln.Addr().String(), "--db", db}, mapEnv(nil), &out, &errOut)
	elapsed := time.Since(start)
	var msg bytes.Buffer
	if code := exitCode(err, &msg); code != 2 {
		t.Fatalf("exit %d (%v), want 2", code, err)
	}
	line := errOut.String() + msg.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "cannot listen on "+ln.Addr().String()) || !strings.Contains(line, "--addr") {
		t.Errorf("message %q, want one line naming the address and --addr", line)
	}
	if out.Len() > 0 {
		t.Errorf("the demo started work before finding the port taken:\n%s", out.String())
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a database was created: %v", err)
	}
	// Generating and syncing the default organisation takes seconds; refusing takes nothing.
	if elapsed > 2*time.Second {
		t.Errorf("refusing took %s", elapsed)
	}
}

// The newcomer's path: the demo's last line is the dashboard's URL, alone (and no other URL
// is printed, so the one to click is not in doubt); opening it goes through the simulator's
// sign-in and lands on the dashboard.
func TestDemoPrintsTheDashboardURLLast(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo syncs a generated organisation")
	}
	seed := seedWithFormulaTitle(t, 14, 0.1)
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--days", "14", "--scale", "0.1", "--seed", strconv.FormatInt(seed, 10)},
			mapEnv(nil), out, errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("the demo did not shut down")
		}
	})
	var lines []string
	for deadline := time.Now().Add(60 * time.Second); ; {
		lines = strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
		if strings.HasPrefix(lines[len(lines)-1], "http://") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL on the last line after 60 s\nstdout: %s\nstderr: %s", out, errOut)
		}
		select {
		case err := <-done:
			t.Fatalf("the demo ended early: %v\nstdout: %s\nstderr: %s", err, out, errOut)
		case <-time.After(50 * time.Millisecond):
		}
	}
	url := lines[len(lines)-1]
	if host, _, ok := strings.Cut(strings.TrimPrefix(url, "http://"), "/"); !ok || !strings.HasPrefix(host, "127.0.0.1:") || !strings.HasSuffix(url, "/") || strings.ContainsAny(url, " \t") {
		t.Errorf("last line %q, want the dashboard's URL alone", url)
	}
	if n := strings.Count(out.String(), "http://"); n != 1 {
		t.Errorf("%d URLs printed, want only the dashboard's:\n%s", n, out)
	}
	if !strings.Contains(lines[len(lines)-2], "Open the dashboard") {
		t.Errorf("the line before the URL says %q", lines[len(lines)-2])
	}
	// Nothing is printed after it while the demo serves.
	b := signInThroughSimulator(t, url)
	code, body := b.get(url)
	if code != 200 || !strings.Contains(body, "Cycle time (median)") {
		t.Fatalf("after signing in, the printed URL gives %d", code)
	}
	if rest := strings.TrimPrefix(out.String(), strings.Join(lines, "\n")+"\n"); rest != "" {
		t.Errorf("printed after the URL: %q", rest)
	}
	// The demo's organisation has no hostile titles: the formula title of the seed's history is
	// there as its plain twin.
	_, body = b.get(url + "merge-requests?period=52w&q=HYPERLINK")
	if !strings.Contains(body, "No merge requests match") {
		t.Error("the demo has a merge request titled with a spreadsheet formula")
	}
	_, body = b.get(url + "merge-requests?period=52w&q=" + url2.QueryEscape("Escape formula cells"))
	if strings.Contains(body, "No merge requests match") {
		t.Error("the formula title's plain twin is not in the demo's organisation")
	}
}

// seedWithFormulaTitle finds a seed whose small organisation, as the demo generates it today,
// would deliver a merge request titled with a spreadsheet formula if titles were not plain.
func seedWithFormulaTitle(t *testing.T, days int, scale float64) int64 {
	t.Helper()
	for seed := int64(1); seed <= 200; seed++ {
		org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: seed, Days: days, Scale: scale})
		for _, m := range org.Truth().MergeRequests {
			if m.InScope && !m.Bot && strings.HasPrefix(m.Title, "=HYPERLINK") {
				return seed
			}
		}
	}
	t.Fatal("no seed up to 200 has a formula title")
	return 0
}
