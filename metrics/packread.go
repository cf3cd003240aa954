package metrics

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Reading the packed records of pack.go.

func decodeCoverage(data []byte, fn func(project int64, v float64)) error {
	for len(data) > 0 {
		p, n := binary.Uvarint(data)
		if n <= 0 || len(data) < n+8 {
			return errPacked
		}
		fn(int64(p), math.Float64frombits(binary.LittleEndian.Uint64(data[n:])))
		data = data[n+8:]
	}
	return nil
}

// packedMR and packedDeployment are decoded records.
type packedMR struct {
	project                       uint64
	raw                           []byte // the encoded record, valid while its blob is
	service, author               uint64
	cycle, coding, pickup, review int64
	deploy                        int64 // -1: not deployed
	flags                         uint64
	category                      uint64
}

type packedDeployment struct {
	project  uint64
	raw      []byte // the encoded record, valid while its blob is
	service  uint64
	flags    uint64
	recovery int64
	second   int64    // of the UTC day it finished
	authors  []uint64 // valid until the next record
}

// errPacked reports a damaged blob; Refresh rewrites them all.
var errPacked = fmt.Errorf("metrics: packed facts are damaged (run pacer sync, or delete fact_days to rebuild)")

func decodeMRs(data []byte, fn func(*packedMR)) error {
	var r packedMR
	for len(data) > 0 {
		rec := data
		var vals [10]uint64
		for i := range vals {
			var v uint64
			var n int
			if i >= 3 && i <= 6 {
				var s int64
				s, n = binary.Varint(data)
				v = uint64(s)
			} else {
				v, n = binary.Uvarint(data)
			}
			if n <= 0 {
				return errPacked
			}
			vals[i] = v
			data = data[n:]
		}
		r = packedMR{project: vals[0], service: vals[1], author: vals[2], cycle: int64(vals[3]), coding: int64(vals[4]),
			pickup: int64(vals[5]), review: int64(vals[6]), deploy: int64(vals[7]) - 1, flags: vals[8],
			category: vals[9], raw: rec[:len(rec)-len(data)]}
		fn(&r)
	}
	return nil
}

func decodeDeployments(data []byte, fn func(*packedDeployment)) error {
	var r packedDeployment
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, false
		}
		data = data[n:]
		return v, true
	}
	for len(data) > 0 {
		rec := data
		var ok bool
		if r.project, ok = next(); !ok {
			return errPacked
		}
		if r.service, ok = next(); !ok {
			return errPacked
		}
		if r.flags, ok = next(); !ok {
			return errPacked
		}
		r.recovery = 0
		if r.flags&depCF != 0 {
			v, n := binary.Varint(data)
			if n <= 0 {
				return errPacked
			}
			data = data[n:]
			r.recovery = v
		}
		sec, ok := next()
		if !ok || sec >= 86400 {
			return errPacked
		}
		r.second = int64(sec)
		na, ok := next()
		if !ok || na > uint64(len(data)) {
			return errPacked
		}
		r.authors = r.authors[:0]
		for i := uint64(0); i < na; i++ {
			a, ok := next()
			if !ok {
				return errPacked
			}
			r.authors = append(r.authors, a)
		}
		r.raw = rec[:len(rec)-len(data)]
		fn(&r)
	}
	return nil
}

// loadNames reads the names packed records refer to, by kind.
func loadNames(ctx context.Context, db *sql.DB) (services, authors []string, err error) {
	rows, err := db.QueryContext(ctx, `SELECT kind, id, name FROM fact_names WHERE kind IN (1, 2)`)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: read fact names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var id int
		var name string
		if err := rows.Scan(&kind, &id, &name); err != nil {
			return nil, nil, fmt.Errorf("metrics: read fact names: %w", err)
		}
		if kind != nameService && kind != nameAuthor {
			continue // commit authors: records group by their number, no name needed
		}
		list := &services
		if kind == nameAuthor {
			list = &authors
			name = strings.ToLower(name)
		}
		for len(*list) <= id {
			*list = append(*list, "")
		}
		(*list)[id] = name
	}
	return services, authors, rows.Err()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// packedAuthorDayMR is one decoded kind-4 record.
type packedAuthorDayMR struct {
	commitAuthor, project, service, author, category uint64
	raw                                              []byte // the encoded record, valid while its blob is
}

// decodeAuthorDayRecords calls fn for each record of a kind-4 blob.
func decodeAuthorDayRecords(data []byte, fn func(*packedAuthorDayMR)) error {
	var r packedAuthorDayMR
	for len(data) > 0 {
		rec := data
		var vals [5]uint64
		for i := range vals {
			v, n := binary.Uvarint(data)
			if n <= 0 {
				return errPacked
			}
			vals[i] = v
			data = data[n:]
		}
		r = packedAuthorDayMR{commitAuthor: vals[0], project: vals[1], service: vals[2], author: vals[3], category: vals[4],
			raw: rec[:len(rec)-len(data)]}
		fn(&r)
	}
	return nil
}

// mergeAuthorDays calls fn with each record of one day's kind-4 parts (each sorted by commit
// author) in commit-author order, so that an author-day is one run of records whichever parts
// its MRs are kept in. Records of one commit author keep the order of the parts given, then
// their order within a part. vals is valid until fn returns.
func mergeAuthorDays(parts [][]byte, fn func(vals *[5]uint64)) error {
	type cursor struct {
		rest []byte
		vals [5]uint64
		ok   bool
	}
	next := func(c *cursor) error {
		if len(c.rest) == 0 {
			c.ok = false
			return nil
		}
		for i := range c.vals {
			v, k := binary.Uvarint(c.rest)
			if k <= 0 {
				return errPacked
			}
			c.vals[i] = v
			c.rest = c.rest[k:]
		}
		c.ok = true
		return nil
	}
	if len(parts) == 1 { // no merge: decoded in place
		c := cursor{rest: parts[0]}
		for {
			if err := next(&c); err != nil {
				return err
			}
			if !c.ok {
				return nil
			}
			fn(&c.vals)
		}
	}
	cs := make([]cursor, len(parts))
	for i := range cs {
		cs[i].rest = parts[i]
		if err := next(&cs[i]); err != nil {
			return err
		}
	}
	for {
		best := -1
		for i := range cs {
			if cs[i].ok && (best < 0 || cs[i].vals[0] < cs[best].vals[0]) {
				best = i
			}
		}
		if best < 0 {
			return nil
		}
		fn(&cs[best].vals)
		if err := next(&cs[best]); err != nil {
			return err
		}
	}
}
