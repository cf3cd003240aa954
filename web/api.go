package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v5"

	"github.com/pacer-dev/pacer/metrics"
)

// The API's page sizes.
const (
	apiDefaultLimit = 500
	apiMaxLimit     = 5000
)

// jsonAPI is the JSON API: /api/v1/<dataset> answers the CSV export's rows for the same
// filters, as typed JSON fields, a page at a time. Errors are JSON too.
type jsonAPI struct {
	log     *slog.Logger
	openAPI []byte // the OpenAPI document, made once from the column definitions
}

// list answers one dataset's page.
func (h *jsonAPI) list(dataset string) echo.HandlerFunc {
	var cols []metrics.Column
	for _, d := range metrics.DatasetDefs {
		if d.Name == dataset {
			cols = d.Columns
		}
	}
	keys := make([][]byte, len(cols))
	for i, col := range cols {
		k, _ := json.Marshal(col.Name)
		keys[i] = append(k, ':')
	}
	return h.answer(func(c *echo.Context) error {
		req := c.Request()
		e := engineOf(c)
		params := req.URL.Query()
		q, err := parseQuery(params, e.Now())
		if err != nil {
			return err
		}
		limit, err := apiLimit(params)
		if err != nil {
			return err
		}
		f := q.Filter()
		if raw := params.Get("cursor"); raw != "" {
			cur, err := decodeCursor(raw, dataset, params)
			if err != nil {
				return err
			}
			if f.By == metrics.Day && int(cur.to.Sub(cur.from).Hours()/24)+1 > maxDayRangeDays {
				return errBadCursor
			}
			f.From, f.To, f.After = cur.from, cur.to, &cur.After
		}
		ctx := req.Context()
		// Check before the status goes out, so that a bad filter is a 400, not a cut page.
		if err := e.Validate(ctx, f); err != nil {
			return err
		}
		hd := c.Response().Header()
		hd.Set("Content-Type", "application/json; charset=utf-8")
		hd.Set("Cache-Control", "no-store")
		// The body is {"data": [rows], "next": cursor or null}. The status goes out with the
		// first 32 KiB, so a failure before then is still answered as an error.
		w := bufio.NewWriterSize(c.Response(), 32<<10)
		w.WriteString(`{"data":[`)
		var (
			n    int
			last metrics.Position
			more bool
			buf  []byte
		)
		err = e.Rows(ctx, dataset, f, func(p metrics.Position, vals []metrics.Value) error {
			if n == limit {
				more = true
				return errPageFull
			}
			buf = buf[:0]
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = appendRow(buf, keys, cols, vals)
			n++
			last = p
			_, err := w.Write(buf)
			return err
		})
		if err != nil && !errors.Is(err, errPageFull) {
			return err
		}
		w.WriteString(`],"next":`)
		if more {
			next := encodeCursor(apiCursor{Dataset: dataset, Query: queryDigest(params), From: f.From.Format(time.DateOnly),
				To: f.To.Format(time.DateOnly), After: last})
			b, _ := json.Marshal(next)
			w.Write(b)
		} else {
			w.WriteString("null")
		}
		w.WriteString("}\n")
		return w.Flush()
	})
}

// errPageFull stops a dataset's rows once a page has one more than it shows.
var errPageFull = errors.New("web: page full")

func apiLimit(params url.Values) (int, error) {
	s := strings.TrimSpace(params.Get("limit"))
	if s == "" {
		return apiDefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > apiMaxLimit {
		return 0, badRequestf("limit", "limit=%q is not a page size: use a whole number from 1 to %d (default %d).", truncate(s, 40), apiMaxLimit, apiDefaultLimit)
	}
	return n, nil
}

// appendRow appends one row as a JSON object: each column's value typed by its kind.
func appendRow(b []byte, keys [][]byte, cols []metrics.Column, vals []metrics.Value) []byte {
	b = append(b, '{')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, keys[i]...)
		b = appendValue(b, cols[i].Kind, v)
	}
	return append(b, '}')
}

// appendValue writes a value as JSON: null for unknown, numbers for integers and decimals (a
// decimal as the CSV rounds it), RFC 3339 UTC strings for instants, arrays for labels.
func appendValue(b []byte, k metrics.Kind, v metrics.Value) []byte {
	if v.Null {
		return append(b, "null"...)
	}
	switch k {
	case metrics.KindInteger:
		return strconv.AppendInt(b, v.Int, 10)
	case metrics.KindDecimal:
		return append(b, v.Text...)
	case metrics.KindBoolean:
		return strconv.AppendBool(b, v.Bool)
	case metrics.KindTimestamp:
		b = append(b, '"')
		b = v.Time.UTC().AppendFormat(b, time.RFC3339)
		return append(b, '"')
	case metrics.KindDate:
		b = append(b, '"')
		b = v.Time.UTC().AppendFormat(b, time.DateOnly)
		return append(b, '"')
	case metrics.KindLabels:
		b = append(b, '[')
		for i, l := range v.Labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, l)
		}
		return append(b, ']')
	default:
		return appendJSONString(b, v.Text)
	}
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// apiCursor is where the next page starts. It is opaque to clients: base64url of this JSON.
// It keeps the range the first page resolved (so that a preset such as the last 12 weeks does
// not move under a client paging across midnight) and a digest of the other parameters (so
// that a cursor only continues its own query).
type apiCursor struct {
	Dataset string           `json:"d"`
	Query   string           `json:"q"`
	From    string           `json:"f"`
	To      string           `json:"t"`
	After   metrics.Position `json:"p"`

	from, to time.Time
}

