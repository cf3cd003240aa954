package gitlabsim

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// The GraphQL executor: gqlparser parses and validates a query against the embedded schema
// (graphql.go), graphql_complexity.go scores it as GitLab does, and this file walks the
// selection sets and renders the result in field order. The resolvers are in
// graphql_resolve.go and graphql_entities.go, paging in graphql_page.go.

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
