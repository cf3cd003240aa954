package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/digest"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// digestEnv makes an empty, migrated database and a config with two subscribers pointing at
// smtpPort on loopback.
func digestEnv(t *testing.T, smtpPort int) (dir string, args []string) {
	t.Helper()
	dir = t.TempDir()
	db := storetest.DSN(t)
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(dir, "pacer.toml")
	body := fmt.Sprintf(`base_url = "https://pacer.example.com"

[[team]]
name = "money"
services = ["payments"]

[smtp]
host = "127.0.0.1"
port = %d
tls = "none"
from = "Pacer <pacer@example.com>"

[[digest.subscription]]
to = ["lead@example.com"]

[[digest.subscription]]
to = ["money@example.com"]
team = "money"
`, smtpPort)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, []string{"--db", db, "--config", cfg}
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, mapEnv(nil), &out, &errOut)
	code = exitCode(err, &errOut)
	return code, out.String(), errOut.String()
}

func TestDigestBadInputIsOneLineExit2(t *testing.T) {
	_, base := digestEnv(t, 2525)
	last := digest.LastFullWeek(digestNow())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "flag provided but not defined"},
		{[]string{"--week", "2026-9"}, "not an ISO week"},
		{[]string{"--week", "2025-W53"}, "does not exist"},
		{[]string{"--week", last.Add(2).String()}, "has not ended yet"},
		{[]string{"--to", "nobody"}, "not an email address"},
		{[]string{"--out", "x.pdf"}, "ending in .html"},
		{[]string{"--team", "money", "--service", "a", "--out", "x.html"}, "not both"},
		{[]string{"--team", "money"}, "scope of --out"},
		{[]string{"--out", "x.html", "--team", "nope"}, `unknown team "nope"`},
		{[]string{"stray"}, "unexpected argument"},
	} {
		code, _, errOut := runCmd(t, append(append([]string{"digest"}, base...), c.args...)...)
		if code != 2 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("digest %v: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, errOut, c.want)
		}
	}
	// No SMTP host: a config problem, exit 2 with what to set.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("[[digest.subscription]]\nto = [\"a@example.com\"]\n"), 0o644)
	code, _, errOut := runCmd(t, "digest", "--db", base[1], "--config", cfg)
	if code != 2 || !strings.Contains(errOut, "smtp.host is not set") {
		t.Errorf("no smtp host: exit %d, %q", code, errOut)
	}
	// A missing database is not created.
	code, _, errOut = runCmd(t, "digest", "--db", filepath.Join(dir, "missing.db"), "--config", base[3], "--dry-run")
	if code != 2 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("missing db: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); err == nil {
		t.Error("the missing database was created")
	}
}

type cliMailServer struct {
	mu  sync.Mutex
	rcp []string
}

func (m *cliMailServer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rcp)
}

func (m *cliMailServer) NewSession(*smtp.Conn) (smtp.Session, error) { return &cliSession{m: m}, nil }

type cliSession struct {
	m  *cliMailServer
	to []string
}

func (s *cliSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *cliSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *cliSession) Data(r io.Reader) error {
	io.Copy(io.Discard, r)
	s.m.mu.Lock()
	s.m.rcp = append(s.m.rcp, s.to...)
	s.m.mu.Unlock()
	return nil
}
func (s *cliSession) Reset()        { s.to = nil }
func (s *cliSession) Logout() error { return nil }

