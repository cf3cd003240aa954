// Command benchload is the dashboard's load benchmark (make bench-load): it serves the
// generated year of internal/benchorg (1,000,000 MRs; PACER_BENCH_MRS scales it) with a real
// `pacer serve` process built from this tree, and sends it fifty clients at once for twenty
// seconds over every page (12 weeks and the year; all, one service, a team), twice: after a
// sync (the facts current, nothing writing), and during one (collector-like writes to the raw
// tables and a facts refresh every few seconds, from another process, as `pacer sync` would).
// It reports the latency percentiles, the errors and the server's resident memory.
//
//	go run ./internal/benchload [-clients 50] [-duration 20s] [-refresh-every 5s]
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/internal/benchorg"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// The team the pages are filtered by, and the benchmark's configuration (the facts' rules are
// the defaults the database was derived with).
const benchConfig = `
[[team]]
name     = "platform"
services = ["acme/group-1/service-1", "acme/group-1/service-11", "acme/group-1/service-21", "acme/group-1/service-31",
            "acme/group-1/service-41", "acme/group-1/service-51", "acme/group-1/service-61", "acme/group-1/service-71",
            "acme/group-1/service-81", "acme/group-1/service-91"]
authors  = ["dev1", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8", "dev9", "dev10",
            "dev11", "dev12", "dev13", "dev14", "dev15", "dev16", "dev17", "dev18", "dev19", "dev20"]
`

var (
	pages = []string{"/", "/cycle-time", "/releases", "/rework", "/coverage", "/approvals", "/investment", "/agreements",
		"/merge-requests", "/merge-requests?sort=slowest", "/deployments"}
	ranges = []string{"period=custom&from=2025-10-13&to=2026-01-04", "period=custom&from=2025-01-06&to=2026-01-04"}
	scopes = []string{"", "&service=acme%2Fgroup-7%2Fservice-17", "&team=platform"}
)

func main() {
	clients := flag.Int("clients", 50, "concurrent `N` clients")
	duration := flag.Duration("duration", 20*time.Second, "how long each phase runs")
	every := flag.Duration("refresh-every", 5*time.Second, "during the sync, a facts refresh every `DURATION`")
	tag := flag.String("tag", "load", "the database copy's `TAG` (internal/benchorg)")
	flag.Parse()
	if err := run(*clients, *duration, *every, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
}

func run(clients int, duration, every time.Duration, tag string) error {
	ctx := context.Background()
	logf := func(format string, args ...any) { fmt.Printf("# "+format+"\n", args...) }
	db, err := benchorg.Prepare(ctx, benchorg.Options{MRs: benchorg.Size(), FactsVersion: metrics.FactsVersion, Tag: tag,
		Refresh: func(ctx context.Context, st *store.Store) error {
			return metrics.New(st, config.Default()).Refresh(ctx)
		},
		Logf: logf})
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "benchload")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "pacer")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/pacer").CombinedOutput(); err != nil {
		return fmt.Errorf("build pacer: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "bench.toml")
	if err := os.WriteFile(cfgPath, []byte(benchConfig), 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	srv := exec.Command(bin, "serve", "--db", db, "--config", cfgPath, "--addr", "127.0.0.1:"+strconv.Itoa(port))
	srv.Stdout, srv.Stderr = io.Discard, io.Discard
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	if err := waitReady(base + "/healthz"); err != nil {
		return err
	}
	var urls []string
	for _, r := range ranges {
		for _, s := range scopes {
			for _, p := range pages {
				sep := "?"
				if strings.Contains(p, "?") {
					sep = "&"
				}
				urls = append(urls, base+p+sep+r+s)
			}
		}
	}
	fmt.Printf("# %d MRs, %s, %d clients, %d URLs (%d pages × 12 weeks and the year × all, one service, a team), %s per phase\n",
		benchorg.Size(), db, clients, len(urls), len(pages), duration)
	// The first request derives nothing (the facts are current) but reads the file into the
	// operating system's cache, as a server that has been answering would have it.
	if _, _, err := get(http.DefaultClient, urls[len(urls)/2]); err != nil {
		return err
	}

	rss := watchRSS(srv.Process.Pid)
	after := load(urls, clients, duration)
	after.report("after a sync", rss.peakAndReset())

	st, err := store.Open(ctx, db)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg, err := config.Parse("bench.toml", []byte(benchConfig))
	if err != nil {
		return err
	}
	eng := metrics.New(st, cfg)
	stop := make(chan struct{})
	var syncStats syncLoad
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		syncStats = simulateSync(ctx, st, eng, every, stop)
	}()
	during := load(urls, clients, duration)
	close(stop)
	wg.Wait()
	during.report("during a sync", rss.peakAndReset())
	fmt.Printf("# the sync: %d write transactions (%d MRs saved), %d refreshes (%s each on average, the longest %s), errors: %v\n",
		syncStats.writes, syncStats.mrs, syncStats.refreshes, syncStats.avg(), syncStats.longest.Round(time.Millisecond), syncStats.err)
	rss.stop()
	fmt.Printf("# pacer serve: peak resident memory over the run %.0f MB\n", float64(rss.hwm())/1024)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(url string) error {
	deadline := time.Now().Add(10 * time.Minute) // a database of another facts version is derived first
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("the server did not answer")
}

// get fetches a page as a browser does (compressed) and reads it whole.
func get(c *http.Client, url string) (int, int64, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, err
}

// result is one phase's requests.
type result struct {
	lat     []time.Duration
	byPage  map[string][]time.Duration
	errs    int
	errText map[string]int
	elapsed time.Duration
	bytes   int64
}

// load runs clients that each request the URLs in their own random order, back to back,
// until the phase ends.
func load(urls []string, clients int, d time.Duration) *result {
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
	res := &result{byPage: map[string][]time.Duration{}, errText: map[string]int{}}
	var mu sync.Mutex
	var bytes atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			order := slices.Clone(urls)
			r.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			for k := 0; time.Now().Before(deadline); k++ {
				u := order[k%len(order)]
				t := time.Now()
				code, n, err := get(client, u)
				took := time.Since(t)
				bytes.Add(n)
				mu.Lock()
				res.lat = append(res.lat, took)
				page := pageOf(u)
				res.byPage[page] = append(res.byPage[page], took)
				if err != nil || code != http.StatusOK {
					res.errs++
					msg := fmt.Sprint(code)
					if err != nil {
						msg = err.Error()
					}
					res.errText[msg]++
				}
				mu.Unlock()
			}
		}(uint64(i + 1))
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.bytes = bytes.Load()
	return res
}

