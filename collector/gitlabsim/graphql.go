package gitlabsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// POST (or GET) /api/graphql: the subset of GitLab's GraphQL API that Pacer uses, from the
// same organisation and instant as the REST API, with GitLab's limits. See docs/simulator.md.

// SetGraphQL turns the GraphQL endpoint on or off while the server runs; off, /api/graphql
// answers 404 as an instance without it.
func (s *Server) SetGraphQL(on bool) { s.graphqlOff.Store(!on) }

// GraphQLEnabled says whether /api/graphql answers.
func (s *Server) GraphQLEnabled() bool { return !s.graphqlOff.Load() }

type graphqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

func writeGraphQL(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func graphqlError(w http.ResponseWriter, code int, msg string) {
	writeGraphQL(w, code, gqlResponse{errors: []gqlError{{Message: msg}}}.encode())
}

// serveGraphQL answers /api/graphql. It runs after the shared request handling (latency,
// faults, rate limit) and authenticates on its own: GraphQL takes anonymous requests, with a
// lower complexity limit and only public data (the simulator has none).
func (s *Server) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if s.graphqlOff.Load() {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
		return
	}
	var c caller
	anon := r.Header.Get("PRIVATE-TOKEN") == "" && r.Header.Get("Authorization") == "" &&
		r.URL.Query().Get("access_token") == "" && r.URL.Query().Get("private_token") == ""
	if !anon {
		var fail *authFailure
		if c, fail = s.authenticate(r); fail != nil {
			if fail.header != "" {
				w.Header().Set("WWW-Authenticate", fail.header)
			}
			msg := "Invalid token"
			if fail.status == http.StatusForbidden {
				msg = "Insufficient scope"
			}
			graphqlError(w, fail.status, msg)
			return
		}
	}

	var req graphqlRequest
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		if v := q.Get("variables"); v != "" {
			d := json.NewDecoder(strings.NewReader(v))
			d.UseNumber()
			if d.Decode(&req.Variables) != nil {
				graphqlError(w, http.StatusUnprocessableEntity, "Unexpected end of input")
				return
			}
		}
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&req); err != nil {
			graphqlError(w, http.StatusUnprocessableEntity, "Unexpected end of input")
			return
		}
	}
	if strings.TrimSpace(req.Query) == "" {
		graphqlError(w, http.StatusUnprocessableEntity, "No query string was present")
		return
	}
	if utf8.RuneCountInString(req.Query) > graphqlMaxQuerySize {
		graphqlError(w, http.StatusUnprocessableEntity, "Query too large")
		return
	}

	start := time.Now()
	s.org.mu.RLock()
	resp, elapsed := s.executeGraphQL(req, c, anon, s.org.now)
	s.org.mu.RUnlock()
	// The simulated work takes its time, up to the timeout, outside the organisation's lock.
	if wait := elapsed - time.Since(start); wait > 0 && !sleepCtx(r.Context(), wait) {
		return
	}
	writeGraphQL(w, http.StatusOK, resp.encode())
}

// executeGraphQL parses, validates, scores and runs one query; elapsed is the simulated time
// it took (nodes × GraphQLNodeCost, at most the timeout).
func (s *Server) executeGraphQL(req graphqlRequest, c caller, anon bool, now time.Time) (gqlResponse, time.Duration) {
	schema := graphqlSchema()
	doc, err := parser.ParseQuery(&ast.Source{Name: "query", Input: req.Query})
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return gqlResponse{errors: gqlErrorsOf(gqlerror.List{ge})}, 0
		}
		return gqlResponse{errors: []gqlError{{Message: err.Error()}}}, 0
	}
	if errs := validator.ValidateWithRules(schema, doc, graphqlRules()); len(errs) > 0 {
		return gqlResponse{errors: gqlErrorsOf(errs)}, 0
	}
	var op *ast.OperationDefinition
	switch {
	case req.OperationName != "":
		op = doc.Operations.ForName(req.OperationName)
		if op == nil {
			return gqlResponse{errors: []gqlError{{Message: `No operation named "` + req.OperationName + `"`}}}, 0
		}
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		return gqlResponse{errors: []gqlError{{Message: "An operation name is required"}}}, 0
	}
	if op.Operation != ast.Query {
		return gqlResponse{errors: []gqlError{{Message: "Schema is not configured for " + string(op.Operation) + "s"}}}, 0
	}
	vars, err := validator.VariableValues(schema, op, req.Variables)
	if err != nil {
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			return gqlResponse{errors: []gqlError{{Message: "Variable $" + variableName(ge) + " of type " + variableType(op, ge) + " was provided invalid value"}}}, 0
		}
		return gqlResponse{errors: []gqlError{{Message: err.Error()}}}, 0
	}

	ex := &gqlExec{s: s, schema: schema, vars: vars, c: c, anon: anon, now: now,
		nodeCost: s.opt.GraphQLNodeCost, timeout: s.opt.GraphQLTimeout, limit: graphqlMaxComplexity}
	if ex.timeout <= 0 {
		ex.timeout = graphqlDefaultTimeout
	}
	maxDepth := graphqlMaxDepth
	if anon {
		ex.limit, maxDepth = graphqlMaxComplexityAnonymous, graphqlMaxDepthAnonymous
	}
	if d := ex.depth(op.SelectionSet, "Query"); d > maxDepth {
		return gqlResponse{errors: []gqlError{{Message: fmt.Sprintf(graphqlDepthMessageFormat, d, maxDepth)}}}, 0
	}
	ex.score = ex.complexity(op.SelectionSet, "Query")
	if ex.score > ex.limit {
		return gqlResponse{errors: []gqlError{{Message: fmt.Sprintf(graphqlComplexityMessageFormat, ex.score, ex.limit)}}}, 0
	}
	root := &ast.Field{Name: "query", SelectionSet: op.SelectionSet}
	data := ex.object("Query", nil, []*ast.Field{root}, nil)
	elapsed := min(ex.elapsed(), ex.timeout)
	var d any
	if data != nil {
		d = data
	}
	return gqlResponse{data: d, hasData: true, errors: ex.errs}, elapsed
}

func variableName(e *gqlerror.Error) string {
	for _, p := range e.Path {
		if n, ok := p.(ast.PathName); ok && n != "variable" {
			return string(n)
		}
	}
	return ""
}

func variableType(op *ast.OperationDefinition, e *gqlerror.Error) string {
	if v := op.VariableDefinitions.ForName(variableName(e)); v != nil {
		return v.Type.String()
	}
	return "?"
}
