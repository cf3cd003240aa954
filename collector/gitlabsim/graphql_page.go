package gitlabsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// Connections: keyset paging of a sorted list by GitLab's first/after/last/before arguments.

// connection is a page of a connection: its nodes with their cursors, and the total count.
type connection struct {
	items   []any
	cursors []string
	count   int
	hasNext bool
	hasPrev bool
}

type edge struct {
	cursor string
	node   any
}

type pageInfo struct {
	hasNext, hasPrev     bool
	startCursor, endCurs string
}

// keyed is a list item with its keyset position: (t, id), compared in the list's order.
type keyed struct {
	item any
	t    int64
	id   int64
}

type cursorJSON struct {
	T  int64  `json:"t,omitempty"`
	ID string `json:"id"`
}

func encodeCursor(k keyed) string {
	b, _ := json.Marshal(cursorJSON{T: k.t, ID: strconv.FormatInt(k.id, 10)})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (keyed, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return keyed{}, false
	}
	var c cursorJSON
	if json.Unmarshal(b, &c) != nil {
		return keyed{}, false
	}
	id, err := strconv.ParseInt(c.ID, 10, 64)
	if err != nil {
		return keyed{}, false
	}
	return keyed{t: c.T, id: id}, true
}

// paginate pages list (sorted by (t, id), descending when desc) by GitLab's connection
// arguments: first/after forwards, last/before backwards, at most 100 nodes.
func paginateConnection(f *ast.Field, args map[string]any, list []keyed, desc bool) (*connection, error) {
	cmp := func(a, b keyed) int {
		c := 0
		switch {
		case a.t < b.t:
			c = -1
		case a.t > b.t:
			c = 1
		case a.id < b.id:
			c = -1
		case a.id > b.id:
			c = 1
		}
		if desc {
			c = -c
		}
		return c
	}
	first, hasFirst := intArg(args, "first")
	last, hasLast := intArg(args, "last")
	for _, x := range []struct {
		name string
		n    int
		set  bool
	}{{"first", first, hasFirst}, {"last", last, hasLast}} {
		if !x.set {
			continue
		}
		if x.n < 0 {
			return nil, fmt.Errorf("Argument '%s' on Field '%s' cannot be negative", x.name, f.Name)
		}
		if x.n > graphqlMaxPageSize {
			return nil, fmt.Errorf("Argument '%s' on Field '%s' must be at most %d (the maximum page size), got %d", x.name, f.Name, graphqlMaxPageSize, x.n)
		}
	}
	start, end := 0, len(list)
	if s, ok := stringArg(args, "after"); ok {
		c, ok := decodeCursor(s)
		if !ok {
			return nil, fmt.Errorf("Please provide a valid cursor")
		}
		start = sort.Search(len(list), func(i int) bool { return cmp(list[i], c) > 0 })
	}
	if s, ok := stringArg(args, "before"); ok {
		c, ok := decodeCursor(s)
		if !ok {
			return nil, fmt.Errorf("Please provide a valid cursor")
		}
		end = sort.Search(len(list), func(i int) bool { return cmp(list[i], c) >= 0 })
	}
	end = max(end, start)
	win := list[start:end]
	conn := &connection{count: len(list)}
	switch {
	case hasFirst:
		if len(win) > first {
			win, conn.hasNext = win[:first], true
		}
		conn.hasPrev = start > 0
		if hasLast && len(win) > last {
			win = win[len(win)-last:]
		}
	case hasLast:
		if len(win) > last {
			win, conn.hasPrev = win[len(win)-last:], true
		}
		conn.hasNext = end < len(list)
	default: // GitLab's default_max_page_size
		if len(win) > graphqlMaxPageSize {
			win, conn.hasNext = win[:graphqlMaxPageSize], true
		}
		conn.hasPrev = start > 0
	}
	for _, k := range win {
		conn.items = append(conn.items, k.item)
		conn.cursors = append(conn.cursors, encodeCursor(k))
	}
	return conn, nil
}
