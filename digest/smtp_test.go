package digest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	data []byte
}

// mailServer is a real SMTP server (go-smtp) on loopback that keeps what it accepts.
type mailServer struct {
	mu       sync.Mutex
	msgs     []received
	user     string // when set, AUTH PLAIN with user/pass is required
	pass     string
	rejectTo string // a recipient whose message gets a 554 reply at DATA
	slowTo   string // a recipient whose message the server holds slowBy before accepting it
	slowBy   time.Duration
	slowAt   chan struct{} // closed when the held message has arrived
	slowOnce sync.Once
	srv      *smtp.Server
	addr     string
	port     int
}

type mailSession struct {
	s      *mailServer
	authed bool
	from   string
	to     []string
}

func (m *mailServer) NewSession(c *smtp.Conn) (smtp.Session, error) { return &mailSession{s: m}, nil }

func (s *mailSession) AuthMechanisms() []string {
	if s.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.s.user || password != s.s.pass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.s.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	for _, to := range s.to {
		if s.s.rejectTo != "" && to == s.s.rejectTo {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relay access denied"}
		}
	}
	for _, to := range s.to {
		if s.s.slowTo != "" && to == s.s.slowTo {
			s.s.slowOnce.Do(func() { close(s.s.slowAt) })
			time.Sleep(s.s.slowBy)
		}
	}
	s.s.mu.Lock()
	s.s.msgs = append(s.s.msgs, received{from: s.from, to: append([]string(nil), s.to...), data: b})
	s.s.mu.Unlock()
	return nil
}

func (s *mailSession) Reset()        { s.from, s.to = "", nil }
func (s *mailSession) Logout() error { return nil }

// startMailServer listens on 127.0.0.1. mode is none (plain), starttls or tls (implicit).
func startMailServer(t *testing.T, mode string, configure func(*mailServer)) (*mailServer, *tls.Config) {
	t.Helper()
	m := &mailServer{}
	if configure != nil {
		configure(m)
	}
	srv := smtp.NewServer(m)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = mode == "none"
	srv.ErrorLog = discardLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var clientTLS *tls.Config
	if mode != "none" {
		serverTLS, pool := selfSigned(t)
		srv.TLSConfig = serverTLS
		clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if mode == "tls" {
			l = tls.NewListener(l, serverTLS)
		}
	}
	m.srv, m.addr = srv, l.Addr().String()
	m.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return m, clientTLS
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

func (m *mailServer) messages() []received {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]received(nil), m.msgs...)
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pacer test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// senderFor points the fixture's configuration at srv.
func senderFor(t *testing.T, f *fixture, eng Source, srv *mailServer, mode string, clientTLS *tls.Config, logs io.Writer, opts ...Option) *Sender {
	t.Helper()
	f.cfg.SMTP.Host = "127.0.0.1"
	f.cfg.SMTP.Port = srv.port
	f.cfg.SMTP.TLS = mode
	if logs == nil {
		logs = io.Discard
	}
	all := []Option{WithTLSConfig(clientTLS), WithTimeout(5 * time.Second), WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		WithClock(func() time.Time { return time.Date(2026, 3, 2, 7, 0, 5, 0, time.UTC) })}
	return New(f.st, eng, f.cfg, append(all, opts...)...)
}

// monday is when the fixture's schedule (Monday 08:00 Europe/Malta) makes 2026-W09 due.
var monday = time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)

// parsed is a received message read back as a mail client would.
type parsed struct {
	header    mail.Header
	text      string
	html      string
	partTypes []string
}

func parseMessage(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, data)
	}
	p := parsed{header: msg.Header}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.partTypes = append(p.partTypes, ct)
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		}
	}
	return p
}

