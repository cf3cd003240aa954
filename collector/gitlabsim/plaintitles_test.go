package gitlabsim

import (
	"strings"
	"testing"
	"time"
)

// The demo's organisation (PlainTitles) has no title a dashboard must defuse, and is otherwise
// the same history as the one tests attack Pacer with.
func TestPlainTitles(t *testing.T) {
	end := time.Date(2026, 3, 26, 0, 0, 0, 0, time.UTC)
	hostile := Generate(GenOptions{Seed: 1, Days: 60, End: end}).Truth()
	plain := Generate(GenOptions{Seed: 1, Days: 60, End: end, PlainTitles: true}).Truth()
	if len(plain.MergeRequests) != len(hostile.MergeRequests) {
		t.Fatalf("%d MRs with plain titles, %d without: the history changed", len(plain.MergeRequests), len(hostile.MergeRequests))
	}
	dangerous := func(title string) bool {
		return strings.ContainsAny(title, "<>") || strings.ContainsAny(title[:1], "=+-@")
	}
	var swapped int
	for i, h := range hostile.MergeRequests {
		p := plain.MergeRequests[i]
		if p.ProjectID != h.ProjectID || p.IID != h.IID || !p.CreatedAt.Equal(h.CreatedAt) || (p.MergedAt == nil) != (h.MergedAt == nil) || p.Author != h.Author {
			t.Fatalf("MR %d differs beyond its title: %+v / %+v", i, p, h)
		}
		if dangerous(p.Title) {
			t.Errorf("plain title %q", p.Title)
		}
		if p.Title != h.Title {
			swapped++
		}
	}
	if swapped == 0 {
		t.Error("the hostile organisation has no tricky title to swap: the test proves nothing")
	}
}
