package gitlabsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Webhooks, as GitLab has them: group and project hooks registered through the REST API
// (/groups/:id/hooks, /projects/:id/hooks), and deliveries of merge request, pipeline and
// deployment events when the organisation moves (Org.Advance, AdvanceTo, Live, Pulse), with
// GitLab's headers, sent by one background sender in the order the events happened. A hook
// that fails four times in a row is disabled for a minute, doubling up to a day, as GitLab's
// are. See docs/simulator.md.

// GitLabVersion is the version the simulator's webhooks carry in User-Agent (GitLab/…).
const GitLabVersion = "18.2.0"

// hook is a registered group or project webhook.
type hook struct {
	id        int64
	uuid      string
	group     *group   // a group hook: fires for the projects of the group and its subgroups
	project   *project // a project hook
	url       string
	token     string
	name      string
	desc      string
	ssl       bool
	events    map[string]bool // push_events, merge_requests_events, ...
	createdAt time.Time

	failures      int       // consecutive failed deliveries
	disabledUntil time.Time // wall clock; zero: enabled
}

// hookEventFlags are the event switches of a hook, with GitLab's defaults for a new hook.
var hookEventFlags = map[string]bool{
	"push_events": true, "tag_push_events": false, "merge_requests_events": false, "issues_events": false,
	"confidential_issues_events": false, "note_events": false, "confidential_note_events": false,
	"job_events": false, "pipeline_events": false, "wiki_page_events": false, "deployment_events": false,
	"releases_events": false, "feature_flag_events": false, "emoji_events": false, "milestone_events": false,
	"resource_access_token_events": false, "vulnerability_events": false,
}

// groupOnlyFlags are the switches only group hooks have.
var groupOnlyFlags = map[string]bool{"subgroup_events": false, "member_events": false, "project_events": false}

// HookDelivery is one webhook request the simulator sent (or skipped), for tests.
type HookDelivery struct {
	HookID     int64
	URL        string
	Event      string // X-Gitlab-Event, e.g. "Deployment Hook"
	EventUUID  string // X-Gitlab-Event-UUID
	ProjectID  int64
	ObjectID   int64 // the MR's iid, the pipeline's or the deployment's id
	Action     string
	Status     int    // the receiver's answer; 0 when the request failed or was skipped
	Response   string // the start of the receiver's answer
	Err        string // a transport error, or why it was skipped ("hook disabled")
	At         time.Time
	Duration   time.Duration
	OrgInstant time.Time // when the event happened in the organisation
}

// hookEvent is an event of the organisation a hook may be sent.
type hookEvent struct {
	header  string // X-Gitlab-Event
	flag    string // the hook switch that sends it
	project *project
	object  int64
	action  string
	at      time.Time
	body    []byte
}

// hookState is the server's hooks and its sender.
type hookState struct {
	mu        sync.Mutex
	hooks     []*hook
	nextID    int64
	log       []HookDelivery
	queue     []queuedHook
	pending   int
	idle      *sync.Cond
	wake      chan struct{}
	client    *http.Client
	running   bool
	closed    bool
	listening atomic.Bool // hooks are registered and the server is open
}

type queuedHook struct {
	h    *hook
	ev   hookEvent
	uuid string
}

func newHookState() *hookState {
	hs := &hookState{nextID: 100, wake: make(chan struct{}, 1), client: &http.Client{Timeout: 10 * time.Second}}
	hs.idle = sync.NewCond(&hs.mu)
	return hs
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *Server) hookRoutes() {
	for _, kind := range []string{"groups", "projects"} {
		base := "/api/v4/" + kind + "/{id}/hooks"
		s.mux.HandleFunc("GET "+base, s.listHooks)
		s.mux.HandleFunc("POST "+base, s.addHook)
		s.mux.HandleFunc("GET "+base+"/{hook_id}", s.getHook)
		s.mux.HandleFunc("PUT "+base+"/{hook_id}", s.editHook)
		s.mux.HandleFunc("DELETE "+base+"/{hook_id}", s.deleteHook)
	}
	s.mux.HandleFunc("GET /api/v4/personal_access_tokens/self", s.tokenSelf)
}