func TestSendDueDeliversOneMessagePerRecipient(t *testing.T) {
	for _, mode := range []string{"none", "starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			f, eng := newFixture(t)
			srv, clientTLS := startMailServer(t, mode, func(m *mailServer) { m.user, m.pass = "pacer", "s3cret-pw" })
			f.cfg.SMTP.Username, f.cfg.SMTP.Password = "pacer", "s3cret-pw"
			var logs bytes.Buffer
			s := senderFor(t, f, eng, srv, mode, clientTLS, &logs)

			if err := s.SendDue(context.Background(), monday); err != nil {
				t.Fatal(err)
			}
			msgs := srv.messages()
			if len(msgs) != 3 {
				t.Fatalf("server received %d messages, want 3 (one per recipient)", len(msgs))
			}
			seen := map[string]parsed{}
			for _, m := range msgs {
				if len(m.to) != 1 || m.from != "pacer@example.com" {
					t.Fatalf("envelope from %q to %v, want one recipient each", m.from, m.to)
				}
				seen[m.to[0]] = parseMessage(t, m.data)
			}
			for _, rcpt := range []string{"lead@example.com", "cto@example.com", "money@example.com"} {
				p, ok := seen[rcpt]
				if !ok {
					t.Fatalf("nothing for %s", rcpt)
				}
				h := p.header
				if h.Get("From") != `"Pacer" <pacer@example.com>` || h.Get("To") != "<"+rcpt+">" {
					t.Errorf("From %q, To %q", h.Get("From"), h.Get("To"))
				}
				if _, err := h.Date(); err != nil {
					t.Errorf("Date %q: %v", h.Get("Date"), err)
				}
				if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<digest.2026-w09.") || !strings.HasSuffix(id, "@example.com>") {
					t.Errorf("Message-ID %q", id)
				}
				if h.Get("MIME-Version") != "1.0" || h.Get("Auto-Submitted") != "auto-generated" {
					t.Errorf("MIME-Version %q, Auto-Submitted %q", h.Get("MIME-Version"), h.Get("Auto-Submitted"))
				}
				if strings.Join(p.partTypes, ",") != "text/plain,text/html" {
					t.Errorf("parts %v, want text/plain then text/html (the last is preferred)", p.partTypes)
				}
				subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
				if err != nil {
					t.Fatal(err)
				}
				wantSubj := "Pacer 2026-W09: cycle time p50 15h 30m, 4 deployments"
				if rcpt == "money@example.com" {
					wantSubj = "Pacer 2026-W09 · money: cycle time p50 1d 2h, 3 deployments"
				}
				if subj != wantSubj {
					t.Errorf("%s: subject %q, want %q", rcpt, subj, wantSubj)
				}
				if !strings.Contains(p.text, "Week 2026-W09 (23 Feb – 1 Mar 2026)") || !strings.Contains(p.html, "<!doctype html>") ||
					!strings.Contains(p.html, "Slow &lt;b&gt;migration&lt;/b&gt;") {
					t.Errorf("%s: the parts lack the digest", rcpt)
				}
			}
			sends, _ := f.st.DigestSends(context.Background(), "2026-W09")
			if len(sends) != 3 {
				t.Fatalf("recorded %d sends, want 3", len(sends))
			}
			if strings.Contains(logs.String(), "s3cret-pw") {
				t.Fatal("the password reached the log")
			}
		})
	}
}

