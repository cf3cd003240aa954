package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
)

// Engine derives the facts of SPEC section 3 from the store and answers figures and item
// lists from them. It is safe for concurrent use.
type Engine struct {
	st  *store.Store
	cfg *config.Config
	res *resolver
	*shared

	// visible is the set of projects a scoped engine answers about (Scoped); nil for the
	// engine New returns, which sees every project.
	visible    map[int64]bool
	visibleKey string // VisibilityKey, made once by Scoped
	// readOnly engines never derive facts under rules other than the stored ones (ReadOnly).
	readOnly bool
}

// ReadOnly returns an engine for a command that only reads: it refreshes facts that a sync made
// stale, as any reader would, but refuses (a *RulesError) to derive them under rules other than
// those they were derived with, which would move the figures another process serves.
func (e *Engine) ReadOnly() *Engine {
	s := *e
	s.readOnly = true
	return &s
}

// StoredConfig is the configuration the facts in st were last derived with: its name and TOML
// text, both empty for the built-in defaults; ok is false when no facts were derived yet.
func StoredConfig(ctx context.Context, st *store.Store) (name string, source []byte, ok bool, err error) {
	var src string
	err = st.DB.QueryRowContext(ctx, `SELECT config_name, config_source FROM fact_state WHERE id = 1`).Scan(&name, &src)
	if err == sql.ErrNoRows {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("metrics: read the stored configuration: %w", err)
	}
	return name, []byte(src), true, nil
}

// shared is what an engine and the scoped engines made from it have in common.
type shared struct {
	refreshMu sync.Mutex // one Refresh at a time in this process; SQLite serialises across processes

	clockMu sync.RWMutex
	now     func() time.Time

	figures figureCache // computations by facts generation, filter and visibility
}

// New returns an engine over st with the rules of cfg (config.Default() when nil). It sees
// every project; Scoped narrows it.
func New(st *store.Store, cfg *config.Config) *Engine {
	if cfg == nil {
		cfg = config.Default()
	}
	return &Engine{st: st, cfg: cfg, res: newResolver(cfg), shared: &shared{now: time.Now}}
}

// Scoped returns an engine that answers only about the given projects (GitLab project ids):
// every figure ("all" included), item list, CSV, agreement, investment share, coverage row and
// service list is computed over them alone, and services outside them are unknown. No ids (nil
// or empty) means no project at all. This is the visibility rule of sign-in, applied under
// every query so that no caller can forget it. Scoping a scoped engine narrows it further.
func (e *Engine) Scoped(projectIDs []int64) *Engine {
	visible := make(map[int64]bool, len(projectIDs))
	for _, id := range projectIDs {
		if e.visible == nil || e.visible[id] {
			visible[id] = true
		}
	}
	s := *e
	s.visible = visible
	s.visibleKey = visibilityKey(visible)
	return &s
}

// sees says whether the engine answers about a project.
func (e *Engine) sees(projectID int64) bool { return e.visible == nil || e.visible[projectID] }

// SetClock replaces the engine's clock. "Now" decides which period is still running (for
// deploys_per_day) and the default end of a range; tests and the demo pin it.
func (e *Engine) SetClock(now func() time.Time) {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	e.now = now
}

// Now is the engine's current instant, in UTC.
func (e *Engine) Now() time.Time {
	e.clockMu.RLock()
	defer e.clockMu.RUnlock()
	return e.now().UTC()
}

// Config is the configuration the engine applies.
func (e *Engine) Config() *config.Config { return e.cfg }

// FilterError is a filter the user can fix: a reversed range, an unknown service or team, a
// bad period. Message says what to do; NotFound marks names that do not exist (a web handler
// may answer 404 for those, 400 for the rest).
type FilterError struct {
	Field    string // from, to, service, team, by, dataset
	Message  string
	NotFound bool
}

func (e *FilterError) Error() string { return e.Message }