// tokenSelf is GET /personal_access_tokens/self: the token's own scopes (GitLab 15.5+).
func (s *Server) tokenSelf(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c.user != nil {
		// An OAuth token is not a personal access token.
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
		return
	}
	scopes := c.scopes
	if scopes == nil {
		scopes = []string{"api", "read_api", "read_user", "read_repository"}
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": 1, "name": "simulator", "revoked": false, "active": true,
		"scopes": scopes, "user_id": 1, "created_at": jt(s.org.Start()), "expires_at": nil})
}

// hookOwner resolves the group or project of a hooks route and checks the caller may manage
// its hooks: the api scope, and Owner of a group or Maintainer of a project.
func (s *Server) hookOwner(w http.ResponseWriter, r *http.Request, write bool) (*group, *project, bool) {
	c := callerOf(r)
	if write && c.scopes != nil && !slices.Contains(c.scopes, "api") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2", error="insufficient_scope", error_description="`+descInsufficient+`", scope="api"`)
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope", "error_description": descInsufficient, "scope": "api"})
		return nil, nil, false
	}
	s.org.mu.RLock()
	defer s.org.mu.RUnlock()
	forbidden := func() (*group, *project, bool) {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "403 Forbidden"})
		return nil, nil, false
	}
	if strings.HasPrefix(r.URL.Path, "/api/v4/groups/") {
		g, err := s.group(r)
		if err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Group Not Found"})
			return nil, nil, false
		}
		if c.user != nil && g.members[c.user] < OwnerAccess {
			return forbidden()
		}
		return g, nil, true
	}
	p, err := s.project(r)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
		return nil, nil, false
	}
	if c.user != nil && s.org.access(c.user, p) < MaintainerAccess {
		return forbidden()
	}
	return nil, p, true
}

func (h *hook) json() map[string]any {
	j := map[string]any{"id": h.id, "url": h.url, "name": h.name, "description": h.desc, "created_at": jt(h.createdAt),
		"enable_ssl_verification": h.ssl, "alert_status": "executable", "disabled_until": nil,
		"push_events_branch_filter": "", "branch_filter_strategy": "wildcard", "custom_webhook_template": "",
		"url_variables": []any{}, "repository_update_events": false}
	if !h.disabledUntil.IsZero() && time.Now().Before(h.disabledUntil) {
		j["alert_status"] = "temporarily_disabled"
		j["disabled_until"] = jt(h.disabledUntil)
	}
	for k, v := range h.events {
		j[k] = v
	}
	if h.group != nil {
		j["group_id"] = h.group.id
	} else {
		j["project_id"] = h.project.id
	}
	return j
}

func (s *Server) hooksOf(g *group, p *project) []*hook {
	var out []*hook
	for _, h := range s.hooks.hooks {
		if g != nil && h.group == g || p != nil && h.project == p {
			out = append(out, h)
		}
	}
	return out
}

func (s *Server) listHooks(w http.ResponseWriter, r *http.Request) {
	g, p, ok := s.hookOwner(w, r, false)
	if !ok {
		return
	}
	s.hooks.mu.Lock()
	var out []map[string]any
	for _, h := range s.hooksOf(g, p) {
		out = append(out, h.json())
	}
	s.hooks.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

func (s *Server) findHook(w http.ResponseWriter, r *http.Request, write bool) *hook {
	g, p, ok := s.hookOwner(w, r, write)
	if !ok {
		return nil
	}
	id, _ := strconv.ParseInt(r.PathValue("hook_id"), 10, 64)
	for _, h := range s.hooksOf(g, p) {
		if h.id == id {
			return h
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"message": "404 Not Found"})
	return nil
}

func (s *Server) getHook(w http.ResponseWriter, r *http.Request) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if h := s.findHook(w, r, false); h != nil {
		writeJSON(w, http.StatusOK, h.json())
	}
}

