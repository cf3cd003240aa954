package gitlabsim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// The GraphQL executor: gqlparser parses and validates a query against the embedded schema;
// this file scores its complexity and depth as GitLab does, walks the selection sets and
// renders the result in field order. The resolvers are in graphql_resolve.go.

//go:embed graphql_schema.graphql
var graphqlSDL string

var graphqlSchema = sync.OnceValue(func() *ast.Schema {
	return gqlparser.MustLoadSchema(&ast.Source{Name: "gitlab.graphql", Input: graphqlSDL, BuiltIn: false})
})

// graphqlRules are the standard validation rules, with GitLab's (graphql-ruby's) wording for
// unknown fields and arguments, which clients match on.
var graphqlRules = sync.OnceValue(func() *rules.Rules {
	r := rules.NewDefaultRules()
	r.ReplaceRule(rules.FieldsOnCorrectTypeRule.Name, func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnField(func(_ *core.Walker, f *ast.Field) {
			if f.ObjectDefinition == nil || f.Definition != nil {
				return
			}
			addError(core.Message("Field '%s' doesn't exist on type '%s'", f.Name, f.ObjectDefinition.Name), core.At(f.Position))
		})
	})
	r.ReplaceRule(rules.KnownArgumentNamesRule.Name, func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnField(func(_ *core.Walker, f *ast.Field) {
			if f.Definition == nil || f.ObjectDefinition == nil {
				return
			}
			for _, a := range f.Arguments {
				if f.Definition.Arguments.ForName(a.Name) == nil {
					addError(core.Message("Field '%s' doesn't accept argument '%s'", f.Name, a.Name), core.At(a.Position))
				}
			}
		})
	})
	return r
})

// GitLab's limits (doc/api/graphql/_index.md, app/graphql/gitlab_schema.rb).
const (
	graphqlMaxQuerySize            = 10000 // characters
	graphqlMaxPageSize             = 100
	graphqlMaxComplexity           = 250 // authenticated
	graphqlMaxComplexityAnonymous  = 200
	graphqlMaxDepth                = 20 // authenticated
	graphqlMaxDepthAnonymous       = 15
	graphqlDefaultTimeout          = 30 * time.Second
	graphqlConnectionMultiplier    = 0.01
	graphqlTimeoutMessageFormat    = "Timeout on %s.%s"
	graphqlComplexityMessageFormat = "Query has complexity of %d, which exceeds max complexity of %d"
	graphqlDepthMessageFormat      = "Query has depth of %d, which exceeds max depth of %d"
)

// gqlError is one entry of a response's "errors".
type gqlError struct {
	Message   string              `json:"message"`
	Locations []gqlerror.Location `json:"locations,omitempty"`
	Path      []any               `json:"path,omitempty"`
}

func gqlErrorsOf(list gqlerror.List) []gqlError {
	out := make([]gqlError, 0, len(list))
	for _, e := range list {
		g := gqlError{Message: e.Message, Locations: e.Locations}
		for _, p := range e.Path {
			switch p := p.(type) {
			case ast.PathName:
				g.Path = append(g.Path, string(p))
			case ast.PathIndex:
				g.Path = append(g.Path, int(p))
			}
		}
		out = append(out, g)
	}
	return out
}

// gqlObject is a result object: its keys in the order the query selected them.
type gqlObject struct {
	keys []string
	vals []any
}

func (o *gqlObject) set(k string, v any) {
	o.keys = append(o.keys, k)
	o.vals = append(o.vals, v)
}

// encodeGQL writes v as JSON, objects in field order, without escaping <, > and & (as GitLab).
func encodeGQL(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case *gqlObject:
		if v == nil {
			b.WriteString("null")
			return
		}
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeGQL(b, k)
			b.WriteByte(':')
			encodeGQL(b, v.vals[i])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeGQL(b, x)
		}
		b.WriteByte(']')
	default:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		b.Truncate(b.Len() - 1) // Encode's newline
	}
}

