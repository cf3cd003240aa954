package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/digest"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// testDatabase is where the servers of the multi-server test keep their data: the one place
// that says so, so that the test can run on another database by changing it alone.
func testDatabase(t *testing.T) string {
	t.Helper()
	return storetest.DSN(t)
}

// multiServerLeaseTTL is the servers' lease time in the test: a killed server's jobs move on
// within it (and a tick, as long) instead of the default half-minute.
const multiServerLeaseTTL = 3 * time.Second

// Three `pacer serve` processes (the built binary) on one database, syncing the simulator on a
// schedule and sending the digest to three subscribers. One server takes the sync and one
// the digest; the test kills both with SIGKILL mid-way (the sync with some projects done, the
// digest with one message sent and the next one held by the mail server) and checks that the
// third finishes both: every project synced completely, none twice, the facts refreshed once
// for the sync, every recipient one digest.
func TestThreeServersShareTheJobsAndSurviveKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pacer and runs three servers")
	}
	ctx := context.Background()
	built := time.Now()
	bin := buildPacer(t)
	t.Logf("pacer built in %s", time.Since(built).Round(100*time.Millisecond))

	// GitLab: a small organisation, with some latency, behind a front that counts each
	// project's requests and holds one project's until the test lets them go: the sync is then
	// under way, with the other projects done, until the kill.
	org := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 5, Days: 21, Services: 6, Scale: 0.3})
	sim := gitlabsim.NewServer(org, gitlabsim.ServerOptions{Latency: 10 * time.Millisecond})
	t.Cleanup(sim.Close)
	truth := org.Truth()
	gl := &gitlabFront{sim: sim.Handler(), held: truth.Projects[len(truth.Projects)-1].ID, gate: make(chan struct{}), requests: map[int64]int{}}
	front := httptest.NewServer(gl)
	t.Cleanup(front.Close)

	// SMTP: holds the message to cto@ the first time, until the test lets it go.
	mail := newHoldingMailServer(t, "cto@example.com")

	db := testDatabase(t)
	cfgPath := filepath.Join(t.TempDir(), "pacer.toml")
	cfgText := fmt.Sprintf(`base_url = "https://pacer.example.com"

[bots]
usernames = [%q]

[smtp]
host = "127.0.0.1"
port = %d
tls = "none"
from = "Pacer <pacer@example.com>"

[[digest.subscription]]
to = ["lead@example.com", "cto@example.com", "money@example.com"]
`, org.BotUsernames()[0], mail.port)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	// The database exists with its facts derived before the servers start, so that every
	// refresh counted below is one a server made.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := metrics.New(st, cfg).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	gen0 := factGeneration(t, st)

	began := time.Now()
	servers := map[int]*server{}
	for range 3 {
		s := startServer(t, bin, "serve", "--addr", "127.0.0.1:0", "--db", db, "--config", cfgPath,
			"--sync-every", "1m", "--gitlab-url", front.URL, "--group", org.TopGroup())
		servers[s.cmd.Process.Pid] = s
	}
	holderOf := func(name string) *server {
		l, err := st.Lease(ctx, name)
		if err != nil || !l.HeldAt(time.Now()) {
			return nil
		}
		pid, _ := strconv.Atoi(strings.Split(l.Holder, "/")[1])
		return servers[pid]
	}

	// The digest: one server has sent lead@ and waits on the mail server for cto@.
	waitFor(t, 30*time.Second, "a server to be sending the digest", func() bool {
		select {
		case <-mail.held:
			return holderOf("digest") != nil
		default:
			return false
		}
	})
	sender := holderOf("digest")
	// The sync: one server is under way, with some projects done and some not.
	var round time.Time
	waitFor(t, 30*time.Second, "a server to be half-way through the sync", func() bool {
		l, err := st.Lease(ctx, syncJobName)
		if err != nil || !l.HeldAt(time.Now()) || l.RunStartedAt.IsZero() || !l.RunFinishedAt.IsZero() {
			return false
		}
		round = l.RunStartedAt
		done, left := syncProgress(t, st, truth, round)
		return len(done) > 0 && len(left) > 0
	})
	syncer := holderOf(syncJobName)
	if syncer == nil || sender == nil || syncer == sender {
		t.Fatalf("the sync and the digest should be with two different servers: %v, %v", syncer, sender)
	}
	syncer.kill(t)
	sender.kill(t)
	killedAt := time.Now()
	t.Logf("servers killed %s after they were started", killedAt.Sub(began).Round(100*time.Millisecond))
	mail.release()
	close(gl.gate)
	doneBefore, _ := syncProgress(t, st, truth, round)
	requestsBefore := gl.snapshot()
	if n := len(mail.received()); n != 1 {
		t.Fatalf("%d messages before the kill, want lead@'s alone", n)
	}
	var survivor *server
	for _, s := range servers {
		if s != syncer && s != sender {
			survivor = s
		}
	}

	// The survivor takes both jobs up once the leases (and the claim on cto@) have expired.
	waitFor(t, 45*time.Second, "the sync to be taken up and finished", func() bool {
		l, err := st.Lease(ctx, syncJobName)
		return err == nil && !l.RunFinishedAt.IsZero()
	})
	waitFor(t, 30*time.Second, "every recipient to have the digest", func() bool {
		sends, err := st.DigestSends(ctx, digest.LastFullWeek(time.Now()).String())
		return err == nil && len(sends) == 3
	})
	t.Logf("both jobs finished %s after the kills", time.Since(killedAt).Round(100*time.Millisecond))

	// The sync's result is complete, and was finished by the survivor.
	l, _ := st.Lease(ctx, syncJobName)
	if pid, _ := strconv.Atoi(strings.Split(l.Holder, "/")[1]); pid != survivor.cmd.Process.Pid {
		t.Errorf("the sync was finished by %s, not the surviving server (pid %d)", l.Holder, survivor.cmd.Process.Pid)
	}
	if !l.RunStartedAt.Equal(round) {
		t.Errorf("the sync taken up began at %s, not when the killed run did (%s)", l.RunStartedAt, round)
	}
	done, left := syncProgress(t, st, truth, round)
	if len(left) > 0 {
		t.Errorf("projects not synced after the sync was taken up: %v", left)
	}
	checkSyncedCounts(t, st, truth)
	// No project was synced twice in the round: GitLab heard nothing more about those done
	// before the kill.
	requestsAfter := gl.snapshot()
	for id := range doneBefore {
		if requestsAfter[id] != requestsBefore[id] {
			t.Errorf("project %d was synced before the kill and again after it (%d requests, then %d)", id, requestsBefore[id], requestsAfter[id])
		}
	}
	if len(done) != len(truth.Projects) {
		t.Errorf("%d of %d projects synced in the round", len(done), len(truth.Projects))
	}

	// One refresh of the facts for the sync, by the server that finished it, and none since.
	if gen := factGeneration(t, st); gen != gen0+1 {
		t.Errorf("the facts were refreshed %d times for one sync, want once", gen-gen0)
	}
	var mrFacts int
	if err := st.DB.QueryRow(`SELECT COUNT(*) FROM mr_facts`).Scan(&mrFacts); err != nil || mrFacts == 0 {
		t.Errorf("no MR facts after the sync (%v)", err)
	}

	// Every recipient got exactly one digest.
	got := map[string]int{}
	for _, to := range mail.received() {
		got[to]++
	}
	if len(got) != 3 || got["lead@example.com"] != 1 || got["cto@example.com"] != 1 || got["money@example.com"] != 1 {
		t.Errorf("messages per recipient: %v, want one each", got)
	}

	// A tick later nothing has run again: the sync is not due for a minute, the digest is sent.
	time.Sleep(multiServerLeaseTTL + time.Second)
	if gen := factGeneration(t, st); gen != gen0+1 {
		t.Errorf("the facts were refreshed again after the sync: %d refreshes", gen-gen0)
	}
	if n := len(mail.received()); n != 3 {
		t.Errorf("%d messages a tick later, want 3", n)
	}
	if t.Failed() {
		for _, s := range servers {
			t.Logf("server %d:\n%s", s.cmd.Process.Pid, s.log.String())
		}
	}
}

