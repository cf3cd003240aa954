package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pacer-dev/pacer/store"
)

// hookPath is where GitLab sends its webhooks. The route is outside sign-in and the CSRF check:
// GitLab proves itself with the shared secret in X-Gitlab-Token instead.
const hookPath = "/hooks/gitlab"

// maxHookBody caps a webhook's body. Pacer reads a few ids from it; GitLab's largest payloads
// (a pipeline with hundreds of jobs) stay far below.
const maxHookBody = 4 << 20

// The X-Gitlab-Event values Pacer acts on, with the object_kind their payload carries.
var hookEvents = map[string]string{
	"Merge Request Hook": store.HookMergeRequest,
	"Pipeline Hook":      store.HookPipeline,
	"Deployment Hook":    store.HookDeployment,
}

// The outcomes of a delivery at the endpoint, the outcome label of
// pacer_webhook_deliveries_total.
const (
	hookQueued       = "queued"       // new: stored in the queue for the worker
	hookDuplicate    = "duplicate"    // a delivery already in the queue (GitLab resent it)
	hookIgnored      = "ignored"      // an event Pacer does not read (202, nothing stored)
	hookUnauthorized = "unauthorized" // X-Gitlab-Token missing or wrong (401, nothing stored)
	hookInvalid      = "invalid"      // not a payload of the event it says (400)
	hookTooLarge     = "too_large"    // over maxHookBody (413)
	hookOff          = "disabled"     // no PACER_WEBHOOK_SECRET: the endpoint is off (404)
	hookError        = "error"        // the queue could not be written (500: GitLab counts a failure)
)

// webhookReceiver is POST /hooks/gitlab: it checks the secret, reads which object the event
// names, queues the delivery and answers; the collector's webhook worker does the fetching.
type webhookReceiver struct {
	store  *store.Store
	log    *slog.Logger
	secret [32]byte // SHA-256 of PACER_WEBHOOK_SECRET; compared hashed, so in constant time whatever the lengths
	on     bool
	queued func() // wakes this process's worker; nil when none runs here
	now    func() time.Time

	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
}

func newWebhookReceiver(st *store.Store, log *slog.Logger, secret string, queued func()) *webhookReceiver {
	h := &webhookReceiver{store: st, log: log, on: secret != "", queued: queued, now: time.Now,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pacer_webhook_deliveries_total",
			Help: "GitLab webhook deliveries received by this process, by event (merge_request, pipeline, deployment, other) and outcome (queued, duplicate, ignored, unauthorized, invalid, too_large, disabled, error).",
		}, []string{"event", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pacer_webhook_receive_duration_seconds",
			Help:    "Time to check, queue and answer a GitLab webhook delivery.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	if h.on {
		h.secret = sha256.Sum256([]byte(secret))
	}
	return h
}

// collectors are the receiver's series for /metrics.
func (h *webhookReceiver) collectors() []prometheus.Collector {
	return []prometheus.Collector{h.deliveries, h.latency}
}

// hookEventLabel is a delivery's event as a metric label: one of a few values whatever the
// sender wrote.
func hookEventLabel(header string) string {
	if ev, ok := hookEvents[header]; ok {
		return ev
	}
	return "other"
}

// tokenOK compares X-Gitlab-Token with the secret in constant time.
func (h *webhookReceiver) tokenOK(token string) bool {
	got := sha256.Sum256([]byte(token))
	return token != "" && subtle.ConstantTimeCompare(got[:], h.secret[:]) == 1
}

// hookAnswer writes a one-line plain-text answer: GitLab shows it in the webhook's request
// log, where whoever set the hook up looks when something is wrong.
func hookAnswer(c *echo.Context, status int, msg string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(status, msg+"\n")
}

// receive is POST /hooks/gitlab.
func (h *webhookReceiver) receive(c *echo.Context) error {
	start := time.Now()
	req := c.Request()
	header := req.Header.Get("X-Gitlab-Event")
	event := hookEventLabel(header)
	outcome, err := h.handle(c, header)
	h.deliveries.WithLabelValues(event, outcome).Inc()
	h.latency.Observe(time.Since(start).Seconds())
	return err
}