// gqlResponse is a whole answer: data (possibly partial) and errors.
type gqlResponse struct {
	data    any // *gqlObject or nil
	hasData bool
	errors  []gqlError
}

func (r gqlResponse) encode() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	if r.hasData {
		b.WriteString(`"data":`)
		encodeGQL(&b, r.data)
	}
	if len(r.errors) > 0 {
		if r.hasData {
			b.WriteByte(',')
		}
		es, _ := json.Marshal(r.errors)
		b.WriteString(`"errors":`)
		b.Write(es)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// gqlExec is the execution of one operation.
type gqlExec struct {
	s      *Server
	schema *ast.Schema
	vars   map[string]any
	c      caller
	anon   bool
	now    time.Time

	score, limit int
	errs         []gqlError

	// The simulated cost of the work done so far (nodes × ServerOptions.GraphQLNodeCost)
	// against the timeout: past it, fields resolve to null with graphql-ruby's timeout error.
	nodeCost time.Duration
	timeout  time.Duration
	nodes    int
	timedOut bool
}

func (ex *gqlExec) elapsed() time.Duration { return time.Duration(ex.nodes) * ex.nodeCost }

func (ex *gqlExec) fieldError(f *ast.Field, path []any, format string, args ...any) {
	e := gqlError{Message: fmt.Sprintf(format, args...), Path: slices.Clone(path)}
	if f.Position != nil {
		e.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	ex.errs = append(ex.errs, e)
}

// collectFields groups the fields selected on an object of type typeName by response key,
// through fragments and inline fragments, honouring @skip and @include.
func (ex *gqlExec) collectFields(set ast.SelectionSet, typeName string, keys *[]string, byKey map[string][]*ast.Field) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if !ex.included(sel.Directives) {
				continue
			}
			k := sel.Alias
			if k == "" {
				k = sel.Name
			}
			if _, ok := byKey[k]; !ok {
				*keys = append(*keys, k)
			}
			byKey[k] = append(byKey[k], sel)
		case *ast.InlineFragment:
			if ex.included(sel.Directives) && ex.applies(sel.TypeCondition, typeName) {
				ex.collectFields(sel.SelectionSet, typeName, keys, byKey)
			}
		case *ast.FragmentSpread:
			if ex.included(sel.Directives) && sel.Definition != nil && ex.applies(sel.Definition.TypeCondition, typeName) {
				ex.collectFields(sel.Definition.SelectionSet, typeName, keys, byKey)
			}
		}
	}
}

func (ex *gqlExec) included(ds ast.DirectiveList) bool {
	if d := ds.ForName("skip"); d != nil {
		if v, _ := d.ArgumentMap(ex.vars)["if"].(bool); v {
			return false
		}
	}
	if d := ds.ForName("include"); d != nil {
		if v, _ := d.ArgumentMap(ex.vars)["if"].(bool); !v {
			return false
		}
	}
	return true
}

func (ex *gqlExec) applies(cond, typeName string) bool {
	if cond == "" || cond == typeName {
		return true
	}
	for _, t := range ex.schema.PossibleTypes[cond] {
		if t.Name == typeName {
			return true
		}
	}
	return false
}

// countsAsNode says whether resolving an object of the type is work worth a node's cost:
// the records, not the connection and paging wrappers.
func countsAsNode(typeName string) bool {
	switch typeName {
	case "Query", "PageInfo", "QueryComplexity", "Metadata", "Repository":
		return false
	}
	return !strings.HasSuffix(typeName, "Connection") && !strings.HasSuffix(typeName, "Edge")
}

