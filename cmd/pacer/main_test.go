package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func mapEnv(m map[string]string) env { return func(k string) string { return m[k] } }

func TestUnknownCommandIsUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, mapEnv(nil), &out, &errOut)
	if code := exitCode(err, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), `unknown command "frobnicate"`) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("stderr %q", errOut.String())
	}
}

func TestFlagsHaveEnvironmentTwins(t *testing.T) {
	var errOut bytes.Buffer
	fs := newFlagSet("x", mapEnv(map[string]string{"PACER_DB": "from-env.db", "PACER_GITLAB_URL": "https://env.example"}), &errOut)
	url := fs.String("gitlab-url", "", "")
	if err := fs.parse([]string{"--gitlab-url", "https://flag.example"}); err != nil {
		t.Fatal(err)
	}
	if *url != "https://flag.example" {
		t.Errorf("flag must win over env: %q", *url)
	}
	if fs.db != "from-env.db" {
		t.Errorf("env twin not applied: %q", fs.db)
	}
}

func TestBadFlagIsOneLineExit2(t *testing.T) {
	for _, name := range commandNames() {
		var errOut bytes.Buffer
		cmdErr := &bytes.Buffer{}
		err := run(context.Background(), []string{name, "--no-such-flag"}, mapEnv(nil), &bytes.Buffer{}, cmdErr)
		if code := exitCode(err, &errOut); code != 2 {
			t.Errorf("%s: exit %d", name, code)
		}
		all := cmdErr.String() + errOut.String()
		if strings.Count(all, "\n") != 1 || !strings.HasPrefix(all, "pacer: "+name+": ") || !strings.Contains(all, "-no-such-flag") {
			t.Errorf("%s: want one line naming the flag, got %q", name, all)
		}
	}
}

func TestHelpPrintsUsageAndExits0(t *testing.T) {
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"sync", "-h"}, mapEnv(nil), &bytes.Buffer{}, &errOut)
	if code := exitCode(err, &bytes.Buffer{}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "-gitlab-url") {
		t.Fatalf("usage lacks the flags: %q", errOut.String())
	}
}

func TestUnreadableConfigIsUsageError(t *testing.T) {
	fs := newFlagSet("x", mapEnv(nil), &bytes.Buffer{})
	if err := fs.parse([]string{"--config", "/nonexistent/pacer.toml"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := fs.loadConfig()
	if code := exitCode(err, &bytes.Buffer{}); code != 2 {
		t.Fatalf("exit %d for %v", code, err)
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, mapEnv(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "pacer ") {
		t.Fatalf("got %q", out.String())
	}
}

func TestEnvironmentTwinExceptionsAndHints(t *testing.T) {
	// digest's --to is an address, export's --to a date: one variable must not feed both.
	fs := newFlagSet("digest", mapEnv(map[string]string{"PACER_TO": "2026-03-01", "PACER_DIGEST_TO": "a@example.com"}), &bytes.Buffer{})
	fs.twin("to", "PACER_DIGEST_TO")
	var to stringList
	fs.Var(&to, "to", "")
	if err := fs.parse(nil); err != nil {
		t.Fatal(err)
	}
	if to.String() != "a@example.com" {
		t.Errorf("--to from %q, want PACER_DIGEST_TO", to.String())
	}

	// The demo never reads PACER_DB.
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"demo", "--addr", "bad address"}, mapEnv(map[string]string{"PACER_DB": "/nonexistent/real.db"}), &out, &errOut)
	if err == nil || strings.Contains(err.Error(), "real.db") {
		t.Errorf("demo used PACER_DB: %v", err)
	}

	// A value that does not parse says what would.
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--sync-every", "banana"}, nil, `--sync-every "banana": use a duration such as 15m`},
		{[]string{"sync"}, map[string]string{"PACER_CONCURRENCY": "abc"}, `PACER_CONCURRENCY="abc" is not a valid value for --concurrency: use a whole number`},
	} {
		err := run(context.Background(), tc.args, mapEnv(tc.env), &bytes.Buffer{}, &bytes.Buffer{})
		var msg bytes.Buffer
		if code := exitCode(err, &msg); code != 2 || !strings.Contains(msg.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, msg.String(), tc.want)
		}
	}
}

// A bare pacer lists the commands on stderr and exits 2; pacer help exits 0.
func TestBarePacerListsCommandsExit2(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), nil, mapEnv(nil), &out, &errOut)
	if code := exitCode(err, &errOut); code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), "sync ") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, mapEnv(nil), &out, &errOut); err != nil || !strings.Contains(out.String(), "export") {
		t.Fatalf("pacer help: %v %q", err, out.String())
	}
}

// A flag given twice is one line and status 2, for every command; repeatable flags may repeat.
func TestFlagGivenTwiceIsUsageError(t *testing.T) {
	for _, name := range commandNames() {
		args := []string{name, "--db", "a.db", "--db=b.db"}
		if name == "token" {
			args = []string{name, "list", "--db", "a.db", "--db=b.db"} // token takes its action first
		}
		want := "--db is given twice"
		if name == "simulator" { // it has no database
			args, want = []string{name, "--seed", "1", "--seed=2"}, "--seed is given twice"
		}
		var errOut bytes.Buffer
		err := run(context.Background(), args, mapEnv(nil), &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), want) {
			t.Errorf("%s: exit %d, %q", name, code, errOut.String())
		}
	}
	fs := newFlagSet("x", mapEnv(nil), &bytes.Buffer{})
	var groups stringList
	fs.Var(&groups, "group", "")
	verbose := fs.Bool("verbose", false, "")
	if err := fs.parse([]string{"--group", "a", "--verbose", "--group", "b"}); err != nil || len(groups) != 2 || !*verbose {
		t.Errorf("repeatable flag: %v %v %v", err, groups, *verbose)
	}
}
