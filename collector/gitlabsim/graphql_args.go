package gitlabsim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Argument helpers: variables arrive as JSON numbers or Go ints, lists as []any or a single value.

func intArg(args map[string]any, name string) (int, bool) {
	switch v := args[name].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case int32:
		return int(v), true
	case float64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			f, _ := v.Float64()
			n = int64(f)
		}
		return int(n), true
	}
	return 0, false
}

func stringArg(args map[string]any, name string) (string, bool) {
	s, ok := args[name].(string)
	return s, ok
}

func boolArg(args map[string]any, name string) (val, set bool) {
	b, ok := args[name].(bool)
	return b, ok
}

func stringsArg(args map[string]any, name string) ([]string, bool) {
	switch v := args[name].(type) {
	case nil:
		return nil, false
	case string:
		return []string{v}, true
	case []string:
		return v, true
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			switch x := x.(type) {
			case string:
				out = append(out, x)
			case json.Number:
				out = append(out, x.String())
			default:
				out = append(out, fmt.Sprint(x))
			}
		}
		return out, true
	}
	return nil, false
}

// timeArg parses a Time argument as GitLab's Time scalar does (Ruby's Time.parse: ISO 8601 with
// or without a zone, fractions or a time).
func timeArg(args map[string]any, name string) (time.Time, bool, error) {
	s, ok := stringArg(args, name)
	if !ok {
		return time.Time{}, false, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05 Z0700",
		"2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("Argument '%s' on Field has an invalid value (%q). Expected type 'Time'.", name, s)
}

// gqlTime renders a time as GitLab's Time scalar: ISO 8601 to the second, "Z" for UTC.
func gqlTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z07:00")
}

// gqlTimeIn renders a time in a fixed UTC offset (commit dates keep the author's).
func gqlTimeIn(t time.Time, offset int) any {
	if offset == 0 {
		return gqlTime(t)
	}
	return t.Truncate(time.Second).In(time.FixedZone("", offset)).Format("2006-01-02T15:04:05Z07:00")
}

func gid(model string, id int64) string {
	return "gid://gitlab/" + model + "/" + strconv.FormatInt(id, 10)
}

// gidID parses gid://gitlab/Model/123 (or a bare number).
func gidID(s, model string) (int64, bool) {
	s = strings.TrimPrefix(s, "gid://gitlab/"+model+"/")
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}