func (s *Server) deleteHook(w http.ResponseWriter, r *http.Request) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	h := s.findHook(w, r, true)
	if h == nil {
		return
	}
	s.hooks.hooks = slices.DeleteFunc(s.hooks.hooks, func(x *hook) bool { return x == h })
	s.hooks.listening.Store(len(s.hooks.hooks) > 0 && !s.hooks.closed)
	w.WriteHeader(http.StatusNoContent)
}

// hookParams reads a hook's attributes from a JSON body (client-go) or a form (curl).
func hookParams(r *http.Request) (map[string]any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if len(bytes.TrimSpace(body)) == 0 {
			return out, nil
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	for k, v := range r.URL.Query() {
		q[k] = v
	}
	for k, v := range q {
		out[k] = v[0]
	}
	return out, nil
}

func boolValue(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(x) {
		case "true", "1", "yes":
			return true, true
		case "false", "0", "no":
			return false, true
		}
	}
	return false, false
}

// applyHook sets a hook's attributes from params; it names the first bad one.
func applyHook(h *hook, params map[string]any) *apiError {
	for k, v := range params {
		switch k {
		case "url":
			s, _ := v.(string)
			u, err := url.Parse(s)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return &apiError{http.StatusUnprocessableEntity, "message", "Invalid url given"}
			}
			h.url = s
		case "token":
			h.token, _ = v.(string)
		case "name":
			h.name, _ = v.(string)
		case "description":
			h.desc, _ = v.(string)
		case "enable_ssl_verification":
			b, ok := boolValue(v)
			if !ok {
				return badParam(k)
			}
			h.ssl = b
		default:
			_, known := hookEventFlags[k]
			if !known && h.group != nil {
				_, known = groupOnlyFlags[k]
			}
			if !known {
				continue // GitLab ignores parameters it does not declare
			}
			b, ok := boolValue(v)
			if !ok {
				return badParam(k)
			}
			h.events[k] = b
		}
	}
	return nil
}

func (s *Server) addHook(w http.ResponseWriter, r *http.Request) {
	g, p, ok := s.hookOwner(w, r, true)
	if !ok {
		return
	}
	params, err := hookParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body could not be read"})
		return
	}
	if u, _ := params["url"].(string); u == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "url is missing"})
		return
	}
	h := &hook{group: g, project: p, ssl: true, events: map[string]bool{}, createdAt: time.Now().UTC(), uuid: newUUID()}
	for k, v := range hookEventFlags {
		h.events[k] = v
	}
	if g != nil {
		for k, v := range groupOnlyFlags {
			h.events[k] = v
		}
	}
	if ae := applyHook(h, params); ae != nil {
		writeJSON(w, ae.code, map[string]string{ae.field: ae.text})
		return
	}
	s.hooks.mu.Lock()
	s.hooks.nextID++
	h.id = s.hooks.nextID
	s.hooks.hooks = append(s.hooks.hooks, h)
	s.hooks.listening.Store(!s.hooks.closed)
	j := h.json()
	s.hooks.mu.Unlock()
	s.logf("gitlabsim: hook %d added for %s", h.id, h.url)
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) editHook(w http.ResponseWriter, r *http.Request) {
	params, err := hookParams(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body could not be read"})
		return
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	h := s.findHook(w, r, true)
	if h == nil {
		return
	}
	if u, ok := params["url"].(string); ok && u == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "url is empty"})
		return
	}
	c := *h
	c.events = map[string]bool{}
	for k, v := range h.events {
		c.events[k] = v
	}
	if ae := applyHook(&c, params); ae != nil {
		writeJSON(w, ae.code, map[string]string{ae.field: ae.text})
		return
	}
	// Editing a hook enables it again, as GitLab does.
	c.failures, c.disabledUntil = 0, time.Time{}
	*h = c
	writeJSON(w, http.StatusOK, h.json())
}

