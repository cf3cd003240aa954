package config

import (
	"strings"
	"testing"
)

func TestPrivacyAuthors(t *testing.T) {
	if !Default().Privacy.ShowAuthors() {
		t.Error("authors are hidden by default; want them shown")
	}
	for _, c := range []struct {
		file string
		want bool
	}{
		{"", true},
		{"[privacy]\n", true},
		{"[privacy]\nauthors = true\n", true},
		{"[privacy]\nauthors = false\n", false},
	} {
		cfg, err := Parse("p.toml", []byte(c.file))
		if err != nil {
			t.Fatalf("%q: %v", c.file, err)
		}
		if got := cfg.Privacy.ShowAuthors(); got != c.want {
			t.Errorf("%q: ShowAuthors = %v, want %v", c.file, got, c.want)
		}
	}
	_, err := Parse("p.toml", []byte("[privacy]\nauthors = \"no\"\n"))
	if err == nil || !strings.Contains(err.Error(), "p.toml:2") {
		t.Errorf("a string for authors: %v, want an error on line 2", err)
	}
	_, err = Parse("p.toml", []byte("[privacy]\nnames = false\n"))
	if err == nil || !strings.Contains(err.Error(), "privacy.names") {
		t.Errorf("an unknown privacy key: %v, want it named", err)
	}
}
