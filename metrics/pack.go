package metrics

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Figures read the packed per-day records of fact_days rather than a million rows: SQLite
// hands back a few thousand blobs quickly, and Go decodes them in milliseconds. Each day's
// records are split into packParts parts by project (project id modulo packParts), so that a
// refresh that derives one project again rewrites one part of each day, not the whole
// organisation's records.
//
// Kind 1 (merge requests, by delivered day), one record per MR, all varints:
//
//	project, service, author, cycle, coding, pickup, review, deploy+1 (0: not deployed), flags
//	(1 rework, 2 unapproved, 4 deployed before merge, 8 fewer approvals than agreed), category
//	(its index in the configuration's investment categories).
//
// Kind 2 (deployments, by finished day):
//
//	project, service, flags (1 rework, 2 rollback, 4 change failure, 8 out of window),
//	[recovery when a change failure], the second of the UTC day it finished at, number of
//	authors, authors (of its counted MRs).
//
// Kind 3 (coverage, by day, all in part 0): per project with a value that day, project id
//
//	(uvarint) and the coverage (8 bytes, IEEE 754 bits, little-endian).
//
// Kind 4 (author-days, by the day of the commits): one record per commit author and delivered
//
//	MR with a commit of that author that day: commit author, project, service, author (of the
//	MR), category (its index). Each part's records are sorted by commit author, and a reader
//	merges a day's parts (mergeAuthorDays), so that an author-day is a run of records and its
//	k MRs are the run's length: a day shared by MRs of several projects is split at read time,
//	and a refresh of one project replaces only that project's records.
//
// Services and authors are numbers into fact_names (kind 1 services, kind 2 authors).
const (
	// packParts is how many parts a day's records are split into, by project.
	packParts = 8

	packMRs         = 1
	packDeployments = 2
	packCoverage    = 3
	packAuthorDays  = 4

	nameService      = 1
	nameAuthor       = 2
	nameCommitAuthor = 3

	mrRework       = 1
	mrUnapproved   = 2
	mrBeforeMerge  = 4
	mrFewApprovals = 8
	adTechDebt     = 1

	depRework      = 1
	depRollback    = 2
	depCF          = 4
	depOutOfWindow = 8
)

// sortKey is the key text sorts by: lower-cased as Go does it, compared byte by byte.
func sortKey(s string) string { return strings.ToLower(s) }

// nullKey is the key of a duration that may be unknown: -1 when it is, so that a longest-first
// order puts the unknown last (durations are never negative).
func nullKey(v sql.NullInt64) int64 {
	if !v.Valid {
		return -1
	}
	return v.Int64
}

// dayPart names one row of fact_days of a kind: a day and a part of it.
type dayPart struct{ day, part int64 }

// partOf is the part of a day a project's records are kept in.
func partOf(project int64) int64 { return ((project % packParts) + packParts) % packParts }

// packer gathers the packed per-day records and the names they refer to.
type packer struct {
	days    [5]map[dayPart][]byte // by kind (1, 2, 4; coverage is packed apart)
	counts  [5]map[dayPart]int    // records in each of days
	names   [4]map[string]uint64
	dirty   map[dayPart]bool // kind-4 rows that got new records: sorted again before writing
	scratch []byte
	seen    map[string]bool
}

// packedKinds are the kinds a packer holds and rewrites.
var packedKinds = []int{packMRs, packDeployments, packAuthorDays}

func newPacker() *packer {
	p := &packer{seen: map[string]bool{}, dirty: map[dayPart]bool{}}
	for _, k := range packedKinds {
		p.days[k] = map[dayPart][]byte{}
		p.counts[k] = map[dayPart]int{}
	}
	for k := nameService; k <= nameCommitAuthor; k++ {
		p.names[k] = map[string]uint64{}
	}
	return p
}

