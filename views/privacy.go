package views

import "context"

type authorsHiddenKey struct{}

// WithoutAuthors marks a request's context as one whose pages name no author ([privacy]
// authors = false): tables show "—" and link to no per-person view.
func WithoutAuthors(ctx context.Context) context.Context {
	return context.WithValue(ctx, authorsHiddenKey{}, true)
}

// AuthorsShown says whether pages rendered with ctx may name authors.
func AuthorsShown(ctx context.Context) bool {
	hidden, _ := ctx.Value(authorsHiddenKey{}).(bool)
	return !hidden
}
