package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/store"
)

// The ways a sync can read merge requests, pipelines and the MRs of deployments (Options.API).
const (
	APIAuto    = "auto"    // GraphQL where the instance answers it, REST where not
	APIREST    = "rest"    // REST v4 only
	APIGraphQL = "graphql" // GraphQL; a project fails if GraphQL does not answer
)

// ParseAPI checks an --api value; empty means auto.
func ParseAPI(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", APIAuto:
		return APIAuto, nil
	case APIREST:
		return APIREST, nil
	case APIGraphQL:
		return APIGraphQL, nil
	}
	return "", fmt.Errorf("%q is not an API (use auto, rest or graphql)", v)
}

// GitLab's GraphQL limits (doc/api/graphql/_index.md): at most 100 nodes per connection, a
// complexity of 250 for an authenticated query, 10,000 characters of query, 30 s per request.
const (
	gqlMaxPage       = 100
	gqlMaxComplexity = 250
	gqlMaxQuery      = 10000
	gqlTimeout       = 30 * time.Second
	// A response faster than this lets the batch grow again.
	gqlFast = 5 * time.Second
)

// errGraphQL marks a failure of the GraphQL path that REST can stand in for: the endpoint is
// missing or disabled, a field is missing from the schema, a query is too complex or too slow
// even at the smallest batch, or the answer carries errors.
var errGraphQL = errors.New("graphql")

// errGraphQLUnavailable marks the instance (or the project) not answering GraphQL at all: 404,
// 403, disabled, or a schema without a field Pacer asks for.
var errGraphQLUnavailable = errors.New("graphql unavailable")

// gqlError is a failed GraphQL request.
type gqlError struct {
	what     string
	msg      string
	complex  bool // over the complexity limit
	timeout  bool // the server (or the client's 30 s) gave up
	schema   bool // a field, argument or type Pacer uses is missing
	disabled bool // no GraphQL endpoint (404, 403, 405, 501)
	status   int
}

func (e *gqlError) Error() string {
	return fmt.Sprintf("collector: GraphQL %s: %s", e.what, e.msg)
}

func (e *gqlError) Is(target error) bool {
	switch target {
	case errGraphQL:
		return true
	case errGraphQLUnavailable:
		return e.schema || e.disabled
	}
	return false
}

// shrinks reports whether a smaller batch may succeed where this one failed.
func (e *gqlError) shrinks() bool { return e.complex || e.timeout }

// gqlMessage is one entry of a GraphQL answer's errors.
type gqlMessage struct {
	Message string `json:"message"`
}

// gqlComplexity is GitLab's queryComplexity, asked for in every query and logged at debug.
type gqlComplexity struct {
	Score int `json:"score"`
	Limit int `json:"limit"`
}

// graphql sends one query through the shared client (so it is paced, retried and counted like
// every REST request) and decodes its data into out. An answer with errors is an error even
// when it carries data: partial data is never taken for complete.
func (s *syncer) graphql(ctx context.Context, what, query string, vars map[string]any, out any) error {
	if len(query) > gqlMaxQuery {
		return &gqlError{what: what, msg: fmt.Sprintf("query of %d characters exceeds GitLab's %d", len(query), gqlMaxQuery)}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, gqlTimeout+5*time.Second)
	defer cancel()
	var body struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlMessage    `json:"errors"`
	}
	start := time.Now()
	_, err := s.gl.GraphQL.Do(gitlab.GraphQLQuery{Query: query, Variables: vars}, &body, gitlab.WithContext(ctx))
	if err != nil {
		if parent.Err() != nil {
			return fmt.Errorf("collector: GraphQL %s: %w", what, parent.Err())
		}
		if ctx.Err() != nil {
			return &gqlError{what: what, msg: "no answer within 30 s", timeout: true}
		}
		return classifyGraphQL(what, err)
	}
	if len(body.Errors) > 0 {
		return gqlErrorOf(what, 200, body.Errors)
	}
	var meta struct {
		QueryComplexity *gqlComplexity `json:"queryComplexity"`
	}
	if err := json.Unmarshal(body.Data, &meta); err == nil && meta.QueryComplexity != nil {
		s.opt.Logger.Debug("graphql query", "what", what, "complexity", meta.QueryComplexity.Score,
			"limit", meta.QueryComplexity.Limit, "ms", time.Since(start).Milliseconds())
	}
	if err := json.Unmarshal(body.Data, out); err != nil {
		return &gqlError{what: what, msg: "the answer is not GitLab's GraphQL JSON: " + err.Error()}
	}
	return nil
}

