package web

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/digest"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/views"
)

// digestPreview is the /digest page: the weekly digest of any full week and scope, as
// subscribers get it, with what was sent. ?format=html answers the email's own HTML (shown in
// the page's frame) and ?format=text its plain-text part.
type digestPreview struct {
	store *store.Store
	cfg   *config.Config
	log   *slog.Logger
	r     *renderer
}

// previewWeeks is how many recent weeks the week menu offers (any week works in the URL).
const previewWeeks = 12

// emailCSP lets the email's own inline styles apply and nothing else: no scripts, no
// requests, and framing only by the dashboard itself.
const emailCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

func (h *digestPreview) show(c *echo.Context) error {
	ctx := c.Request().Context()
	v := c.Request().URL.Query()
	// The digest as this request may see it: composed over its scoped engine.
	sender := digest.New(h.store, engineOf(c), h.cfg, digest.WithLogger(h.log))
	last := digest.LastFullWeek(engineOf(c).Now())
	week := last
	if s := strings.TrimSpace(v.Get("week")); s != "" {
		if len(s) > 40 {
			return badRequestf("week", "week=%q is not an ISO week: use YYYY-Www, such as 2026-W09.", truncate(s, 40))
		}
		w, err := digest.ParseWeek(s)
		if err != nil {
			return badRequestf("week", "%s", strings.TrimPrefix(err.Error(), "digest: "))
		}
		if w.End().After(engineOf(c).Now()) {
			return badRequestf("week", "%s has not ended yet; the last full week is %s", w, last)
		}
		week = w
	}
	scope := digest.Scope{Team: strings.TrimSpace(v.Get("team"))}
	if len(scope.Team) > maxNameLen {
		return badRequestf("team", "team=%.40q… is too long to be a team name.", scope.Team)
	}
	for _, s := range v["service"] {
		if s = strings.TrimSpace(s); s != "" {
			if len(s) > maxNameLen {
				return badRequestf("service", "service=%.40q… is too long to be a service name.", s)
			}
			scope.Services = append(scope.Services, s)
		}
	}
	if scope.Team != "" && len(scope.Services) > 0 {
		return badRequestf("team", "choose a team or services, not both: a digest covers everyone, one team or a list of services")
	}
	if err := engineOf(c).Validate(ctx, metrics.Filter{Team: scope.Team, Services: scope.Services}); err != nil {
		return err
	}

	format := v.Get("format")
	switch format {
	case "", "page", "html", "text":
	default:
		return badRequestf("format", "%q is not a format (use html or text, or leave it out for the page)", truncate(format, 40))
	}
	m, err := sender.Compose(ctx, week, scope, "", false)
	if err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", "no-store")
	switch format {
	case "html":
		m.BaseTarget = "_top"
		var b bytes.Buffer
		if err := views.DigestEmailDoc(m).Render(ctx, &b); err != nil {
			return err
		}
		hdr.Set("Content-Security-Policy", emailCSP)
		hdr.Set("X-Frame-Options", "SAMEORIGIN")
		return c.HTMLBlob(http.StatusOK, b.Bytes())
	case "text":
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(views.DigestText(m)))
	}

	p := views.DigestPreviewPage{
		Week: week.String(), Team: scope.Team, Subject: m.Subject, Email: m,
		Schedule: schedule(sender, engineOf(c).Now()),
	}
	if len(scope.Services) > 0 {
		p.Service = scope.Services[0]
	}
	for i := 0; i < previewWeeks; i++ {
		w := last.Add(-i)
		p.Weeks = append(p.Weeks, views.Option{Value: w.String(), Label: w.String() + " · " + w.Start().Format("2 Jan")})
	}
	if week.Start().Before(last.Add(-previewWeeks + 1).Start()) {
		p.Weeks = append(p.Weeks, views.Option{Value: week.String(), Label: week.String()})
	}
	for _, t := range visibleTeams(c) {
		p.Teams = append(p.Teams, views.Option{Value: t, Label: t})
	}
	if services, err := engineOf(c).Services(ctx); err == nil {
		for _, s := range services {
			p.Services = append(p.Services, views.Option{Value: s, Label: s})
		}
	}
	// An address in several subscriptions gets the first one's digest (as digest.Sender
	// sends it), so it is listed under that scope only.
	var subscribers []string
	seen := map[string]bool{}
	for _, sub := range h.cfg.Digest.Subscriptions {
		match := digest.ScopeOf(sub).Key() == scope.Key()
		for _, a := range sub.To {
			k := store.NormalizeRecipient(a)
			if seen[k] {
				continue
			}
			seen[k] = true
			if match {
				subscribers = append(subscribers, a)
			}
		}
	}
	p.Subscribers = strings.Join(subscribers, ", ")
	sends, err := h.store.DigestSends(ctx, week.String())
	if err != nil {
		return err
	}
	for _, s := range sends {
		if s.Scope == scope.Key() {
			p.Sent = append(p.Sent, s.Recipient+", "+s.SentAt.Format("2 Jan 2006 15:04 UTC"))
		}
	}
	fails, err := h.store.DigestFailures(ctx, week.String())
	if err != nil {
		return err
	}
	for _, f := range fails {
		if !slices.ContainsFunc(subscribers, func(a string) bool { return store.NormalizeRecipient(a) == f.Recipient }) {
			continue
		}
		if f.LastError == store.DigestSending {
			p.Failures = append(p.Failures, fmt.Sprintf("%s: being sent since %s", f.Recipient, f.LastAttemptAt.Format("2 Jan 15:04 UTC")))
			continue
		}
		p.Failures = append(p.Failures, fmt.Sprintf("%s: %s, last %s: %s", f.Recipient, plural(f.Attempts, "attempt", "attempts"),
			f.LastAttemptAt.Format("2 Jan 15:04 UTC"), f.LastError))
	}
	q := url.Values{"week": {week.String()}}
	if scope.Team != "" {
		q.Set("team", scope.Team)
	}
	for _, s := range scope.Services {
		q.Add("service", s)
	}
	q.Set("format", "html")
	p.EmailURL = "/digest?" + q.Encode()
	q.Set("format", "text")
	p.TextURL = "/digest?" + q.Encode()
	q.Del("format")

	meta := views.PageMeta{Title: "Weekly digest", Assets: h.r.assets.views(), Version: h.r.version, Filters: views.FilterBar{Hide: true}}
	return h.r.page(c, http.StatusOK, meta, views.DigestPreviewView(p), "/digest?"+q.Encode())
}

// schedule says when the digest goes out, for the page's lead line.
func schedule(sender *digest.Sender, now time.Time) string {
	if err := sender.Ready(); err != nil {
		return "Not sent on a schedule: " + strings.TrimPrefix(err.Error(), "digest: ") + ". See docs/digest.md."
	}
	s := sender.Schedule()
	next := s.Next(now)
	return fmt.Sprintf("Sent by pacer serve every %s at %02d:%02d (%s); next: %s, due %s.",
		s.Day, s.Minute/60, s.Minute%60, s.Location, next.Week, next.At.In(s.Location).Format("Mon 2 Jan 15:04 MST"))
}