// handle checks and queues one delivery and answers it; it returns the outcome for the
// metrics.
func (h *webhookReceiver) handle(c *echo.Context, header string) (string, error) {
	req := c.Request()
	if !h.on {
		return hookOff, hookAnswer(c, http.StatusNotFound,
			"Webhooks are off on this Pacer: set PACER_WEBHOOK_SECRET on the server and the same secret token in GitLab's webhook settings (see docs/operations.md, Webhooks).")
	}
	if !h.tokenOK(req.Header.Get("X-Gitlab-Token")) {
		// Nothing is read or stored: the sender may not even be GitLab.
		return hookUnauthorized, hookAnswer(c, http.StatusUnauthorized,
			"X-Gitlab-Token is missing or does not match PACER_WEBHOOK_SECRET: set the webhook's secret token in GitLab to the server's PACER_WEBHOOK_SECRET.")
	}
	kind, ok := hookEvents[header]
	if !ok {
		// Unknown kinds are answered with success, so GitLab's log shows no error and the hook
		// is never disabled for them (a group hook may carry more events than Pacer reads).
		return hookIgnored, hookAnswer(c, http.StatusAccepted,
			"Ignored: Pacer reads merge request, pipeline and deployment events only (this was "+strconv.Quote(clip(header, 60))+").")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), req.Body, maxHookBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return hookTooLarge, hookAnswer(c, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("Payload over %d MiB: not read. The next sync brings the change.", maxHookBody>>20))
	}
	if err != nil {
		return hookInvalid, hookAnswer(c, http.StatusBadRequest, "The payload could not be read: "+err.Error())
	}
	d, msg := parseHookPayload(kind, body)
	if msg != "" {
		return hookInvalid, hookAnswer(c, http.StatusBadRequest, msg)
	}
	d.Delivery = deliveryID(req.Header)
	key := d.Delivery
	if key == "" {
		// An old GitLab (before 14.8) or a hand-made request: the body is the delivery.
		sum := sha256.Sum256(body)
		key = "body:" + hex.EncodeToString(sum[:])
	}
	// The object is part of the key: GitLab gives webhooks triggered by another webhook the
	// same X-Gitlab-Event-UUID, and those are other events.
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%d|%d", key, d.Event, d.ProjectID, d.ObjectID)))
	d.ID = hex.EncodeToString(sum[:16])
	d.ReceivedAt = h.now().UTC()
	added, err := h.store.EnqueueWebhook(req.Context(), d)
	if err != nil {
		h.log.Error("web: queue a webhook delivery", "event", d.Event, "project", d.ProjectPath, "error", err)
		return hookError, hookAnswer(c, http.StatusInternalServerError, "Pacer could not queue this delivery (its database did not answer); GitLab may send it again.")
	}
	if !added {
		return hookDuplicate, hookAnswer(c, http.StatusOK, "Already received: "+d.Describe()+".")
	}
	if h.queued != nil {
		h.queued()
	}
	return hookQueued, hookAnswer(c, http.StatusAccepted, "Queued: "+d.Describe()+".")
}

// explain answers a GET of the webhook address: someone opened it in a browser, or checks
// that GitLab can reach it.
func (h *webhookReceiver) explain(c *echo.Context) error {
	state := "Webhooks are on."
	if !h.on {
		state = "Webhooks are off: set PACER_WEBHOOK_SECRET on the server to turn them on."
	}
	return hookAnswer(c, http.StatusOK, "This is Pacer's GitLab webhook address: GitLab POSTs merge request, pipeline and deployment events here. "+
		state+" See docs/operations.md, Webhooks.")
}

// hookPayload is the part of GitLab's merge request, pipeline and deployment payloads Pacer
// reads: which project, and which object.
type hookPayload struct {
	ObjectKind string `json:"object_kind"`
	Project    *struct {
		ID                int64  `json:"id"`
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
	ObjectAttributes *struct {
		ID              int64 `json:"id"`
		IID             int64 `json:"iid"`
		TargetProjectID int64 `json:"target_project_id"`
	} `json:"object_attributes"`
	DeploymentID int64 `json:"deployment_id"`
}

// parseHookPayload reads what a delivery names; msg says what is wrong with a payload that
// does not name it.
func parseHookPayload(kind string, body []byte) (d store.WebhookDelivery, msg string) {
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return d, "The payload is not GitLab's JSON: " + clip(err.Error(), 120)
	}
	if p.ObjectKind != kind {
		return d, fmt.Sprintf("The payload's object_kind is %q, not %q as X-Gitlab-Event says.", clip(p.ObjectKind, 40), kind)
	}
	if p.Project == nil || p.Project.ID <= 0 {
		return d, "The payload names no project (project.id)."
	}
	d = store.WebhookDelivery{Event: kind, ProjectID: p.Project.ID, ProjectPath: clip(p.Project.PathWithNamespace, 300)}
	switch kind {
	case store.HookMergeRequest:
		if p.ObjectAttributes == nil || p.ObjectAttributes.IID <= 0 {
			return d, "The merge request payload names no merge request (object_attributes.iid)."
		}
		d.ObjectID = p.ObjectAttributes.IID
		if t := p.ObjectAttributes.TargetProjectID; t > 0 && t != d.ProjectID {
			// The MR lives in its target project, which is where Pacer keeps it.
			d.ProjectID, d.ProjectPath = t, ""
		}
	case store.HookPipeline:
		if p.ObjectAttributes == nil || p.ObjectAttributes.ID <= 0 {
			return d, "The pipeline payload names no pipeline (object_attributes.id)."
		}
		d.ObjectID = p.ObjectAttributes.ID
	case store.HookDeployment:
		if p.DeploymentID <= 0 {
			return d, "The deployment payload names no deployment (deployment_id)."
		}
		d.ObjectID = p.DeploymentID
	}
	return d, ""
}

// deliveryID is GitLab's id of a delivery: Idempotency-Key (the same across GitLab's retries of
// one delivery, GitLab 17.4+), else X-Gitlab-Event-UUID (GitLab 14.8+), else empty.
func deliveryID(h http.Header) string {
	for _, name := range []string{"Idempotency-Key", "X-Gitlab-Event-UUID"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			return clip(printable(v), 128)
		}
	}
	return ""
}

// clip shortens s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// printable drops control characters from a header value before it is stored or logged.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
