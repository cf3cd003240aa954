package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// helpOf returns what `pacer CMD -h` prints.
func helpOf(t *testing.T, cmd string) string {
	t.Helper()
	var errOut bytes.Buffer
	err := run(context.Background(), []string{cmd, "-h"}, mapEnv(nil), &bytes.Buffer{}, &errOut)
	if code := exitCode(err, &bytes.Buffer{}); code != 0 {
		t.Fatalf("pacer %s -h: exit %d", cmd, code)
	}
	return errOut.String()
}

// flagHelp returns the usage of one flag: its "-name PLACEHOLDER" line and the text under it.
func flagHelp(t *testing.T, help, flag string) string {
	t.Helper()
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "-"+flag {
			if i+1 < len(lines) {
				return l + "\n" + lines[i+1]
			}
			return l
		}
	}
	t.Fatalf("no -%s in\n%s", flag, help)
	return ""
}

// The help texts state what the commands do (checked by the tests of each command); these
// cases are the ones that once said something else.
func TestHelpStatesTheRealDefaultsAndLimits(t *testing.T) {
	for _, c := range []struct {
		cmd, flag string
		want      []string // each must appear in the flag's usage
		not       []string // none may appear
	}{
		// The demo uses a temporary database, never pacer.db or the config's database.
		{"demo", "db", []string{"-db FILE", "temporary"}, []string{"pacer.db", "database in the config"}},
		{"sync", "db", []string{"-db FILE", "pacer.db", "database in the config"}, nil},
		// serve refuses an interval under a minute.
		{"serve", "sync-every", []string{"-sync-every DURATION", "1m"}, nil},
		// The placeholder names the value, not one of its choices.
		{"export", "by", []string{"-by PERIOD", "week", "day"}, nil},
		{"sync", "concurrency", []string{"-concurrency N", "1-64", "(default 8)"}, nil},
	} {
		got := flagHelp(t, helpOf(t, c.cmd), c.flag)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("pacer %s -h, -%s: want %q in %q", c.cmd, c.flag, w, got)
			}
		}
		for _, n := range c.not {
			if strings.Contains(got, n) {
				t.Errorf("pacer %s -h, -%s: %q is not true of this command: %q", c.cmd, c.flag, n, got)
			}
		}
	}
}
