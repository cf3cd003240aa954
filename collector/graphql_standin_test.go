package collector_test

// A stand-in for the simulator's GraphQL endpoint, used by the tests and benchmarks only while
// the simulator does not serve /api/graphql itself (env.transport checks). It answers Pacer's
// three queries (listing, details by iids, next pages of commits and notes) from the same
// organisation's REST API, served by a second simulator without latency or rate limit, and
// adds the first simulator's latency to each answer, so that a GraphQL query costs what one
// request costs there. It checks nothing of GitLab's schema or limits.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

type fakeGraphQL struct {
	next    http.RoundTripper
	backend string        // base URL of the unthrottled simulator
	latency time.Duration // added to each answer
	mu      sync.Mutex
	users   map[int64]map[string]any
}

func (f *fakeGraphQL) get(r *http.Request, path string, q url.Values, out any) (next string, err error) {
	req, _ := http.NewRequest(http.MethodGet, f.backend+"/api/v4/"+path+"?"+q.Encode(), nil)
	req.Header.Set("PRIVATE-TOKEN", r.Header.Get("PRIVATE-TOKEN"))
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return resp.Header.Get("X-Next-Page"), json.NewDecoder(resp.Body).Decode(out)
}

func (f *fakeGraphQL) user(r *http.Request, id int64) map[string]any {
	f.mu.Lock()
	if f.users == nil {
		f.users = map[int64]map[string]any{}
	}
	u, ok := f.users[id]
	f.mu.Unlock()
	if ok {
		return u
	}
	var x struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
		Bot      bool   `json:"bot"`
	}
	if _, err := f.get(r, fmt.Sprintf("users/%d", id), nil, &x); err != nil {
		panic(err)
	}
	u = map[string]any{"id": fmt.Sprintf("gid://gitlab/User/%d", id), "username": x.Username, "name": x.Name, "bot": x.Bot}
	f.mu.Lock()
	f.users[id] = u
	f.mu.Unlock()
	return u
}

func (f *fakeGraphQL) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/api/graphql") {
		return f.next.RoundTrip(r)
	}
	if f.latency > 0 {
		time.Sleep(f.latency)
	}
	body, _ := io.ReadAll(r.Body)
	var q struct {
		Query     string         `json:"query"`
		Variables map[string]any `json:"variables"`
	}
	json.Unmarshal(body, &q)
	v := q.Variables
	path := url.PathEscape(v["path"].(string))
	pid := "projects/" + path
	var data any
	var err error
	switch {
	case strings.Contains(q.Query, "mergeRequests(updatedAfter"):
		page := "1"
		if a, ok := v["after"].(string); ok {
			page = a
		}
		var mrs []map[string]any
		var next string
		next, err = f.get(r, pid+"/merge_requests", url.Values{"state": {"all"}, "order_by": {"updated_at"}, "sort": {"asc"},
			"updated_after": {v["since"].(string)}, "per_page": {fmt.Sprint(v["first"])}, "page": {page}}, &mrs)
		var nodes []any
		for _, m := range mrs {
			a := m["author"].(map[string]any)
			var labels []any
			for _, l := range m["labels"].([]any) {
				labels = append(labels, map[string]any{"title": l})
			}
			nodes = append(nodes, map[string]any{"id": fmt.Sprintf("gid://gitlab/MergeRequest/%v", int64(m["id"].(float64))),
				"iid": fmt.Sprint(int64(m["iid"].(float64))), "title": m["title"], "state": m["state"], "draft": m["draft"],
				"createdAt": m["created_at"], "updatedAt": m["updated_at"], "mergedAt": m["merged_at"], "closedAt": m["closed_at"],
				"sourceBranch": m["source_branch"], "targetBranch": m["target_branch"], "diffHeadSha": m["sha"],
				"mergeCommitSha": m["merge_commit_sha"], "squashCommitSha": m["squash_commit_sha"], "webUrl": m["web_url"],
				"userNotesCount": m["user_notes_count"], "author": f.user(r, int64(a["id"].(float64))),
				"labels": map[string]any{"nodes": labels}})
		}
		data = map[string]any{"project": map[string]any{"mergeRequests": map[string]any{
			"pageInfo": map[string]any{"hasNextPage": next != "", "endCursor": next}, "nodes": nodes}}}
	case strings.Contains(q.Query, "mergeRequests(iids"):
		var nodes []any
		for _, iid := range v["iids"].([]any) {
			n, e := f.details(r, pid, iid.(string), "1", "1", true, true)
			if e != nil {
				err = e
				break
			}
			var ap struct {
				ApprovedBy []struct {
					User struct {
						ID int64 `json:"id"`
					} `json:"user"`
				} `json:"approved_by"`
			}
			f.get(r, pid+"/merge_requests/"+iid.(string)+"/approvals", nil, &ap)
			var approvers []any
			for _, a := range ap.ApprovedBy {
				approvers = append(approvers, f.user(r, a.User.ID))
			}
			n["approvedBy"] = map[string]any{"nodes": approvers}
			n["iid"] = iid
			nodes = append(nodes, n)
		}
		data = map[string]any{"project": map[string]any{"mergeRequests": map[string]any{
			"pageInfo": map[string]any{"hasNextPage": false}, "nodes": nodes}}}
	case strings.Contains(q.Query, "mergeRequest(iid"):
		c, _ := v["commitsAfter"].(string)
		nt, _ := v["notesAfter"].(string)
		var n map[string]any
		n, err = f.details(r, pid, v["iid"].(string), c, nt, c != "", nt != "")
		data = map[string]any{"project": map[string]any{"mergeRequest": n}}
	default:
		err = fmt.Errorf("unknown query")
	}
	var out []byte
	if err != nil {
		out, _ = json.Marshal(map[string]any{"errors": []any{map[string]any{"message": err.Error()}}})
	} else {
		dm := data.(map[string]any)
		dm["queryComplexity"] = map[string]any{"score": 100, "limit": 250}
		out, _ = json.Marshal(map[string]any{"data": dm})
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Request: r, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(out)), ContentLength: int64(len(out))}, nil
}

