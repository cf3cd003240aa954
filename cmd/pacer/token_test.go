package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/store/storetest"
)

// pacer token create prints the token once and stores only its hash; list shows it without
// its value; revoke refuses it from then on.
func TestTokenCommands(t *testing.T) {
	ctx := context.Background()
	db := storetest.DSN(t)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertProject(ctx, store.Project{ID: 1, Path: "acme/api", Name: "api", WebURL: "https://g/acme/api"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(args, "--db", db), mapEnv(nil), &out, &errOut)
		return exitCode(err, &errOut), out.String(), errOut.String()
	}
	code, out, errOut := cmd("token", "create", "ci", "--project", "acme/api", "--project", "acme/later", "--expires", "30d")
	token := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(token, "pacer_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 project of 2 granted are not in the database yet") || !strings.Contains(errOut, "shown only now") {
		t.Errorf("create's notes: %q", errOut)
	}
	raw := databaseBytes(t, db)
	if bytes.Contains(raw, []byte(token)) {
		t.Error("the database holds the token itself, not only its hash")
	}
	if code, _, errOut := cmd("token", "create", "ci"); code != 2 || !strings.Contains(errOut, `a token called "ci" exists`) {
		t.Errorf("a second ci: exit %d, %q", code, errOut)
	}
	code, out, _ = cmd("token", "list")
	if code != 0 || !strings.Contains(out, "ci") || !strings.Contains(out, "acme/api, acme/later") || strings.Contains(out, token) {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	if code, out, _ := cmd("token", "revoke", "ci"); code != 0 || !strings.Contains(out, "revoked") {
		t.Errorf("revoke: exit %d %q", code, out)
	}
	if code, _, errOut := cmd("token", "revoke", "ci"); code != 2 || !strings.Contains(errOut, `no token called "ci"`) {
		t.Errorf("revoke twice: exit %d %q", code, errOut)
	}
	for _, bad := range [][]string{
		{"token", "create"},
		{"token", "create", "a", "b"},
		{"token", "create", "x", "--expires", "soon"},
		{"token", "create", "bad name!"},
		{"token", "rotate", "x"},
	} {
		if code, _, errOut := cmd(bad...); code != 2 || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errOut)
		}
	}
}

// Without [auth], serve listens on loopback only: another address is refused with one line
// that says how to fix it; [auth] mode = "none" (with base_url) allows it, and sign-in needs
// its secret.
func TestServeRefusesAnOpenDashboardOnTheNetwork(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	none := write("none.toml", "[auth]\nmode = \"none\"\n")
	plain := write("plain.toml", "gitlab_url = \"https://gitlab.example.com\"\nbase_url = \"http://pacer.example.com\"\n[auth]\nclient_id = \"abc\"\n")
	gitlab := write("gitlab.toml", "gitlab_url = \"https://gitlab.example.com\"\nbase_url = \"https://pacer.example.com\"\n[auth]\nclient_id = \"abc\"\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--addr", ":8080"}, `would open the dashboard to the network with no sign-in: add [auth] mode = "gitlab"`},
		{[]string{"serve", "--addr", "0.0.0.0:8080"}, "or listen on 127.0.0.1:8080"},
		{[]string{"serve", "--addr", ":8080", "--config", none}, "set base_url"},
		{[]string{"serve", "--config", gitlab}, "needs PACER_OAUTH_SECRET"},
		{[]string{"serve", "--config", plain}, "sign-in needs base_url on https"},
	} {
		var errOut bytes.Buffer
		env := mapEnv(nil)
		if strings.Contains(c.want, "https") {
			env = mapEnv(map[string]string{"PACER_OAUTH_SECRET": "s"})
		}
		err := run(context.Background(), append(c.args, "--db", filepath.Join(dir, "p.db")), env, &bytes.Buffer{}, &errOut)
		if code := exitCode(err, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q (want %q)", c.args, code, errOut.String(), c.want)
		}
	}
}

// The start-up line names the address really listened on.
func TestListeningOn(t *testing.T) {
	cfg := config.Default()
	if got := listeningOn(&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, cfg); got != "is listening on 0.0.0.0:8080 (every interface)" {
		t.Errorf("wildcard: %q", got)
	}
	if got := listeningOn(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, cfg); got != "is serving on http://127.0.0.1:8080/" {
		t.Errorf("loopback: %q", got)
	}
	cfg.BaseURL = "https://pacer.example.com"
	if got := listeningOn(&net.TCPAddr{IP: net.IPv6unspecified, Port: 443}, cfg); got != "is listening on [::]:443 (every interface); people open it at https://pacer.example.com/" {
		t.Errorf("with base_url: %q", got)
	}
	for addr, want := range map[string]bool{"127.0.0.1:8080": true, "localhost:1": true, "[::1]:80": true, ":8080": false, "0.0.0.0:80": false, "10.1.2.3:80": false} {
		if isLoopbackAddr(addr) != want {
			t.Errorf("isLoopbackAddr(%s) = %v", addr, !want)
		}
	}
}

// With [auth] mode = "gitlab", a browser that is not signed in is sent to GitLab's sign-in.
func TestServeSendsABrowserToGitLab(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pacer.toml")
	if err := os.WriteFile(cfgPath, []byte("gitlab_url = \"https://gitlab.example.com\"\nbase_url = \"http://127.0.0.1\"\n[auth]\nmode = \"gitlab\"\nclient_id = \"abc\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "p.db"), "--config", cfgPath},
			mapEnv(map[string]string{"PACER_OAUTH_SECRET": "s"}), out, errOut)
	}()
	defer func() { cancel(); <-done }()
	var url string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && url == ""; time.Sleep(50 * time.Millisecond) {
		if m := servingURL.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("no URL: %s %s", out, errOut)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, url+"releases", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/auth/signin?next=%2Freleases" {
		t.Fatalf("GET /releases: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ = http.NewRequest(http.MethodGet, url+"auth/signin?next=%2Freleases", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://gitlab.example.com/oauth/authorize?") ||
		!strings.Contains(loc, "code_challenge_method=S256") || !strings.Contains(loc, "scope=read_api") ||
		!strings.Contains(loc, "redirect_uri=http%3A%2F%2F127.0.0.1%2Fauth%2Fcallback") {
		t.Errorf("sign-in sends the browser to %q", loc)
	}
}

// databaseBytes is what the database holds, to look for what must not be there: the SQLite
// file's bytes, or on PostgreSQL every token row as text.
func databaseBytes(t *testing.T, db string) []byte {
	t.Helper()
	if !storetest.Postgres() {
		raw, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b bytes.Buffer
	rows, err := st.DB.Query(`SELECT name, hash FROM api_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var hash []byte
		if err := rows.Scan(&name, &hash); err != nil {
			t.Fatal(err)
		}
		b.WriteString(name)
		b.Write(hash)
	}
	return b.Bytes()
}
