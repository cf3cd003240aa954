package digest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/pacer-dev/pacer/config"
)

// message is one digest email to one recipient.
type message struct {
	To        string
	Subject   string
	HTML      string
	Text      string
	MessageID string // without angle brackets
	Date      time.Time
}

// messageID is the same for a (week, recipient) pair every time, so that in the one case where
// a message can go out twice (the server accepted it and Pacer stopped before recording it),
// mail clients that de-duplicate by Message-ID show it once.
func messageID(week Week, recipient, from string) string {
	sum := sha256.Sum256([]byte(week.String() + "\x00" + recipient))
	domain := "pacer.invalid"
	if a, err := netmail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	return fmt.Sprintf("digest.%s.%s@%s", strings.ToLower(week.String()), hex.EncodeToString(sum[:8]), domain)
}

// checkSMTP says what is missing from the [smtp] settings for sending.
func checkSMTP(c config.SMTP) error {
	var missing []string
	if strings.TrimSpace(c.Host) == "" {
		missing = append(missing, "smtp.host is not set")
	}
	if strings.TrimSpace(c.From) == "" {
		missing = append(missing, `smtp.from is not set (such as "Pacer <pacer@example.com>")`)
	} else if _, err := netmail.ParseAddress(c.From); err != nil {
		missing = append(missing, fmt.Sprintf("smtp.from %q is not an address (such as \"Pacer <pacer@example.com>\")", c.From))
	}
	if c.Username != "" && c.TLS == "none" && !isLoopback(c.Host) {
		missing = append(missing, "smtp.tls = \"none\" would send the password unencrypted to "+c.Host+"; use starttls or tls (none is for a relay on loopback)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("digest: cannot send mail: %s", strings.Join(missing, "; "))
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// mailer holds one SMTP connection for a batch of messages.
type mailer struct {
	cfg       config.SMTP
	tlsConfig *tls.Config
	timeout   time.Duration
	client    *mail.Client
	connected bool
}

func (m *mailer) newClient() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(m.cfg.Port), mail.WithTimeout(m.timeout)}
	switch m.cfg.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		// STARTTLS is required: a server that does not offer it is an error, never a silent
		// fall-back to plain text.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.tlsConfig != nil {
		opts = append(opts, mail.WithTLSConfig(m.tlsConfig))
	}
	if m.cfg.Username != "" {
		auth := mail.SMTPAuthAutoDiscover
		if m.cfg.TLS == "none" {
			// Only on loopback (checkSMTP): PLAIN, which go-mail allows unencrypted to localhost.
			auth = mail.SMTPAuthPlain
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(m.cfg.Username), mail.WithPassword(m.cfg.Password))
	}
	c, err := mail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("digest: smtp settings: %w", err)
	}
	return c, nil
}

// dial connects, negotiates TLS and authenticates.
func (m *mailer) dial(ctx context.Context) error {
	if m.connected {
		return nil
	}
	c, err := m.newClient()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return m.explain("connect", err)
	}
	m.client, m.connected = c, true
	return nil
}

// send delivers one message; nil means the server accepted it.
func (m *mailer) send(ctx context.Context, msg message) error {
	if err := m.dial(ctx); err != nil {
		return err
	}
	gm := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := gm.From(m.cfg.From); err != nil {
		return fmt.Errorf("digest: smtp.from %q: %w", m.cfg.From, err)
	}
	if err := gm.To(msg.To); err != nil {
		return fmt.Errorf("digest: recipient %q is not an address: %w", msg.To, err)
	}
	gm.Subject(msg.Subject)
	gm.SetDateWithValue(msg.Date)
	gm.SetMessageIDWithValue(msg.MessageID)
	gm.SetUserAgent("Pacer")
	// RFC 3834: an automatic message; out-of-office replies should not answer it.
	gm.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	gm.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	gm.SetBodyString(mail.TypeTextPlain, msg.Text)
	gm.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	if err := m.client.Send(gm); err != nil {
		// The connection may be unusable now; the next message dials again.
		m.close()
		return m.explain("send to "+msg.To, err)
	}
	return nil
}

func (m *mailer) close() {
	if m.connected {
		_ = m.client.Close()
	}
	m.connected = false
}

// explain turns go-mail's errors into a message that says what to check. It never includes
// the password (go-mail's errors do not carry it, and auth data logging stays off).
func (m *mailer) explain(what string, err error) error {
	server := net.JoinHostPort(m.cfg.Host, fmt.Sprint(m.cfg.Port))
	msg := err.Error()
	hint := ""
	var opErr *net.OpError
	var sendErr *mail.SendError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial":
		hint = "cannot connect; check smtp.host and smtp.port, and that the server is running and reachable"
	case strings.Contains(msg, "SMTP AUTH failed") || strings.Contains(msg, "535"):
		hint = "authentication failed; check smtp.username and the PACER_SMTP_PASSWORD environment variable"
	case strings.Contains(strings.ToLower(msg), "authenticat") || strings.Contains(msg, " 530 "):
		hint = "the server requires authentication; set smtp.username and the PACER_SMTP_PASSWORD environment variable"
	case strings.Contains(msg, "STARTTLS"):
		hint = "TLS negotiation failed; check smtp.tls (starttls on 587, tls on 465, none only for a relay on loopback)"
	case strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:"):
		hint = "TLS failed; check smtp.tls and smtp.port, and that the server's certificate is valid for smtp.host"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "i/o timeout"):
		hint = "the server did not answer in time"
	case errors.As(err, &sendErr):
		if sendErr.IsTemp() {
			hint = "the server refused the message for now (a temporary 4xx reply); it is retried"
		} else {
			hint = "the server refused the message"
		}
	}
	if hint != "" {
		return fmt.Errorf("digest: %s via %s: %s: %w", what, server, hint, err)
	}
	return fmt.Errorf("digest: %s via %s: %w", what, server, err)
}