// pageOf names a URL's page and range for the report.
func pageOf(u string) string {
	rest := u[strings.Index(u, "//")+2:]
	rest = rest[strings.Index(rest, "/"):]
	path, q, _ := strings.Cut(rest, "?")
	if strings.Contains(q, "sort=slowest") {
		path += "?sort=slowest"
	}
	if strings.Contains(q, "from=2025-01-06") {
		return path + " (year)"
	}
	return path + " (12 weeks)"
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p/100*float64(len(s))))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + " ms"
}

func (r *result) report(phase string, peakKB int64) {
	fmt.Printf("\n%s: %d requests in %s (%.0f/s), %d errors, p50 %s, p95 %s, p99 %s, max %s; %.0f MB sent; pacer serve RSS peak %.0f MB\n",
		phase, len(r.lat), r.elapsed.Round(time.Millisecond), float64(len(r.lat))/r.elapsed.Seconds(), r.errs,
		ms(pct(r.lat, 50)), ms(pct(r.lat, 95)), ms(pct(r.lat, 99)), ms(pct(r.lat, 100)), float64(r.bytes)/1e6, float64(peakKB)/1024)
	for msg, n := range r.errText {
		fmt.Printf("  error %q × %d\n", msg, n)
	}
	names := make([]string, 0, len(r.byPage))
	for p := range r.byPage {
		names = append(names, p)
	}
	slices.Sort(names)
	fmt.Printf("  %-40s %6s %10s %10s %10s\n", "page", "n", "p50", "p95", "p99")
	for _, p := range names {
		d := r.byPage[p]
		fmt.Printf("  %-40s %6d %10s %10s %10s\n", p, len(d), ms(pct(d, 50)), ms(pct(d, 95)), ms(pct(d, 99)))
	}
}

// rssWatch samples a process's resident memory.
type rssWatch struct {
	pid  int
	mu   sync.Mutex
	peak int64 // kB since the last reset
	done chan struct{}
}

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, done: make(chan struct{})}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				if kb := procStatus(pid, "VmRSS:"); kb > 0 {
					w.mu.Lock()
					w.peak = max(w.peak, kb)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

func (w *rssWatch) peakAndReset() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.peak
	w.peak = 0
	return p
}

func (w *rssWatch) stop() { close(w.done) }

// hwm is the process's peak resident memory as the kernel counts it (kB).
func (w *rssWatch) hwm() int64 { return procStatus(w.pid, "VmHWM:") }

func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// syncLoad is what the simulated sync did.
type syncLoad struct {
	writes, mrs, refreshes int
	total, longest         time.Duration
	err                    error
}

func (s syncLoad) avg() string {
	if s.refreshes == 0 {
		return "-"
	}
	return (s.total / time.Duration(s.refreshes)).Round(time.Millisecond).String()
}

// simulateSync writes to the raw tables as a sync does (a page of 50 MRs of a project saved
// again every second, some with a changed title, so their facts change) and refreshes the
// facts every so often, until stop.
func simulateSync(ctx context.Context, st *store.Store, eng *metrics.Engine, every time.Duration, stop chan struct{}) syncLoad {
	var s syncLoad
	r := rand.New(rand.NewPCG(11, 13))
	next := time.Now().Add(every)
	for {
		select {
		case <-stop:
			return s
		default:
		}
		project := 1 + r.IntN(200)
		first := 1 + r.IntN(4900)
		err := st.InTx(ctx, func(tx *sql.Tx) error {
			for iid := first; iid < first+50; iid++ {
				title := "Change " + strconv.Itoa(iid)
				if r.IntN(2) == 0 {
					title += " (edited)"
				}
				if _, err := tx.ExecContext(ctx, `UPDATE merge_requests SET title = ?, updated_at = updated_at + 1 WHERE project_id = ? AND iid = ?`,
					title, project, iid); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.err = err
			return s
		}
		s.writes++
		s.mrs += 50
		if time.Now().After(next) {
			t := time.Now()
			if err := eng.Refresh(ctx); err != nil {
				s.err = err
				return s
			}
			took := time.Since(t)
			s.refreshes++
			s.total += took
			s.longest = max(s.longest, took)
			next = time.Now().Add(every)
		}
		time.Sleep(time.Second)
	}
}