// Hooks lists the registered hooks as GitLab's API shows them (for tests): group or project
// path, url and the events switched on.
func (s *Server) Hooks() []RegisteredHook {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	var out []RegisteredHook
	for _, h := range s.hooks.hooks {
		rh := RegisteredHook{ID: h.id, URL: h.url, Token: h.token}
		if h.group != nil {
			rh.Group = h.group.fullPath
		} else {
			rh.Project = h.project.fullPath
		}
		for k, v := range h.events {
			if v {
				rh.Events = append(rh.Events, k)
			}
		}
		sort.Strings(rh.Events)
		out = append(out, rh)
	}
	return out
}

// RegisteredHook is a hook registered with the simulator.
type RegisteredHook struct {
	ID      int64
	Group   string // full path, for a group hook
	Project string // full path, for a project hook
	URL     string
	Token   string
	Events  []string // the switches that are on, sorted (merge_requests_events, ...)
}

// AddHook registers a webhook directly (as a test or the demo would in GitLab's UI): on the
// group or project with the given full path, for merge request, pipeline and deployment events.
func (s *Server) AddHook(path, hookURL, token string) (int64, error) {
	s.org.mu.RLock()
	g := s.org.groupByPath[path]
	p := s.org.projByPath[path]
	s.org.mu.RUnlock()
	if g == nil && p == nil {
		return 0, fmt.Errorf("gitlabsim: no group or project %q", path)
	}
	h := &hook{group: g, project: p, url: hookURL, token: token, ssl: true, events: map[string]bool{},
		createdAt: time.Now().UTC(), uuid: newUUID(), name: "Pacer"}
	for k := range hookEventFlags {
		h.events[k] = false
	}
	h.events["merge_requests_events"], h.events["pipeline_events"], h.events["deployment_events"] = true, true, true
	if g != nil {
		h.project = nil // a group's path wins over a project's of the same name
	}
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	s.hooks.nextID++
	h.id = s.hooks.nextID
	s.hooks.hooks = append(s.hooks.hooks, h)
	s.hooks.listening.Store(!s.hooks.closed)
	return h.id, nil
}

// HookDeliveries are the webhook requests sent so far, oldest first.
func (s *Server) HookDeliveries() []HookDelivery {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	return append([]HookDelivery(nil), s.hooks.log...)
}

// FlushHooks waits until every queued webhook delivery was sent (or ctx ends).
func (s *Server) FlushHooks(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.hooks.mu.Lock()
		for s.hooks.pending > 0 && !s.hooks.closed {
			s.hooks.idle.Wait()
		}
		s.hooks.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.hooks.mu.Lock()
		s.hooks.idle.Broadcast()
		s.hooks.mu.Unlock()
		return ctx.Err()
	}
}

// wantsEvents says whether some hook may want the organisation's events. It runs under the
// organisation's lock, so it takes no lock of its own: a hooks route holds the hooks' lock
// while it reads the organisation.
func (s *Server) wantsEvents() bool { return s.hooks.listening.Load() }

// moved is the organisation's news: the events between two instants. Each goes to every
// hook that wants it: the project's hooks and the hooks of its group and the group's
// ancestors.
func (s *Server) moved(evs []hookEvent) {
	s.hooks.mu.Lock()
	defer s.hooks.mu.Unlock()
	if len(s.hooks.hooks) == 0 || s.hooks.closed {
		return
	}
	for _, ev := range evs {
		uuid := newUUID()
		for _, h := range s.hooks.hooks {
			if !h.events[ev.flag] || !hookCovers(h, ev.project) {
				continue
			}
			s.hooks.queue = append(s.hooks.queue, queuedHook{h: h, ev: ev, uuid: uuid})
			s.hooks.pending++
		}
	}
	if !s.hooks.running {
		s.hooks.running = true
		go s.sendHooks()
	}
	select {
	case s.hooks.wake <- struct{}{}:
	default:
	}
}