// Validate checks f against the configuration and the database. It returns a *FilterError for
// anything the user can fix, or a wrapped store error.
func (e *Engine) Validate(ctx context.Context, f Filter) error {
	if !f.From.IsZero() && !f.To.IsZero() && dayOf(f.From) > dayOf(f.To) {
		return &FilterError{Field: "from", Message: fmt.Sprintf("the range is reversed: from %s is after to %s (swap them)",
			f.From.UTC().Format(time.DateOnly), f.To.UTC().Format(time.DateOnly))}
	}
	switch f.By {
	case "", Week, Day, Month, Quarter:
	case Range:
		if f.From.IsZero() {
			return &FilterError{Field: "from", Message: "figures over a whole range need its first day (set from)"}
		}
	default:
		return &FilterError{Field: "by", Message: fmt.Sprintf("%q is not a period (use week, day, month or quarter)", string(f.By))}
	}
	if f.Team != "" && e.res.team(f.Team) == nil {
		msg := fmt.Sprintf("unknown team %q", f.Team)
		if teams := e.Teams(); len(teams) > 0 {
			msg += " (teams: " + listNames(teams) + ")"
		} else {
			msg += " (no [[team]] is configured; add one to the config file)"
		}
		return &FilterError{Field: "team", Message: msg, NotFound: true}
	}
	if len(f.Services) == 0 {
		return nil
	}
	known, err := e.Services(ctx)
	if err != nil {
		return err
	}
	set := make(map[string]bool, len(known))
	for _, s := range known {
		set[s] = true
	}
	for _, s := range f.Services {
		if s == AllServices || set[s] {
			continue
		}
		msg := fmt.Sprintf("unknown service %q", s)
		if owner := e.res.groupOf(s); owner != "" && e.visible == nil {
			msg += fmt.Sprintf(" (project %s is part of service %q; use that name)", s, owner)
		} else if len(known) > 0 {
			msg += " (services: " + listNames(known) + ")"
		} else {
			msg += " (the database has no projects yet; run pacer sync first)"
		}
		return &FilterError{Field: "service", Message: msg, NotFound: true}
	}
	return nil
}

func listNames(names []string) string {
	const max = 12
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:max], ", ") + fmt.Sprintf(", … %d more", len(names)-max)
}

// Services lists the service names known: the configured ones and each collected project's
// own service (its full path, or the configured service that groups it), sorted.
func (e *Engine) Services(ctx context.Context) ([]string, error) {
	if e.st == nil { // an engine made only to check names against the configuration
		return e.configuredServices(), nil
	}
	rows, err := e.st.DB.QueryContext(ctx, `SELECT id, path FROM projects`)
	if err != nil {
		return nil, fmt.Errorf("metrics: list projects: %w", err)
	}
	defer rows.Close()
	set := map[string]bool{}
	if e.visible == nil {
		for _, s := range e.cfg.Services {
			set[s.Name] = true
		}
	}
	for rows.Next() {
		var id int64
		var path string
		if err := rows.Scan(&id, &path); err != nil {
			return nil, fmt.Errorf("metrics: list projects: %w", err)
		}
		if !e.sees(id) {
			continue
		}
		set[e.res.projectService(path)] = true
		for _, s := range e.res.splitServices(path) {
			set[s] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: list projects: %w", err)
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func (e *Engine) configuredServices() []string {
	var out []string
	for _, s := range e.cfg.Services {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

// Teams lists the configured team names, in configuration order.
func (e *Engine) Teams() []string {
	out := make([]string, 0, len(e.cfg.Teams))
	for _, t := range e.cfg.Teams {
		out = append(out, t.Name)
	}
	return out
}

// scope is a normalised filter: a half-open range of Unix seconds and the rule an item's
// service and authors must pass.
type scope struct {
	from, to int64 // [from, to); from = unbounded when no start was given
	fromSet  bool
	by       Period

	services map[string]bool // nil: any service
	visible  map[int64]bool  // nil: any project (the engine's visibility)
	team     *config.Team    // nil: no team rule
	teamSvc  map[string]bool
	teamAuth map[string]bool // lower-case usernames
}

const unbounded = -1 << 62

// scopeOf normalises f: By defaults to week, To to today (by the engine's clock), From to
// the beginning of the data.
func (e *Engine) scopeOf(f Filter) scope {
	sc := scope{by: f.By, from: unbounded, visible: e.visible}
	if sc.by == "" {
		sc.by = Week
	}
	if !f.From.IsZero() {
		sc.from = dayOf(f.From) * 86400
		sc.fromSet = true
	}
	to := f.To
	if to.IsZero() {
		to = e.Now()
	}
	sc.to = (dayOf(to) + 1) * 86400
	if len(f.Services) > 0 {
		sc.services = map[string]bool{}
		for _, s := range f.Services {
			if s == AllServices {
				sc.services = nil
				break
			}
			sc.services[s] = true
		}
	}
	if t := e.res.team(f.Team); t != nil {
		sc.team = t
		sc.teamSvc = map[string]bool{}
		for _, s := range t.Services {
			sc.teamSvc[s] = true
		}
		sc.teamAuth = map[string]bool{}
		for _, a := range t.Authors {
			sc.teamAuth[strings.ToLower(a)] = true
		}
	}
	return sc
}

// projectOK says whether a project is visible to the engine the scope was made by.
func (sc *scope) projectOK(id int64) bool { return sc.visible == nil || sc.visible[id] }

// serviceOK says whether a service passes the service filter (the team rule is separate:
// an item also needs one of the team's services or authors).
func (sc *scope) serviceOK(service string) bool {
	return sc.services == nil || sc.services[service]
}

// dayOf is the Unix day number of t's calendar date, read in t's own location: a Filter's
// dates are days, whatever zone the caller built them in.
func dayOf(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}