// object executes a selection set on v, an object of type typeName. It returns nil when a
// non-null field came back null, which makes the object itself null (GraphQL's propagation).
func (ex *gqlExec) object(typeName string, v any, fields []*ast.Field, path []any) *gqlObject {
	if countsAsNode(typeName) {
		ex.nodes++
	}
	var keys []string
	byKey := map[string][]*ast.Field{}
	for _, f := range fields {
		ex.collectFields(f.SelectionSet, typeName, &keys, byKey)
	}
	out := &gqlObject{}
	for _, k := range keys {
		fs := byKey[k]
		f := fs[0]
		p := append(slices.Clone(path), k)
		if f.Name == "__typename" {
			out.set(k, typeName)
			continue
		}
		if !ex.timedOut && ex.timeout > 0 && ex.elapsed() > ex.timeout {
			ex.timedOut = true
		}
		var val any
		if ex.timedOut {
			ex.fieldError(f, p, graphqlTimeoutMessageFormat, typeName, f.Name)
		} else {
			r, err := ex.resolve(typeName, v, f)
			if err != nil {
				ex.fieldError(f, p, "%s", err.Error())
			} else {
				val = ex.complete(f.Definition.Type, r, fs, p)
			}
		}
		if val == nil && f.Definition.Type.NonNull {
			return nil
		}
		out.set(k, val)
	}
	return out
}

// complete turns a resolved Go value into its result for the field's type.
func (ex *gqlExec) complete(t *ast.Type, v any, fields []*ast.Field, path []any) any {
	if isNil(v) {
		return nil
	}
	if t.Elem != nil {
		items, ok := v.([]any)
		if !ok {
			return nil
		}
		out := make([]any, len(items))
		for i, it := range items {
			out[i] = ex.complete(t.Elem, it, fields, append(slices.Clone(path), i))
			if out[i] == nil && t.Elem.NonNull {
				return nil
			}
		}
		return out
	}
	def := ex.schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Object:
		o := ex.object(def.Name, v, fields, path)
		if o == nil {
			return nil
		}
		return o
	default:
		return v
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch v := v.(type) {
	case *project:
		return v == nil
	case *group:
		return v == nil
	case *mergeRequest:
		return v == nil
	case *user:
		return v == nil
	case *note:
		return v == nil
	case *pipeline:
		return v == nil
	case *connection:
		return v == nil
	}
	return false
}

// Complexity, scored as GitLab's BaseField does (app/graphql/types/base_field.rb): each field
// 1 (some declare more), plus 1 where it calls Gitaly; a field backed by a resolver scores its
// children plus the resolver's own complexity (1, +1 with sort, +5 with search), and, for a
// connection, that times (1 + page size × 0.01), the page size being first or last or 100.

// declaredComplexity are the fields GitLab declares with a complexity other than 1.
var declaredComplexity = map[string]int{
	"MergeRequest.mergedAt":  5,
	"MergeRequest.closedAt":  5,
	"MergeRequest.labels":    5,
	"MergeRequest.reviewers": 5,
}

// gitalyFields call Gitaly: one more point each.
var gitalyFields = map[string]bool{
	"MergeRequest.commits":                    true,
	"MergeRequest.commitsWithoutMergeCommits": true,
	"MergeRequest.diffHeadSha":                true,
	"MergeRequest.commitCount":                true,
	"Project.repository":                      true,
}

// resolverFields are backed by a resolver class.
var resolverFields = map[string]bool{
	"Query.project":             true,
	"Query.projects":            true,
	"Query.group":               true,
	"Query.mergeRequest":        true,
	"Project.mergeRequests":     true,
	"Project.mergeRequest":      true,
	"Project.pipelines":         true,
	"Group.mergeRequests":       true,
	"Group.projects":            true,
	"MergeRequest.notes":        true,
	"MergeRequest.headPipeline": true,
}

// complexity scores a selection set on an object of type typeName.
func (ex *gqlExec) complexity(set ast.SelectionSet, typeName string) int {
	var keys []string
	byKey := map[string][]*ast.Field{}
	ex.collectFields(set, typeName, &keys, byKey)
	total := 0
	for _, k := range keys {
		fs := byKey[k]
		f := fs[0]
		if f.Definition == nil {
			continue
		}
		child := 0
		if t := f.Definition.Type.Name(); ex.schema.Types[t] != nil && ex.schema.Types[t].Kind == ast.Object {
			for _, x := range fs {
				child += ex.complexity(x.SelectionSet, t)
			}
		}
		total += ex.fieldComplexity(typeName, f, child)
	}
	return total
}