func hookCovers(h *hook, p *project) bool {
	if h.project != nil {
		return h.project == p
	}
	for g := p.group; g != nil; g = g.parent {
		if g == h.group {
			return true
		}
	}
	return false
}

// sendHooks is the sender: one request at a time, in the order the events happened.
func (s *Server) sendHooks() {
	for {
		s.hooks.mu.Lock()
		for len(s.hooks.queue) == 0 && !s.hooks.closed {
			s.hooks.mu.Unlock()
			<-s.hooks.wake
			s.hooks.mu.Lock()
		}
		if s.hooks.closed {
			s.hooks.pending = 0
			s.hooks.queue = nil
			s.hooks.idle.Broadcast()
			s.hooks.mu.Unlock()
			return
		}
		q := s.hooks.queue[0]
		s.hooks.queue = s.hooks.queue[1:]
		h := q.h
		rec := HookDelivery{HookID: h.id, URL: h.url, Event: q.ev.header, EventUUID: q.uuid, ProjectID: q.ev.project.id,
			ObjectID: q.ev.object, Action: q.ev.action, At: time.Now().UTC(), OrgInstant: q.ev.at}
		disabled := !h.disabledUntil.IsZero() && rec.At.Before(h.disabledUntil)
		target, token, hookUUID := h.url, h.token, h.uuid
		s.hooks.mu.Unlock()

		if disabled {
			rec.Err = "hook disabled until " + h.disabledUntil.Format(time.RFC3339) + " after repeated failures"
		} else {
			rec.Status, rec.Response, rec.Err = s.postHook(target, token, hookUUID, q)
			rec.Duration = time.Since(rec.At)
		}

		s.hooks.mu.Lock()
		if !disabled {
			if rec.Status >= 200 && rec.Status < 300 {
				h.failures, h.disabledUntil = 0, time.Time{}
			} else {
				h.failures++
				if h.failures >= 4 {
					// GitLab's backoff: a minute, doubling with every further failure, up to a day.
					d := time.Minute << min(h.failures-4, 11)
					h.disabledUntil = time.Now().Add(min(d, 24*time.Hour))
				}
			}
		}
		s.hooks.log = append(s.hooks.log, rec)
		if len(s.hooks.log) > 10000 {
			s.hooks.log = s.hooks.log[len(s.hooks.log)-10000:]
		}
		s.hooks.pending--
		if s.hooks.pending == 0 {
			s.hooks.idle.Broadcast()
		}
		s.hooks.mu.Unlock()
	}
}

// postHook sends one delivery with GitLab's headers.
func (s *Server) postHook(target, token, hookUUID string, q queuedHook) (int, string, string) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(q.ev.body))
	if err != nil {
		return 0, "", err.Error()
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitLab/"+GitLabVersion)
	h.Set("X-Gitlab-Event", q.ev.header)
	h.Set("X-Gitlab-Instance", s.instanceURL())
	h.Set("X-Gitlab-Webhook-UUID", hookUUID)
	h.Set("X-Gitlab-Event-UUID", q.uuid)
	h.Set("Idempotency-Key", newUUID())
	if token != "" {
		h.Set("X-Gitlab-Token", token)
	}
	resp, err := s.hooks.client.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, strings.TrimSpace(string(b)), ""
}

// instanceURL is the X-Gitlab-Instance of the simulator's webhooks: its own address.
func (s *Server) instanceURL() string {
	if s.url != "" {
		return s.url
	}
	return WebBase
}

// closeHooks stops the sender; queued deliveries are dropped.
func (s *Server) closeHooks() {
	s.hooks.mu.Lock()
	s.hooks.closed = true
	s.hooks.listening.Store(false)
	s.hooks.idle.Broadcast()
	s.hooks.mu.Unlock()
	select {
	case s.hooks.wake <- struct{}{}:
	default:
	}
}
