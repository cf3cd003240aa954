package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Every command of the command table answers -h with its one-line description first and ends
// with examples that invoke it, each of which parses as written (its flags, given -h after
// them, are accepted); a command added to the table without examples fails here.
func TestEveryCommandHelpHasADescriptionAndExamples(t *testing.T) {
	for name, cmd := range commands() {
		t.Run(name, func(t *testing.T) {
			if s := cmd.summary; s == "" || strings.Contains(s, "\n") || len(s) > 100 {
				t.Errorf("summary %q: want one line of at most 100 characters", s)
			}
			help := helpText(t, name)
			lines := strings.Split(help, "\n")
			if want := "pacer " + name + ": " + cmd.summary; lines[0] != want {
				t.Errorf("first line %q, want %q", lines[0], want)
			}
			var examples []string
			for i, l := range lines {
				if l == "Example:" || l == "Examples:" {
					for _, e := range lines[i+1:] {
						if !strings.HasPrefix(e, "  ") {
							break
						}
						examples = append(examples, strings.TrimSpace(e))
					}
				}
			}
			if len(examples) == 0 {
				t.Fatalf("no examples in\n%s", help)
			}
			for _, e := range examples {
				args := exampleArgs(e)
				if len(args) < 1 || args[0] != name {
					t.Errorf("example %q does not run pacer %s", e, name)
					continue
				}
				// -h after the example's flags: a flag it misspells, or a value that does not
				// parse, fails before the help is printed.
				var errOut bytes.Buffer
				err := run(context.Background(), append(args, "-h"), mapEnv(nil), &bytes.Buffer{}, &errOut)
				if code := exitCode(err, &errOut); code != 0 {
					t.Errorf("example %q: exit %d: %s", e, code, errOut.String())
				}
			}
		})
	}
}

// helpText is what `pacer NAME -h` prints, on either stream, with exit status 0.
func helpText(t *testing.T, name string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{name, "-h"}, mapEnv(nil), &out, &errOut)
	if code := exitCode(err, &bytes.Buffer{}); code != 0 {
		t.Fatalf("pacer %s -h: exit %d", name, code)
	}
	return out.String() + errOut.String()
}

// exampleArgs are an example's arguments after "pacer": without the environment assignments
// before it and the redirection after it.
func exampleArgs(example string) []string {
	fields := strings.Fields(example)
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		fields = fields[1:]
	}
	if len(fields) == 0 || fields[0] != "pacer" {
		return nil
	}
	var args []string
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, ">") || f == "|" {
			break
		}
		args = append(args, f)
	}
	return args
}