func TestSendDueTwiceAndAfterRestartSendsOnce(t *testing.T) {
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", nil)
	s := senderFor(t, f, eng, srv, "none", nil, nil)
	ctx := context.Background()
	if err := s.SendDue(ctx, monday); err != nil {
		t.Fatal(err)
	}
	if err := s.SendDue(ctx, monday.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A restart: a new Sender over a reopened database.
	path := f.st.Path()
	f.st.Close()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.st = st
	s2 := senderFor(t, f, metrics.New(st, f.cfg), srv, "none", nil, nil)
	if err := s2.SendDue(ctx, monday.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.messages()); n != 3 {
		t.Fatalf("%d messages after two checks and a restart, want 3", n)
	}
	// Before the next week's run nothing is due; at it, the next week goes out.
	if err := s2.SendDue(ctx, monday.Add(7*24*time.Hour-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.messages()); n != 3 {
		t.Fatalf("%d messages before the next run, want 3", n)
	}
	if err := s2.SendDue(ctx, monday.Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.messages()); n != 6 {
		t.Fatalf("%d messages after the next run, want 6", n)
	}
	if sends, _ := st.DigestSends(ctx, "2026-W10"); len(sends) != 3 {
		t.Fatalf("W10 sends = %d", len(sends))
	}
}

func TestSendDueBeforeTheScheduleSendsTheWeekBefore(t *testing.T) {
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", nil)
	s := senderFor(t, f, eng, srv, "none", nil, nil)
	// Monday 07:59 in Malta: W09's run is a minute away; the due run is still W08's.
	if err := s.SendDue(context.Background(), monday.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if sends, _ := f.st.DigestSends(context.Background(), "2026-W08"); len(sends) != 3 {
		t.Fatalf("W08 sends = %d, want 3", len(sends))
	}
	if sends, _ := f.st.DigestSends(context.Background(), "2026-W09"); len(sends) != 0 {
		t.Fatalf("W09 went out before its time: %v", sends)
	}
}

func TestFailuresRecordNothingAndSayWhatToFix(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, f *fixture, eng Source) *Sender
		want  []string // in the error
		sent  int      // pairs recorded
	}{
		{"refused connection", func(t *testing.T, f *fixture, eng Source) *Sender {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close() // nothing listens there now
			f.cfg.SMTP.Host, f.cfg.SMTP.Port, f.cfg.SMTP.TLS = "127.0.0.1", port, "none"
			return New(f.st, eng, f.cfg, WithTimeout(3*time.Second), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		}, []string{"cannot connect", "check smtp.host and smtp.port", "127.0.0.1:"}, 0},
		{"5xx reply", func(t *testing.T, f *fixture, eng Source) *Sender {
			srv, _ := startMailServer(t, "none", func(m *mailServer) { m.rejectTo = "cto@example.com" })
			return senderFor(t, f, eng, srv, "none", nil, nil)
		}, []string{"send to cto@example.com", "the server refused the message", "554", "Relay access denied"}, 2},
		{"auth failure", func(t *testing.T, f *fixture, eng Source) *Sender {
			srv, clientTLS := startMailServer(t, "starttls", func(m *mailServer) { m.user, m.pass = "pacer", "right" })
			f.cfg.SMTP.Username, f.cfg.SMTP.Password = "pacer", "wrong-password-123"
			return senderFor(t, f, eng, srv, "starttls", clientTLS, nil)
		}, []string{"authentication failed", "PACER_SMTP_PASSWORD"}, 0},
		{"authentication required but no username", func(t *testing.T, f *fixture, eng Source) *Sender {
			srv, clientTLS := startMailServer(t, "starttls", func(m *mailServer) { m.user, m.pass = "pacer", "right" })
			return senderFor(t, f, eng, srv, "starttls", clientTLS, nil)
		}, []string{"requires authentication", "set smtp.username"}, 0},
		{"starttls not offered", func(t *testing.T, f *fixture, eng Source) *Sender {
			srv, _ := startMailServer(t, "none", nil)
			return senderFor(t, f, eng, srv, "starttls", nil, nil)
		}, []string{"STARTTLS", "check smtp.tls"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, eng := newFixture(t)
			s := c.setup(t, f, eng)
			err := s.SendDue(ctx, monday)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "wrong-password-123") {
				t.Error("the password is in the error")
			}
			sends, _ := f.st.DigestSends(ctx, "2026-W09")
			if len(sends) != c.sent {
				t.Fatalf("recorded %d sends, want %d: %+v", len(sends), c.sent, sends)
			}
			fails, _ := f.st.DigestFailures(ctx, "2026-W09")
			if len(fails)+len(sends) != 3 {
				t.Fatalf("%d failures and %d sends for 3 recipients", len(fails), len(sends))
			}
		})
	}
}

func TestFailureIsRetriedAfterTheDelayAndNeverDuplicated(t *testing.T) {
	ctx := context.Background()
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", func(m *mailServer) { m.rejectTo = "cto@example.com" })
	s := senderFor(t, f, eng, srv, "none", nil, nil)
	if err := s.SendDue(ctx, monday); err == nil {
		t.Fatal("want the 554 for cto@example.com")
	}
	if n := len(srv.messages()); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
	// Within the retry delay nothing is tried; the others are not sent again.
	if err := s.SendDue(ctx, monday.Add(30*time.Second)); err != nil {
		t.Fatalf("a check inside the retry delay: %v", err)
	}
	srv.mu.Lock()
	srv.rejectTo = ""
	srv.mu.Unlock()
	if err := s.SendDue(ctx, monday.Add(61*time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 3 || msgs[2].to[0] != "cto@example.com" {
		t.Fatalf("after the retry: %d messages, last to %v", len(msgs), msgs[len(msgs)-1].to)
	}
	if fails, _ := f.st.DigestFailures(ctx, "2026-W09"); len(fails) != 0 {
		t.Fatalf("failure kept after the send: %+v", fails)
	}
}

func TestRetryDelay(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 7: time.Hour, 50: time.Hour} {
		if got := retryDelay(attempts); got != want {
			t.Errorf("retryDelay(%d) = %s, want %s", attempts, got, want)
		}
	}
}

func TestSendOnDemand(t *testing.T) {
	ctx := context.Background()
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", nil)
	s := senderFor(t, f, eng, srv, "none", nil, nil)

	ds, err := s.Send(ctx, w09, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || ds[0].Status != WouldSend || len(srv.messages()) != 0 {
		t.Fatalf("dry run: %+v, %d messages", ds, len(srv.messages()))
	}
	if sends, _ := f.st.DigestSends(ctx, w09.String()); len(sends) != 0 {
		t.Fatal("a dry run recorded sends")
	}

	if _, err := s.Send(ctx, w09, nil, false); err != nil {
		t.Fatal(err)
	}
	ds, err = s.Send(ctx, w09, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Status != AlreadySent {
			t.Fatalf("second send: %+v", d)
		}
	}
	if n := len(srv.messages()); n != 3 {
		t.Fatalf("%d messages, want 3", n)
	}

	// --to is an explicit request: it sends even if sent, with the subscription's scope for a
	// subscriber and everything for anyone else.
	ds, err = s.Send(ctx, w09, []string{"Money@Example.com", "guest@example.com"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].Status != Sent || ds[1].Status != Sent {
		t.Fatalf("override: %+v", ds)
	}
	msgs := srv.messages()
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	for _, m := range msgs[3:] {
		p := parseMessage(t, m.data)
		subj, _ := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
		team := strings.Contains(subj, "money")
		if (m.to[0] == "guest@example.com") == team {
			t.Errorf("%s got %q", m.to[0], subj)
		}
	}
	// The scheduler then finds every pair sent.
	if err := s.SendDue(ctx, monday.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.messages()); n != 5 {
		t.Fatalf("the scheduler sent again: %d messages", n)
	}
}

func TestReady(t *testing.T) {
	f, eng := newFixture(t)
	s := New(f.st, eng, f.cfg)
	if err := s.Ready(); err != nil {
		t.Fatalf("fixture config: %v", err)
	}
	f.cfg.SMTP.From = ""
	f.cfg.SMTP.Host = ""
	err := s.Ready()
	if err == nil || !strings.Contains(err.Error(), "smtp.host is not set") || !strings.Contains(err.Error(), "smtp.from is not set") {
		t.Fatalf("err = %v", err)
	}
	f.cfg.SMTP.Host, f.cfg.SMTP.From = "smtp.example.com", "p@example.com"
	f.cfg.SMTP.TLS, f.cfg.SMTP.Username = "none", "u"
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Fatalf("auth without TLS to a remote host: %v", err)
	}
	f.cfg.Digest.Subscriptions = nil
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "no [[digest.subscription]]") {
		t.Fatalf("no subscriptions: %v", err)
	}
	// With no subscriptions the job does nothing.
	if err := s.SendDue(context.Background(), monday); err != nil {
		t.Fatal(err)
	}
}

// Two processes (two Senders over two connections to one database file) checking at the same
// moment send each pair once between them: each pair is claimed in the store before it goes.
func TestTwoProcessesSendEachPairOnce(t *testing.T) {
	ctx := context.Background()
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", nil)
	a := senderFor(t, f, eng, srv, "none", nil, nil)
	st2, err := store.Open(ctx, f.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	f2 := &fixture{t: t, st: st2, cfg: f.cfg}
	b := senderFor(t, f2, metrics.New(st2, f.cfg), srv, "none", nil, nil)

	for round := 0; round < 3; round++ {
		week := monday.Add(time.Duration(round) * 7 * 24 * time.Hour)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*Sender{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.SendDue(ctx, week)
			}()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("round %d: %v, %v", round, errs[0], errs[1])
		}
		if n := len(srv.messages()); n != 3*(round+1) {
			t.Fatalf("round %d: %d messages, want %d", round, n, 3*(round+1))
		}
	}
}

func TestFreshClaimHoldsOffAndStaleClaimIsRetried(t *testing.T) {
	ctx := context.Background()
	f, eng := newFixture(t)
	srv, _ := startMailServer(t, "none", nil)
	s := senderFor(t, f, eng, srv, "none", nil, nil)
	// Another process claimed cto@ a moment ago (and, say, died).
	other := store.DigestClaim{Week: "2026-W09", Recipient: "cto@example.com", Holder: "web-2/77/0badc0de"}
	if ok, err := f.st.ClaimDigest(ctx, other, monday, store.DefaultLeaseTTL, false); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := s.SendDue(ctx, monday.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.messages()); n != 2 {
		t.Fatalf("%d messages while cto@ is claimed, want 2", n)
	}
	ds, err := s.Send(ctx, w09, []string{"cto@example.com"}, false)
	if err != nil || len(ds) != 1 || ds[0].Status != InProgress {
		t.Fatalf("a manual send of a claimed pair: %+v, %v", ds, err)
	}
	// Once the claim has lapsed, the pair is due at once (no retry delay: nothing failed).
	if due, err := s.Pending(ctx, monday.Add(store.DefaultLeaseTTL)); err != nil || !due {
		t.Fatalf("a lapsed claim: pending %v, %v", due, err)
	}
	if err := s.SendDue(ctx, monday.Add(store.DefaultLeaseTTL)); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 3 || msgs[2].to[0] != "cto@example.com" {
		t.Fatalf("after the claim lapsed: %d messages", len(msgs))
	}
}

// A mail server slower than a claim's time: the sender renews its claim while it waits, so
// another process checking meanwhile leaves that pair alone, and each recipient gets one
// message. Without the renewal the second process would send the held pair again.
func TestSlowSendKeepsItsClaim(t *testing.T) {
	ctx := context.Background()
	f, eng := newFixture(t)
	const ttl = time.Second
	srv, _ := startMailServer(t, "none", func(m *mailServer) {
		m.slowTo, m.slowBy, m.slowAt = "cto@example.com", 3*ttl, make(chan struct{})
	})
	// Both processes read a clock that runs from the scheduled time, as the real one does.
	start := time.Now()
	clock := func() time.Time { return monday.Add(time.Since(start)) }
	a := senderFor(t, f, eng, srv, "none", nil, nil, WithClock(clock), WithClaims("a", ttl))
	st2, err := store.Open(ctx, f.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	b := senderFor(t, &fixture{t: t, st: st2, cfg: f.cfg}, metrics.New(st2, f.cfg), srv, "none", nil, nil, WithClock(clock), WithClaims("b", ttl))

	done := make(chan error, 1)
	go func() { done <- a.SendDue(ctx, clock()) }()
	<-srv.slowAt
	time.Sleep(2 * ttl) // a's first claim has long lapsed; only its renewals hold it
	ds, err := b.Send(ctx, w09, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.Recipient == "cto@example.com" && d.Status != InProgress {
			t.Errorf("b's delivery to cto@ while a sends it: %s", d.Status)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, m := range srv.messages() {
		got[m.to[0]]++
	}
	if len(got) != 3 || got["lead@example.com"] != 1 || got["cto@example.com"] != 1 || got["money@example.com"] != 1 {
		t.Fatalf("messages per recipient: %v, want one each", got)
	}
	if fs, _ := f.st.DigestFailures(ctx, "2026-W09"); len(fs) != 0 {
		t.Fatalf("claims left behind: %+v", fs)
	}
}
