package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
)

const apiConfig = `
[[team]]
name = "api-team"
services = ["acme/api"]

[[team]]
name = "alice-team"
authors = ["alice"]
`

// apiFixture is the web fixture with a team of services and one of authors, and more acme/api
// MRs (undeployed, unreviewed, one with text a spreadsheet would run) so that pages are many
// and nulls are there.
func apiFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	w11 := week10.AddDate(0, 0, 7).Unix()
	for i, title := range []string{"=1+1", "+plus", "Later change", "@mention", "Plain"} {
		iid := int64(5 + i)
		f.mr(1, iid, title, "-branch", `["-x","a","Zed"]`, w11+int64(i)*3600, w11+int64(i+1)*86400)
	}
	cfg, err := config.Parse("api.toml", []byte(apiConfig))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	return f
}

func apiGet(f *fixture, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

type apiPageBody struct {
	Data []map[string]any `json:"data"`
	Next *string          `json:"next"`
}

func decodePage(t *testing.T, target string, rec *httptest.ResponseRecorder) apiPageBody {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	var p apiPageBody
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("GET %s: %v\n%s", target, err, rec.Body)
	}
	return p
}

// apiRows reads every page of dataset for query (with a page size), following next.
func apiRows(t *testing.T, f *fixture, dataset, query string, header ...string) (rows []map[string]any, pages int) {
	t.Helper()
	target := "/api/v1/" + dataset + "?" + query
	for {
		p := decodePage(t, target, apiGet(f, target, header...))
		rows = append(rows, p.Data...)
		pages++
		if p.Next == nil {
			return rows, pages
		}
		if pages > 200 {
			t.Fatalf("%s: paging does not end", target)
		}
		target = "/api/v1/" + dataset + "?" + query + "&cursor=" + url.QueryEscape(*p.Next)
	}
}

func columnDefs(dataset string) []metrics.Column {
	for _, d := range metrics.DatasetDefs {
		if d.Name == dataset {
			return d.Columns
		}
	}
	return nil
}

// asCSV is what the CSV writes for a JSON field's value: the test's own reading of SPEC
// section 4 (null is an empty cell, labels are joined with ';', text is made inert).
func asCSV(t *testing.T, col metrics.Column, v any) string {
	t.Helper()
	inert := func(s string) string {
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			return "'" + s
		}
		return s
	}
	switch v := v.(type) {
	case nil:
		if !col.Nullable {
			t.Errorf("%s is null", col.Name)
		}
		return ""
	case json.Number:
		if col.Kind == metrics.KindInteger && strings.ContainsAny(string(v), ".eE") {
			t.Errorf("%s = %s is not an integer", col.Name, v)
		}
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	case []any:
		var parts []string
		for _, l := range v {
			parts = append(parts, l.(string))
		}
		return inert(strings.Join(parts, ";"))
	case string:
		if col.Kind == metrics.KindText {
			return inert(v)
		}
		return v
	}
	t.Errorf("%s: unexpected JSON value %T", col.Name, v)
	return ""
}