// authorDay packs one MR's part of an author-day (kind 4).
func (p *packer) authorDay(project, day int64, commitAuthor, service, author string, category int) {
	b := p.scratch[:0]
	b = binary.AppendUvarint(b, p.name(nameCommitAuthor, commitAuthor))
	b = binary.AppendUvarint(b, uint64(project))
	b = binary.AppendUvarint(b, p.name(nameService, service))
	b = binary.AppendUvarint(b, p.name(nameAuthor, author))
	b = binary.AppendUvarint(b, uint64(category))
	k := dayPart{day, partOf(project)}
	p.days[packAuthorDays][k] = append(p.days[packAuthorDays][k], b...)
	p.counts[packAuthorDays][k]++
	p.dirty[k] = true
	p.scratch = b
}

// sortAuthorDays orders a kind-4 blob's records by commit author (stable).
func sortAuthorDays(data []byte) ([]byte, error) {
	var recs [][]byte
	if err := decodeAuthorDayRecords(data, func(r *packedAuthorDayMR) { recs = append(recs, r.raw) }); err != nil {
		return nil, err
	}
	keys := make([]uint64, len(recs))
	for i, r := range recs {
		keys[i], _ = binary.Uvarint(r)
	}
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	out := make([]byte, 0, len(data))
	for _, i := range idx {
		out = append(out, recs[i]...)
	}
	return out, nil
}

func (p *packer) name(kind int, s string) uint64 {
	id, ok := p.names[kind][s]
	if !ok {
		id = uint64(len(p.names[kind]))
		p.names[kind][s] = id
	}
	return id
}

func (p *packer) mergeRequest(project int64, service, author string, delivered, cycle, coding, pickup, review int64, deploy sql.NullInt64, flags uint64, category int) {
	b := p.scratch[:0]
	b = binary.AppendUvarint(b, uint64(project))
	b = binary.AppendUvarint(b, p.name(nameService, service))
	b = binary.AppendUvarint(b, p.name(nameAuthor, author))
	b = binary.AppendVarint(b, cycle)
	b = binary.AppendVarint(b, coding)
	b = binary.AppendVarint(b, pickup)
	b = binary.AppendVarint(b, review)
	var d uint64
	if deploy.Valid {
		d = uint64(deploy.Int64) + 1 // never negative: links before the merge are ignored
	}
	b = binary.AppendUvarint(b, d)
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, uint64(category))
	k := dayPart{floorDiv(delivered, 86400), partOf(project)}
	p.days[packMRs][k] = append(p.days[packMRs][k], b...)
	p.counts[packMRs][k]++
	p.scratch = b
}

// deployment packs one deployment; authors are those of its counted MRs (repeats allowed).
func (p *packer) deployment(project int64, service string, finished int64, rework, rollback, cf, outOfWindow bool, recovery int64, authors []string) {
	clear(p.seen)
	var ids []uint64
	for _, a := range authors {
		if !p.seen[a] {
			p.seen[a] = true
			ids = append(ids, p.name(nameAuthor, a))
		}
	}
	b := p.scratch[:0]
	b = binary.AppendUvarint(b, uint64(project))
	b = binary.AppendUvarint(b, p.name(nameService, service))
	var flags uint64
	if rework {
		flags |= depRework
	}
	if rollback {
		flags |= depRollback
	}
	if cf {
		flags |= depCF
	}
	if outOfWindow {
		flags |= depOutOfWindow
	}
	b = binary.AppendUvarint(b, flags)
	if cf {
		b = binary.AppendVarint(b, recovery)
	}
	day := floorDiv(finished, 86400)
	b = binary.AppendUvarint(b, uint64(finished-day*86400))
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, a := range ids {
		b = binary.AppendUvarint(b, a)
	}
	k := dayPart{day, partOf(project)}
	p.days[packDeployments][k] = append(p.days[packDeployments][k], b...)
	p.counts[packDeployments][k]++
	p.scratch = b
}