func encodeCursor(c apiCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadCursor = badRequestf("cursor", "This cursor is not one Pacer gave: pass the next value of the previous page as it is, or leave cursor out to start again.")

func decodeCursor(raw, dataset string, params url.Values) (*apiCursor, error) {
	if len(raw) > 2048 {
		return nil, errBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, errBadCursor
	}
	var c apiCursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.Dataset != dataset {
		return nil, errBadCursor
	}
	if c.Query != queryDigest(params) {
		return nil, badRequestf("cursor", "This cursor belongs to another query: keep the filters (from, to, period, service, team, by) of the first page, or leave cursor out to start again.")
	}
	c.from, err = time.Parse(time.DateOnly, c.From)
	if err != nil {
		return nil, errBadCursor
	}
	c.to, err = time.Parse(time.DateOnly, c.To)
	if err != nil || c.from.After(c.to) || int(c.to.Sub(c.from).Hours()/24)+1 > maxRangeDays {
		return nil, errBadCursor
	}
	return &c, nil
}

// queryDigest names a query by its parameters other than the page's own (cursor, limit).
func queryDigest(params url.Values) string {
	v := url.Values{}
	for k, vs := range params {
		if k != "cursor" && k != "limit" {
			v[k] = vs
		}
	}
	sum := sha256.Sum256([]byte(v.Encode()))
	return hex.EncodeToString(sum[:8])
}

// apiError is the JSON error body: {"error": {"field": ..., "message": ...}}.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Field   *string `json:"field"` // the query parameter at fault; null when it is not one
	Message string  `json:"message"`
}

func writeAPIError(c *echo.Context, status int, field, message string) error {
	d := apiErrorDetail{Message: message}
	if field != "" {
		d.Field = &field
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, apiError{Error: d})
}

// answer runs an API handler and answers its errors in JSON: a parameter the client can fix
// is a 400 naming it (an unknown service or team too: to a script, it is a bad parameter);
// anything else is logged and a 500.
func (h *jsonAPI) answer(fn echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		err := fn(c)
		if err == nil {
			return nil
		}
		if r, _ := echo.UnwrapResponse(c.Response()); r != nil && r.Committed {
			return err // the page is cut short; the error handler logs it
		}
		if ue := userError(err); ue != nil && ue.Status < 500 {
			status := ue.Status
			if status == http.StatusNotFound {
				status = http.StatusBadRequest
			}
			return writeAPIError(c, status, ue.Field, ue.Message)
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		h.log.Error("web: api request failed", "method", c.Request().Method, "uri", c.Request().RequestURI, "error", err)
		return writeAPIError(c, http.StatusInternalServerError, "", "Something went wrong on our side while reading these rows. It has been logged; try again, and if it keeps happening, check the server log.")
	}
}

// openAPIDocument serves the OpenAPI document. It describes the API and holds no data, so it
// is open to anyone who reaches the dashboard.
func (h *jsonAPI) openAPIDocument(c *echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "application/json", h.openAPI)
}

// heldAnswer keeps what the visibility middleware answered to a request it refused, so that
// the API can answer the same refusal in JSON.
type heldAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *heldAnswer) Header() http.Header { return a.header }

func (a *heldAnswer) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
}

func (a *heldAnswer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}

// apiVisible is the visibility middleware of the API: the very decision of the CSV export's
// (the session, or a machine token in Authorization: Bearer), with a refusal answered as a JSON
// 401 instead of text. A browser without a session is still sent to sign in.
func (s *Server) apiVisible(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c *echo.Context) error {
		w := c.Response()
		held := &heldAnswer{header: http.Header{}}
		c.SetResponse(held)
		v, err := s.viewFor(c, sessionOrToken)
		c.SetResponse(w)
		if err != nil {
			return err
		}
		if v != nil {
			c.Set(viewKey, v)
			return next(c)
		}
		for k, vs := range held.header {
			if k == "Content-Type" || k == "Content-Length" {
				continue
			}
			w.Header()[k] = vs
		}
		if held.status == http.StatusUnauthorized {
			return writeAPIError(c, http.StatusUnauthorized, "", strings.TrimSpace(held.body.String()))
		}
		if ct := held.header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(held.status)
		_, err = w.Write(held.body.Bytes())
		return err
	}
}