// buildPacer builds the pacer binary into a temporary directory, with the race detector when
// the test has it (the packages are then already compiled so).
func buildPacer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pacer")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is one running `pacer serve` process.
type server struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	url    string
	exited chan struct{}
}

func (s *server) String() string {
	if s == nil {
		return "none"
	}
	return "pid " + strconv.Itoa(s.cmd.Process.Pid)
}

// startServer starts the binary with args and waits until it serves; it is stopped (SIGTERM,
// then SIGKILL) when the test ends.
func startServer(t *testing.T, bin string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PACER_GITLAB_TOKEN="+gitlabsim.DefaultToken,
		"PACER_LEASE_TTL="+multiServerLeaseTTL.String(), "PACER_DB=", "PACER_CONFIG=")
	s := &server{cmd: cmd, log: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-s.exited
			t.Errorf("server %d did not stop on SIGINT", cmd.Process.Pid)
		}
	})
	select {
	case s.url = <-urls:
	case <-s.exited:
		t.Fatalf("server ended before serving:\n%s", s.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("server printed no URL in 30 s:\n%s", s.log.String())
	}
	return s
}

// kill stops the server at once, as a crash or an OOM kill would.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncProgress splits the organisation's projects into those synced successfully since round
// began and the others.
func syncProgress(t *testing.T, st *store.Store, truth *gitlabsim.Truth, round time.Time) (done map[int64]bool, left []string) {
	t.Helper()
	syncs, err := st.ProjectSyncs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done = map[int64]bool{}
	for _, ps := range syncs {
		if ps.StartedAt != nil && !ps.StartedAt.Before(round.Truncate(time.Second)) && ps.FinishedAt != nil &&
			ps.OKAt != nil && !ps.OKAt.Before(*ps.StartedAt) {
			done[ps.Project.ID] = true
		}
	}
	for _, p := range truth.Projects {
		if !done[p.ID] {
			left = append(left, p.Path)
		}
	}
	return done, left
}

