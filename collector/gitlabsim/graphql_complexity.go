package gitlabsim

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

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