// classifyGraphQL turns a failed GraphQL request into a gqlError, or passes through what is not
// GraphQL's (cancellation, 401, transport).
func classifyGraphQL(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	status := httpStatus(err)
	var gre *gitlab.GraphQLResponseError
	if errors.As(err, &gre) {
		var er *gitlab.ErrorResponse
		if errors.As(gre.Err, &er) && er.Response != nil {
			status = er.Response.StatusCode
		}
		if len(gre.Errors.Errors) > 0 {
			msgs := make([]gqlMessage, 0, len(gre.Errors.Errors))
			for _, m := range gre.Errors.Errors {
				msgs = append(msgs, gqlMessage{Message: m.Message})
			}
			e := gqlErrorOf(what, status, msgs)
			if status == http.StatusUnauthorized {
				return explain("GraphQL "+what, gre.Err)
			}
			return e
		}
	}
	switch status {
	case http.StatusUnauthorized:
		if gre != nil {
			return explain("GraphQL "+what, gre.Err)
		}
		return explain("GraphQL "+what, err)
	case http.StatusNotFound, http.StatusForbidden, http.StatusMethodNotAllowed, http.StatusNotImplemented, http.StatusGone:
		return &gqlError{what: what, msg: fmt.Sprintf("the instance does not serve GraphQL (%d)", status), disabled: true, status: status}
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		// GitLab answers a query that ran out of time with 503; checkRetry leaves these to the
		// caller, who asks again for fewer items.
		return &gqlError{what: what, msg: fmt.Sprintf("timed out (%d)", status), timeout: true, status: status}
	}
	if status != 0 {
		return &gqlError{what: what, msg: err.Error(), status: status}
	}
	return explain("GraphQL "+what, err)
}

// gqlErrorOf classifies the errors of a GraphQL answer by GitLab's (and graphql-ruby's, and
// gqlparser's) wording.
func gqlErrorOf(what string, status int, msgs []gqlMessage) *gqlError {
	var parts []string
	e := &gqlError{what: what, status: status}
	for _, m := range msgs {
		parts = append(parts, m.Message)
		l := strings.ToLower(m.Message)
		switch {
		case strings.Contains(l, "complexity"):
			e.complex = true
		case strings.Contains(l, "timed out"), strings.Contains(l, "timeout"):
			e.timeout = true
		case strings.Contains(l, "doesn't exist on type"), strings.Contains(l, "cannot query field"),
			strings.Contains(l, "unknown argument"), strings.Contains(l, "doesn't accept argument"),
			strings.Contains(l, "unknown type"), strings.Contains(l, "isn't a defined input type"),
			strings.Contains(l, "is not defined"):
			e.schema = true
		case strings.Contains(l, "graphql is disabled"), strings.Contains(l, "not enabled"):
			e.disabled = true
		}
	}
	e.msg = strings.Join(parts, "; ")
	if len(e.msg) > 500 {
		e.msg = e.msg[:500] + "…"
	}
	return e
}

// batchSizer is the number of merge requests asked for per GraphQL query. It starts at start,
// halves after a timeout or a complexity error, and grows back by a quarter after each answer
// that came quickly, up to max.
type batchSizer struct {
	mu       sync.Mutex
	size     int
	min, max int
}

func newBatchSizer(start, minSize, maxSize int) *batchSizer {
	return &batchSizer{size: start, min: minSize, max: maxSize}
}

func (b *batchSizer) get() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size
}

// shrink halves the size below what failed (from, the size of the failed query).
func (b *batchSizer) shrink(from int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size = max(b.min, min(b.size, from/2))
	return b.size
}

// done records a successful query of n items that took d.
func (b *batchSizer) done(n int, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d < gqlFast && n >= b.size && b.size < b.max {
		b.size = min(b.max, b.size+max(1, b.size/4))
	}
}

// gid reads the number of a GitLab global ID ("gid://gitlab/MergeRequest/123").
func gid(s string) int64 {
	i := strings.LastIndexByte(s, '/')
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// gqlDetailsStart is the first number of MRs per details query; batchSizer moves it.
const gqlDetailsStart = 25

// chooseAPI decides, once per sync, how merge requests are read. With auto (or graphql) it
// probes GraphQL with a cheap query, the listing's own fields for one project changed since
// now: a missing endpoint, a disabled one or a schema without a field Pacer reads all fail it.
func (s *syncer) chooseAPI(ctx context.Context, projects []store.Project) error {
	if s.opt.API == APIREST || len(projects) == 0 {
		return nil
	}
	var out struct {
		Project *struct{} `json:"project"`
	}
	vars := map[string]any{"path": projects[0].Path, "first": 1, "since": s.now().Format(time.RFC3339)}
	err := s.graphql(ctx, "probe", gqlListQuery, vars, &out)
	if err == nil && out.Project == nil {
		err = &gqlError{what: "probe", msg: "GraphQL does not find project " + projects[0].Path, disabled: true}
	}
	switch {
	case err == nil:
		s.graphQL.Store(true)
		s.opt.Logger.Info("merge requests are read through GraphQL")
		return nil
	case ctx.Err() != nil:
		return err
	case s.opt.API == APIGraphQL:
		return fmt.Errorf("collector: --api graphql, but GraphQL does not answer (use --api auto or rest): %w", err)
	}
	s.opt.Logger.Info("GraphQL does not answer; merge requests are read through REST", "reason", err)
	return nil
}