// The API's rows are the CSV's rows for the same query, field by field, for every dataset, by
// week and by day, with a service (or two) and a team, read whole and in pages of two.
func TestAPIRowsEqualCSV(t *testing.T) {
	f := apiFixture(t)
	queries := []string{
		"",
		"period=custom&from=2026-03-01&to=2026-03-25",
		"period=custom&from=2026-03-01&to=2026-03-25&by=day",
		"period=custom&from=2026-03-01&to=2026-03-25&service=acme/api",
		"period=4w&service=acme/api&service=acme/web&by=day",
		"period=custom&from=2026-03-01&to=2026-03-25&team=api-team",
		"period=custom&from=2026-03-01&to=2026-03-25&team=alice-team&by=day",
		"period=custom&from=2025-01-01&to=2025-01-31", // nothing
	}
	seen := map[string]int{}
	for _, ds := range metrics.Datasets {
		cols := columnDefs(ds)
		for _, q := range queries {
			rec := apiGet(f, "/export/"+ds+".csv?"+q)
			if rec.Code != http.StatusOK {
				t.Fatalf("CSV %s?%s: %d", ds, q, rec.Code)
			}
			recs, err := csv.NewReader(rec.Body).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			header, want := recs[0], recs[1:]
			for i, c := range cols {
				if header[i] != c.Name {
					t.Fatalf("%s: CSV column %d is %s, the API's %s", ds, i, header[i], c.Name)
				}
			}
			for _, limit := range []string{"2", "5000"} {
				got, pages := apiRows(t, f, ds, q+"&limit="+limit)
				if len(got) != len(want) {
					t.Errorf("%s?%s limit %s: %d API rows in %d pages, %d CSV rows", ds, q, limit, len(got), pages, len(want))
					continue
				}
				if limit == "2" && len(want) > 2 && pages != (len(want)+1)/2 {
					t.Errorf("%s?%s: %d pages of 2 for %d rows", ds, q, pages, len(want))
				}
				for i, row := range got {
					if len(row) != len(cols) {
						t.Errorf("%s row %d has %d fields, want %d", ds, i, len(row), len(cols))
					}
					for j, c := range cols {
						if g := asCSV(t, c, row[c.Name]); g != want[i][j] {
							t.Errorf("%s?%s row %d %s: API %q (%v), CSV %q", ds, q, i, c.Name, g, row[c.Name], want[i][j])
						}
					}
				}
				seen[ds] += len(got)
			}
		}
	}
	for _, ds := range metrics.Datasets {
		if seen[ds] == 0 {
			t.Errorf("%s: no rows compared", ds)
		}
	}
	// The formula-like title is kept as it is in JSON; the CSV made it inert.
	rows, _ := apiRows(t, f, "merge-requests", "period=custom&from=2026-03-01&to=2026-03-25&service=acme/api")
	found := false
	for _, r := range rows {
		if r["title"] == "=1+1" {
			found = true
			if l, _ := r["labels"].([]any); len(l) != 3 || l[0] != "-x" || r["first_review_at"] != nil || r["deployed_at"] != nil {
				t.Errorf("MR =1+1: labels %v, first_review_at %v, deployed_at %v", r["labels"], r["first_review_at"], r["deployed_at"])
			}
		}
	}
	if !found {
		t.Error("the API lacks the MR titled =1+1")
	}
}

// loadOpenAPI reads the server's OpenAPI document and checks that it is valid OpenAPI 3.
func loadOpenAPI(t *testing.T, f *fixture) *openapi3.T {
	t.Helper()
	rec := apiGet(f, "/api/v1/openapi.json")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	return doc
}

// checkAgainstOpenAPI validates a request and its response against the document.
func checkAgainstOpenAPI(t *testing.T, doc *openapi3.T, target string, header []string, rec *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	item := doc.Paths.Find(req.URL.Path)
	if item == nil || item.Get == nil {
		t.Fatalf("%s is not in the OpenAPI document", req.URL.Path)
	}
	route := &routers.Route{Spec: doc, Path: req.URL.Path, PathItem: item, Method: http.MethodGet, Operation: item.Get}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: opts}
	if rec.Code == http.StatusOK {
		// A query the API takes is one the document allows.
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("GET %s: the request does not fit the document: %v", target, err)
		}
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: opts,
	})
	if err != nil {
		t.Errorf("GET %s (%d): the response does not fit the document: %v\n%s", target, rec.Code, err, truncate(rec.Body.String(), 400))
	}
}