func (ex *gqlExec) fieldComplexity(typeName string, f *ast.Field, child int) int {
	name := typeName + "." + f.Name
	if c, ok := declaredComplexity[name]; ok {
		return c + child
	}
	gitaly := 0
	if gitalyFields[name] {
		gitaly = 1
	}
	if !resolverFields[name] {
		return 1 + gitaly + child
	}
	args := f.ArgumentMap(ex.vars)
	c := float64(child + 1 + gitaly)
	if args["sort"] != nil {
		c++
	}
	if args["search"] != nil {
		c += 5
	}
	if strings.HasSuffix(f.Definition.Type.Name(), "Connection") {
		size := graphqlMaxPageSize
		for _, a := range []string{"first", "last"} {
			if n, ok := intArg(args, a); ok {
				size = min(size, max(n, 0))
				break
			}
		}
		c += c * float64(size) * graphqlConnectionMultiplier
	}
	return int(c)
}

// depth is the nesting depth of fields, as graphql-ruby's max_depth counts it.
func (ex *gqlExec) depth(set ast.SelectionSet, typeName string) int {
	var keys []string
	byKey := map[string][]*ast.Field{}
	ex.collectFields(set, typeName, &keys, byKey)
	d := 0
	for _, k := range keys {
		for _, f := range byKey[k] {
			if f.Definition == nil {
				continue
			}
			sub := 0
			if t := f.Definition.Type.Name(); ex.schema.Types[t] != nil && ex.schema.Types[t].Kind == ast.Object {
				sub = ex.depth(f.SelectionSet, t)
			}
			d = max(d, 1+sub)
		}
	}
	return d
}

// Argument helpers: variables arrive as JSON numbers or Go ints, lists as []any or a single value.

func intArg(args map[string]any, name string) (int, bool) {
	switch v := args[name].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case int32:
		return int(v), true
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, _ := v.Float64()
			n = int64(f)
		}
		return int(n), true
	}
	return 0, false
}

func stringArg(args map[string]any, name string) (string, bool) {
	s, ok := args[name].(string)
	return s, ok
}

func boolArg(args map[string]any, name string) (val, set bool) {
	b, ok := args[name].(bool)
	return b, ok
}

func stringsArg(args map[string]any, name string) ([]string, bool) {
	switch v := args[name].(type) {
	case nil:
		return nil, false
	case string:
		return []string{v}, true
	case []string:
		return v, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case json.Number:
				out = append(out, x.String())
			default:
				out = append(out, fmt.Sprint(x))
			}
		}
		return out, true
	}
	return nil, false
}

// timeArg parses a Time argument as GitLab's Time scalar does (Ruby's Time.parse: ISO 8601 with
// or without a zone, fractions or a time).
func timeArg(args map[string]any, name string) (time.Time, bool, error) {
	s, ok := stringArg(args, name)
	if !ok {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05 Z0700",
		"2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("Argument '%s' on Field has an invalid value (%q). Expected type 'Time'.", name, s)
}

// gqlTime renders a time as GitLab's Time scalar: ISO 8601 to the second, "Z" for UTC.
func gqlTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z07:00")
}

// gqlTimeIn renders a time in a fixed UTC offset (commit dates keep the author's).
func gqlTimeIn(t time.Time, offset int) any {
	if offset == 0 {
		return gqlTime(t)
	}
	return t.Truncate(time.Second).In(time.FixedZone("", offset)).Format("2006-01-02T15:04:05Z07:00")
}

func gid(model string, id int64) string {
	return "gid://gitlab/" + model + "/" + strconv.FormatInt(id, 10)
}

// gidID parses gid://gitlab/Model/123 (or a bare number).
func gidID(s, model string) (int64, bool) {
	s = strings.TrimPrefix(s, "gid://gitlab/"+model+"/")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}
