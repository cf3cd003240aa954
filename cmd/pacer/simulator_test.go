package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

// startSimulator runs `pacer simulator args` until the test ends and returns its URL and token
// as printed.
func startSimulator(t *testing.T, args []string, environ map[string]string) (url, token string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var errOut bytes.Buffer
	go func() {
		err := run(ctx, append([]string{"simulator"}, args...), mapEnv(environ), pw, &errOut)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator: %v", err)
		}
	})
	lines := bufio.NewScanner(pr)
	serving := regexp.MustCompile(`serving on (http://\S+)`)
	deadline := time.AfterFunc(30*time.Second, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()
	for lines.Scan() {
		l := lines.Text()
		if m := serving.FindStringSubmatch(l); m != nil {
			url = m[1]
		}
		if v, ok := strings.CutPrefix(l, "Token: "); ok {
			token = v
			break
		}
	}
	if url == "" || token == "" {
		t.Fatalf("no URL or token printed (stderr %q)", errOut.String())
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // the goodbye line
	return url, token
}

func simulatorGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("PRIVATE-TOKEN", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSimulatorServesRESTAndGraphQL(t *testing.T) {
	url, token := startSimulator(t, []string{"--addr", "127.0.0.1:0", "--days", "7"}, map[string]string{"PACER_MRS": "150"})
	if token != gitlabsim.DefaultToken {
		t.Errorf("token %q", token)
	}
	if code, body := simulatorGet(t, url+"/api/v4/groups/acme/projects?include_subgroups=true", token); code != 200 || !strings.Contains(body, `"path_with_namespace":"acme/monolith"`) {
		t.Fatalf("REST: %d %.200s", code, body)
	}
	code, body := simulatorGet(t, url+`/api/graphql?query={project(fullPath:"acme/monolith"){mergeRequests(first:1){count}}}`, token)
	if code != 200 || !regexp.MustCompile(`"count":\d+`).MatchString(body) {
		t.Fatalf("GraphQL: %d %s", code, body)
	}
}

func TestSimulatorGraphQLOff(t *testing.T) {
	url, token := startSimulator(t, []string{"--addr", "127.0.0.1:0", "--days", "3", "--mrs", "50"}, map[string]string{"PACER_GRAPHQL": "false"})
	if code, _ := simulatorGet(t, url+`/api/graphql?query={metadata{version}}`, token); code != http.StatusNotFound {
		t.Fatalf("GraphQL off: %d", code)
	}
	if code, _ := simulatorGet(t, url+"/api/v4/user", token); code != 200 {
		t.Fatalf("REST with GraphQL off: %d", code)
	}
}

func TestSimulatorBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--days", "0"}, nil, "--days 0 is out of range"},
		{[]string{"--mrs", "-1"}, nil, "--mrs -1 is out of range"},
		{[]string{"--latency", "fast"}, nil, "--latency"},
		{[]string{"--addr", "nowhere"}, nil, "is not host:port"},
		{nil, map[string]string{"PACER_GRAPHQL": "maybe"}, "PACER_GRAPHQL"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
	} {
		var errOut bytes.Buffer
		err := run(context.Background(), append([]string{"simulator"}, c.args...), mapEnv(c.env), &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 {
			t.Errorf("%v %v: exit %d", c.args, c.env, code)
		}
		if !strings.Contains(errOut.String(), c.want) || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v %v: want one line with %q, got %q", c.args, c.env, c.want, errOut.String())
		}
	}
}