// write stores the packer's rows and the names they refer to. With parts nil (a refresh from
// scratch) they replace every packed MR, deployment and author-day row; otherwise each row
// the packer holds replaces the stored one of its key (an empty one deletes it), and the
// rest stay as they are.
func (p *packer) write(ctx context.Context, tx *sql.Tx, parts []int64) error {
	if parts == nil {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fact_days WHERE kind IN (?, ?, ?)`, packMRs, packDeployments, packAuthorDays); err != nil {
			return fmt.Errorf("metrics: clear packed facts: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM fact_names`); err != nil {
		return fmt.Errorf("metrics: clear fact names: %w", err)
	}
	put, err := tx.PrepareContext(ctx, `INSERT INTO fact_days(kind, day, part, n, data) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, day, part) DO UPDATE SET n = excluded.n, data = excluded.data`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer put.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM fact_days WHERE kind = ? AND day = ? AND part = ?`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer del.Close()
	for _, kind := range packedKinds {
		for k, data := range p.days[kind] {
			if kind == packAuthorDays && p.dirty[k] {
				sorted, err := sortAuthorDays(data)
				if err != nil {
					return err
				}
				data = sorted
			}
			if len(data) == 0 {
				if parts != nil {
					if _, err := del.ExecContext(ctx, kind, k.day, k.part); err != nil {
						return fmt.Errorf("metrics: write packed facts: %w", err)
					}
				}
				continue
			}
			if _, err := put.ExecContext(ctx, kind, k.day, k.part, p.counts[kind][k], data); err != nil {
				return fmt.Errorf("metrics: write packed facts: %w", err)
			}
		}
	}
	name, err := tx.PrepareContext(ctx, `INSERT INTO fact_names(kind, id, name) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer name.Close()
	for kind := nameService; kind <= nameCommitAuthor; kind++ {
		for s, id := range p.names[kind] {
			if _, err := name.ExecContext(ctx, kind, id, s); err != nil {
				return fmt.Errorf("metrics: write fact names: %w", err)
			}
		}
	}
	return nil
}

// placeholders is n question marks separated by commas.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// loadPacker returns a packer that knows the stored names, for a refresh that derives only
// some projects again: their new records get the same name numbers as the kept ones.
func loadPacker(ctx context.Context, tx *sql.Tx) (*packer, error) {
	p := newPacker()
	rows, err := tx.QueryContext(ctx, `SELECT kind, id, name FROM fact_names`)
	if err != nil {
		return nil, fmt.Errorf("metrics: read fact names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var id uint64
		var name string
		if err := rows.Scan(&kind, &id, &name); err != nil {
			return nil, fmt.Errorf("metrics: read fact names: %w", err)
		}
		if kind >= nameService && kind <= nameCommitAuthor {
			p.names[kind][name] = id
		}
	}
	return p, rows.Err()
}

// partsOf are the parts the records of the given projects are kept in, in order.
func partsOf(projects map[int64]bool) []int64 {
	seen := map[int64]bool{}
	out := []int64{}
	for id := range projects {
		if pt := partOf(id); !seen[pt] {
			seen[pt] = true
			out = append(out, pt)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// keepPacked adds to p the stored records, in the given parts, of every project not in
// replaced, ahead of the records p already holds (those of the projects derived again). A
// stored row in which each replaced project's records are those p holds for it is left as it
// is: it leaves p, and is not written again. It reports how many rows change.
func keepPacked(ctx context.Context, tx *sql.Tx, p *packer, replaced map[int64]bool, parts []int64) (int, error) {
	if len(parts) == 0 {
		return 0, nil
	}
	args := []any{packMRs, packDeployments, packAuthorDays}
	for _, pt := range parts {
		args = append(args, pt)
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, day, part, data FROM fact_days WHERE kind IN (?, ?, ?) AND part IN (`+
		placeholders(len(parts))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("metrics: read packed facts: %w", err)
	}
	defer rows.Close()
	seen := [5]map[dayPart]bool{}
	for _, kind := range packedKinds {
		seen[kind] = map[dayPart]bool{}
	}
	for rows.Next() {
		var kind int
		var k dayPart
		var data sql.RawBytes
		if err := rows.Scan(&kind, &k.day, &k.part, &data); err != nil {
			return 0, fmt.Errorf("metrics: read packed facts: %w", err)
		}
		seen[kind][k] = true
		var kept []byte
		n := 0
		old := map[uint64][]byte{}
		err := eachRecord(kind, data, func(project uint64, raw []byte) {
			if replaced[int64(project)] {
				old[project] = append(old[project], raw...)
			} else {
				kept = append(kept, raw...)
				n++
			}
		})
		if err != nil {
			return 0, err
		}
		same, err := sameRecords(kind, old, p.days[kind][k])
		if err != nil {
			return 0, err
		}
		if same {
			delete(p.days[kind], k)
			delete(p.counts[kind], k)
			if kind == packAuthorDays {
				delete(p.dirty, k) // dirty marks author-day rows only
			}
			continue
		}
		if len(kept) > 0 {
			p.days[kind][k] = append(kept, p.days[kind][k]...)
			p.counts[kind][k] += n
		} else if p.days[kind][k] == nil {
			p.days[kind][k] = []byte{} // nothing left: deleted
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("metrics: read packed facts: %w", err)
	}
	changed := 0
	for _, kind := range packedKinds {
		changed += len(p.days[kind])
	}
	return changed, nil
}

// eachRecord calls fn with the project and bytes of each record of a packed blob of kind.
func eachRecord(kind int, data []byte, fn func(project uint64, raw []byte)) error {
	switch kind {
	case packMRs:
		return decodeMRs(data, func(r *packedMR) { fn(r.project, r.raw) })
	case packDeployments:
		return decodeDeployments(data, func(r *packedDeployment) { fn(r.project, r.raw) })
	default:
		return decodeAuthorDayRecords(data, func(r *packedAuthorDayMR) { fn(r.project, r.raw) })
	}
}

// sameRecords says whether the records derived again (fresh, in derivation order) are, project
// by project, those stored (old, in stored order): author-days are stored sorted by commit
// author, so those are compared sorted.
func sameRecords(kind int, old map[uint64][]byte, fresh []byte) (bool, error) {
	now := map[uint64][]byte{}
	if err := eachRecord(kind, fresh, func(project uint64, raw []byte) { now[project] = append(now[project], raw...) }); err != nil {
		return false, err
	}
	if len(now) != len(old) {
		return false, nil
	}
	for project, recs := range now {
		if kind == packAuthorDays {
			sorted, err := sortAuthorDays(recs)
			if err != nil {
				return false, err
			}
			recs = sorted
		}
		if !bytes.Equal(recs, old[project]) {
			return false, nil
		}
	}
	return true, nil
}

// packCoverageDays packs coverage_days into kind-3 rows; refresh calls it once coverage_days
// is filled.
func packCoverageDays(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT day, project_id, coverage FROM coverage_days ORDER BY day, project_id`)
	if err != nil {
		return fmt.Errorf("metrics: pack coverage: %w", err)
	}
	days := map[int64][]byte{}
	counts := map[int64]int{}
	for rows.Next() {
		var d, project int64
		var v float64
		if err := rows.Scan(&d, &project, &v); err != nil {
			rows.Close()
			return fmt.Errorf("metrics: pack coverage: %w", err)
		}
		b := binary.AppendUvarint(days[d], uint64(project))
		days[d] = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		counts[d]++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: pack coverage: %w", err)
	}
	for d, data := range days {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fact_days(kind, day, part, n, data) VALUES (?, ?, 0, ?, ?)`, packCoverage, d, counts[d], data); err != nil {
			return fmt.Errorf("metrics: pack coverage: %w", err)
		}
	}
	return nil
}