func TestDigestCommandSendsOutAndDryRun(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mail := &cliMailServer{}
	srv := smtp.NewServer(mail)
	srv.Domain = "localhost"
	go srv.Serve(l)
	defer srv.Close()
	dir, base := digestEnv(t, l.Addr().(*net.TCPAddr).Port)
	week := digest.LastFullWeek(digestNow()).String()

	// --out alone writes the file and sends nothing.
	outFile := filepath.Join(dir, "digest.html")
	code, out, errOut := runCmd(t, append([]string{"digest"}, append(base, "--out", outFile, "--team", "money")...)...)
	if code != 0 {
		t.Fatalf("--out: exit %d, %s", code, errOut)
	}
	html, err := os.ReadFile(outFile)
	if err != nil || !bytes.HasPrefix(html, []byte("<!doctype html>")) || !bytes.Contains(html, []byte("Team money")) {
		t.Fatalf("--out wrote %q (%v)", html, err)
	}
	if !strings.Contains(out, "wrote the team money digest of "+week) || mail.count() != 0 {
		t.Fatalf("--out: stdout %q, %d sent", out, mail.count())
	}

	// --dry-run lists, sends and records nothing.
	code, out, _ = runCmd(t, append([]string{"digest", "--dry-run"}, base...)...)
	if code != 0 || strings.Count(out, "would send") != 2 || !strings.Contains(out, "money@example.com") || mail.count() != 0 {
		t.Fatalf("--dry-run: exit %d, %q, %d sent", code, out, mail.count())
	}

	// A send reaches each subscriber once; a second run sends nothing.
	code, out, errOut = runCmd(t, append([]string{"digest"}, base...)...)
	if code != 0 || strings.Count(out, "sent") != 2 {
		t.Fatalf("send: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, append([]string{"digest"}, base...)...)
	if code != 0 || strings.Count(out, "already sent") != 2 || mail.count() != 2 {
		t.Fatalf("second send: exit %d, %q, %d messages", code, out, mail.count())
	}
	// --to sends again on request.
	code, out, _ = runCmd(t, append([]string{"digest", "--to", "lead@example.com"}, base...)...)
	if code != 0 || !strings.HasPrefix(out, "sent") || mail.count() != 3 {
		t.Fatalf("--to: exit %d, %q, %d messages", code, out, mail.count())
	}

	// A server that stops answering: exit 1, the error says what to check.
	srv.Close()
	code, out, errOut = runCmd(t, append([]string{"digest", "--to", "x@example.com"}, base...)...)
	if code != 1 || !strings.HasPrefix(out, "failed") || !strings.Contains(out, "cannot connect") || !strings.Contains(errOut, "1 of 1 messages not sent") {
		t.Fatalf("refused: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestServeDigestJob(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mail := &cliMailServer{}
	srv := smtp.NewServer(mail)
	srv.Domain = "localhost"
	go srv.Serve(l)
	defer srv.Close()
	_, args := digestEnv(t, l.Addr().(*net.TCPAddr).Port)
	ctx := context.Background()
	cfg, err := config.Load(args[3])
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, args[1])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	j, ok := digestJob(st, metrics.New(st, cfg), cfg, log)
	if !ok {
		t.Fatalf("no digest job: %s", logs.String())
	}
	now := time.Now()
	if !runIfDue(ctx, log, j, now) {
		t.Fatalf("the job was not due: %s", logs.String())
	}
	if mail.count() != 2 {
		t.Fatalf("%d messages, want 2: %s", mail.count(), logs.String())
	}
	// (Unless the next week's run falls in that minute: then the job is rightly due again.)
	next := digest.ScheduleOf(cfg).Next(now)
	if next.At.Sub(now) > 2*time.Minute && (runIfDue(ctx, log, j, now.Add(time.Minute)) || mail.count() != 2) {
		t.Fatalf("the job ran again: %d messages", mail.count())
	}

	// Without SMTP settings there is no job, and the log says why.
	cfg.SMTP.Host = ""
	logs.Reset()
	if _, ok := digestJob(st, metrics.New(st, cfg), cfg, log); ok || !strings.Contains(logs.String(), "smtp.host is not set") {
		t.Fatalf("job without smtp.host: %v, log %q", ok, logs.String())
	}
}

// A dry run without subscriptions or --to says there is nothing to send and exits 0.
func TestDigestDryRunWithoutSubscriptions(t *testing.T) {
	db := exportDB(t)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"digest", "--dry-run", "--db", db}, mapEnv(nil), &out, &errOut)
	if code := exitCode(err, &errOut); code != 0 || !strings.Contains(out.String(), "Nothing to send") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