// Every endpoint's real answers (full pages, the last page, empty results, bad parameters, a
// refused token) validate against /api/v1/openapi.json.
func TestAPIResponsesValidateAgainstOpenAPI(t *testing.T) {
	f := apiFixture(t)
	doc := loadOpenAPI(t, f)
	a := auth.New(auth.Options{Store: f.st, Config: f.cfg})
	token, err := a.CreateToken(context.Background(), "api-test", []string{"acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bearer := []string{"Authorization", "Bearer " + token}
	queries := []struct {
		q    string
		want int
	}{
		{"", 200},
		{"period=custom&from=2026-03-01&to=2026-03-25", 200},
		{"period=custom&from=2026-03-01&to=2026-03-25&by=day&limit=3", 200},
		{"period=4w&service=acme/api&team=api-team", 200},
		{"period=custom&from=2025-01-01&to=2025-01-31", 200}, // empty
		{"from=2026-03-20&to=2026-03-01", 400},
		{"from=yesterday", 400},
		{"by=year", 400},
		{"limit=0", 400},
		{"limit=5001", 400},
		{"cursor=not-a-cursor", 400},
		{"service=acme/nowhere", 400},
		{"team=nobody", 400},
	}
	checked := 0
	for _, ds := range metrics.Datasets {
		if doc.Paths.Find("/api/v1/"+ds) == nil {
			t.Errorf("the document lacks /api/v1/%s", ds)
		}
		for _, c := range queries {
			for _, h := range [][]string{nil, bearer} {
				target := "/api/v1/" + ds + "?" + c.q
				rec := apiGet(f, target, h...)
				if rec.Code != c.want {
					t.Errorf("GET %s: %d, want %d: %s", target, rec.Code, c.want, rec.Body)
				}
				checkAgainstOpenAPI(t, doc, target, h, rec)
				checked++
			}
		}
		// Every page down to the last.
		target := "/api/v1/" + ds + "?period=custom&from=2026-03-01&to=2026-03-25&limit=1"
		for pages := 0; ; pages++ {
			rec := apiGet(f, target)
			checkAgainstOpenAPI(t, doc, target, nil, rec)
			checked++
			p := decodePage(t, target, rec)
			if p.Next == nil {
				if len(p.Data) != 1 || pages == 0 {
					t.Errorf("%s: the last page (after %d) has %d rows", ds, pages, len(p.Data))
				}
				break
			}
			target = "/api/v1/" + ds + "?period=custom&from=2026-03-01&to=2026-03-25&limit=1&cursor=" + url.QueryEscape(*p.Next)
		}
		// A bad token.
		target = "/api/v1/" + ds
		h := []string{"Authorization", "Bearer pacer_nonsense"}
		rec := apiGet(f, target, h...)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("a bad token: %d", rec.Code)
		}
		checkAgainstOpenAPI(t, doc, target, h, rec)
	}
	t.Logf("%d responses validated", checked)
}

// Errors are JSON that names the parameter at fault.
func TestAPIErrorsNameTheParameter(t *testing.T) {
	f := apiFixture(t)
	first := decodePage(t, "first", apiGet(f, "/api/v1/merge-requests?period=12w&limit=1"))
	if first.Next == nil {
		t.Fatal("no next page")
	}
	next := url.QueryEscape(*first.Next)
	for target, field := range map[string]string{
		"/api/v1/deployments?from=2026-13-01":                                "from",
		"/api/v1/deployments?to=x":                                           "to",
		"/api/v1/metrics?by=year":                                            "by",
		"/api/v1/metrics?period=3w":                                          "period",
		"/api/v1/coverage?limit=lots":                                        "limit",
		"/api/v1/coverage?service=acme/nowhere":                              "service",
		"/api/v1/coverage?team=nobody":                                       "team",
		"/api/v1/merge-requests?period=12w&limit=1&cursor=" + next + "x":     "cursor",
		"/api/v1/merge-requests?period=4w&limit=1&cursor=" + next:            "cursor", // another query
		"/api/v1/deployments?period=12w&limit=1&cursor=" + next:              "cursor", // another dataset
		"/api/v1/merge-requests?period=12w&limit=1&cursor=" + next[:10]:      "cursor",
		"/api/v1/merge-requests?period=12w&limit=1&cursor=%00%ff":            "cursor",
		"/api/v1/merge-requests?period=12w&limit=1&cursor=e30":               "cursor", // {}
		"/api/v1/merge-requests?period=12w&limit=1&service=a&cursor=" + next: "cursor",
	} {
		rec := apiGet(f, target)
		var body struct {
			Error struct {
				Field   *string `json:"field"`
				Message string  `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d %v %s", target, rec.Code, err, rec.Body)
			continue
		}
		if body.Error.Field == nil || *body.Error.Field != field || body.Error.Message == "" {
			t.Errorf("GET %s: error %+v, want field %s", target, body.Error, field)
		}
	}
	// A cursor made up to ask for more than a query may.
	forged := encodeCursor(apiCursor{Dataset: "metrics", Query: queryDigest(url.Values{"by": {"day"}}), From: "2020-01-01", To: "2026-03-25"})
	if rec := apiGet(f, "/api/v1/metrics?by=day&cursor="+forged); rec.Code != http.StatusBadRequest {
		t.Errorf("a cursor for six years by day: %d", rec.Code)
	}
	// The next page with a different page size continues the same query.
	if p := decodePage(t, "second", apiGet(f, "/api/v1/merge-requests?period=12w&limit=3&cursor="+next)); len(p.Data) != 3 {
		t.Errorf("second page with limit 3: %d rows", len(p.Data))
	}
}

// The API sees what the request may see: a person's session, a token's grant; without either
// it is a JSON 401 (a browser is sent to sign in, as for a CSV).
func TestAPIVisibility(t *testing.T) {
	f, cookie := signedInFixture(t)
	a := auth.New(auth.Options{Store: f.st, Config: f.cfg})
	token, err := a.CreateToken(context.Background(), "api-only", []string{"acme/api"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := "?period=custom&from=2026-03-01&to=2026-03-25"
	for _, ds := range metrics.Datasets {
		for name, h := range map[string][]string{
			"session": {"Cookie", cookie.Name + "=" + cookie.Value},
			"token":   {"Authorization", "Bearer " + token},
		} {
			rows, _ := apiRows(t, f, ds, q[1:]+"&limit=1", h...)
			if len(rows) == 0 {
				t.Errorf("%s with a %s: no rows", ds, name)
			}
			for _, r := range rows {
				if s := r["service"]; s != "acme/api" && s != "all" {
					t.Errorf("%s with a %s: a row of %v", ds, name, s)
				}
			}
		}
		for _, c := range []struct {
			header []string
			want   int
		}{
			{nil, http.StatusUnauthorized},
			{[]string{"Authorization", "Bearer pacer_nonsense"}, http.StatusUnauthorized},
			{[]string{"Authorization", "Basic dXNlcjpwYXNz"}, http.StatusUnauthorized},
			{[]string{"Accept", "text/html"}, http.StatusSeeOther},
		} {
			rec := apiGet(f, "/api/v1/"+ds+q, c.header...)
			if rec.Code != c.want {
				t.Errorf("%s %v: %d, want %d", ds, c.header, rec.Code, c.want)
				continue
			}
			if c.want != http.StatusUnauthorized {
				continue
			}
			var body apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Message == "" || body.Error.Field != nil {
				t.Errorf("%s %v: not a JSON error: %v %s", ds, c.header, err, rec.Body)
			}
			if rec.Header().Get("WWW-Authenticate") == "" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				t.Errorf("%s %v: headers %v", ds, c.header, rec.Header())
			}
			for _, w := range invisible {
				if strings.Contains(rec.Body.String(), w) {
					t.Errorf("%s refused mentions %q", ds, w)
				}
			}
		}
	}
	// A service the person cannot see is as unknown as one that does not exist.
	rec := apiGet(f, "/api/v1/merge-requests?service=acme/secret", "Authorization", "Bearer "+token)
	if rec.Code != http.StatusBadRequest || strings.Contains(rec.Body.String(), "acme/web") {
		t.Errorf("a hidden service: %d %s", rec.Code, rec.Body)
	}
	// The document itself holds no data and needs no credential.
	if rec := apiGet(f, "/api/v1/openapi.json"); rec.Code != http.StatusOK {
		t.Errorf("openapi.json with sign-in on, no session: %d", rec.Code)
	}
}