func (f *fakeGraphQL) details(r *http.Request, pid, iid, cpage, npage string, commits, notes bool) (map[string]any, error) {
	n := map[string]any{}
	if commits {
		var cs []map[string]any
		next, err := f.get(r, pid+"/merge_requests/"+iid+"/commits", url.Values{"per_page": {"100"}, "page": {cpage}}, &cs)
		if err != nil {
			return nil, err
		}
		var nodes []any
		for _, c := range cs {
			nodes = append(nodes, map[string]any{"sha": c["id"], "authoredDate": c["authored_date"], "authorName": c["author_name"],
				"authorEmail": c["author_email"], "message": c["message"]})
		}
		n["commits"] = map[string]any{"pageInfo": map[string]any{"hasNextPage": next != "", "endCursor": next}, "nodes": nodes}
	}
	if notes {
		var ns []map[string]any
		next, err := f.get(r, pid+"/merge_requests/"+iid+"/notes", url.Values{"per_page": {"100"}, "page": {npage}}, &ns)
		if err != nil {
			return nil, err
		}
		var nodes []any
		for _, x := range ns {
			a := x["author"].(map[string]any)
			nodes = append(nodes, map[string]any{"id": "gid://gitlab/Note/" + strconv.FormatInt(int64(x["id"].(float64)), 10),
				"body": x["body"], "system": x["system"], "createdAt": x["created_at"], "author": f.user(r, int64(a["id"].(float64)))})
		}
		n["notes"] = map[string]any{"pageInfo": map[string]any{"hasNextPage": next != "", "endCursor": next}, "nodes": nodes}
	}
	return n, nil
}

// transport is what the tests' syncs send through: the simulator itself when it serves GraphQL,
// else the stand-in in front of it.
func (e *env) transport() http.RoundTripper {
	e.standInOnce.Do(func() {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL()+"/api/graphql", strings.NewReader(`{"query":"{ queryComplexity { score limit } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("PRIVATE-TOKEN", gitlabsim.DefaultToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				e.standIn = func() http.RoundTripper { return http.DefaultTransport }
				return
			}
		}
		backend := gitlabsim.NewServer(e.org, gitlabsim.ServerOptions{RateLimit: 1 << 30})
		e.cleanup(backend.Close)
		e.standIn = func() http.RoundTripper {
			return &fakeGraphQL{next: http.DefaultTransport, backend: backend.URL(), latency: e.so.Latency}
		}
	})
	return e.standIn()
}