// checkSyncedCounts compares what the database holds with what the simulator serves, per
// project: every merge request, production deployment and default-branch pipeline.
func checkSyncedCounts(t *testing.T, st *store.Store, truth *gitlabsim.Truth) {
	t.Helper()
	want := map[string]map[int64]int{"merge_requests": {}, "deployments": {}, "pipelines": {}}
	for _, m := range truth.MergeRequests {
		want["merge_requests"][m.ProjectID]++
	}
	for _, d := range truth.Deployments {
		want["deployments"][d.ProjectID]++
	}
	for _, p := range truth.Pipelines {
		want["pipelines"][p.ProjectID]++
	}
	for table, per := range want {
		for _, p := range truth.Projects {
			var n int
			q := `SELECT COUNT(*) FROM ` + table + ` WHERE project_id = ?`
			if table == "deployments" {
				q += ` AND status = 'success'`
			}
			if err := st.DB.QueryRow(q, p.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != per[p.ID] {
				t.Errorf("%s of %s: %d in the database, %d in GitLab", table, p.Path, n, per[p.ID])
			}
		}
	}
}

func factGeneration(t *testing.T, st *store.Store) int64 {
	t.Helper()
	var gen int64
	if err := st.DB.QueryRow(`SELECT generation FROM fact_state WHERE id = 1`).Scan(&gen); err != nil {
		t.Fatal(err)
	}
	return gen
}

// gitlabFront passes requests to the simulator, counting each project's REST requests (a
// project's sync always lists its deployments and pipelines through REST, whichever API reads
// its merge requests) and holding those of one project until gate is closed.
type gitlabFront struct {
	sim  http.Handler
	held int64
	gate chan struct{}

	mu       sync.Mutex
	requests map[int64]int
}

var projectPath = regexp.MustCompile(`^/api/v4/projects/(\d+)/`)

func (g *gitlabFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m := projectPath.FindStringSubmatch(r.URL.Path); m != nil {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		g.mu.Lock()
		g.requests[id]++
		g.mu.Unlock()
		if id == g.held {
			select {
			case <-g.gate:
			case <-r.Context().Done():
				return
			}
		}
	}
	g.sim.ServeHTTP(w, r)
}

// snapshot is each project's request count so far.
func (g *gitlabFront) snapshot() map[int64]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.requests)
}

// holdingMailServer is a real SMTP server that accepts every message but holds the first
// one to one address at RCPT until released: the sender is then mid-send.
type holdingMailServer struct {
	hold     string
	held     chan struct{} // closed when the held message has arrived
	released chan struct{}
	port     int

	mu    sync.Mutex
	first bool
	to    []string // one entry per accepted message and recipient
	once  sync.Once
}

func newHoldingMailServer(t *testing.T, hold string) *holdingMailServer {
	t.Helper()
	m := &holdingMailServer{hold: hold, held: make(chan struct{}), released: make(chan struct{}), first: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.port = l.Addr().(*net.TCPAddr).Port
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go srv.Serve(l)
	t.Cleanup(func() {
		m.release()
		srv.Close()
	})
	return m
}

func (m *holdingMailServer) release() { m.once.Do(func() { close(m.released) }) }

func (m *holdingMailServer) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.to...)
}

func (m *holdingMailServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &holdingSession{m: m}, nil
}

type holdingSession struct {
	m  *holdingMailServer
	to []string
}

func (s *holdingSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *holdingSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.m.mu.Lock()
	hold := to == s.m.hold && s.m.first
	if hold {
		s.m.first = false
	}
	s.m.mu.Unlock()
	if hold {
		close(s.m.held)
		<-s.m.released
		return errors.New("held until the sender was gone")
	}
	s.to = append(s.to, to)
	return nil
}

func (s *holdingSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.to = append(s.m.to, s.to...)
	s.m.mu.Unlock()
	return nil
}

func (s *holdingSession) Reset()        { s.to = nil }
func (s *holdingSession) Logout() error { return nil }
