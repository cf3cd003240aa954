package metrics

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Figures read the packed per-day records of fact_days rather than a million rows: SQLite
// hands back a few hundred blobs quickly, and Go decodes them in milliseconds.
//
// Kind 1 (merge requests, by delivered day), one record per MR, all varints:
//
//	project, service, author, cycle, coding, pickup, review, deploy+1 (0: not deployed), flags
//	(1 rework, 2 unapproved, 4 deployed before merge, 8 fewer approvals than agreed), category
//	(its index in the configuration's investment categories).
//
// Kind 2 (deployments, by finished day):
//
//	service, flags (1 rework, 2 rollback, 4 change failure, 8 out of window),
//	[recovery when a change failure], number of authors, authors (of its counted MRs).
//
// Kind 3 (coverage, by day): per project with a value that day, project id (uvarint) and the
//
//	coverage (8 bytes, IEEE 754 bits, little-endian).
//
// Kind 4 (author-days, by the day of the commits): per author-day, the number k of delivered MRs
//
//	with a commit of that author that day, then per MR: project, service, author (of the MR),
//	category (its index).
//
// Services and authors are numbers into fact_names (kind 1 services, kind 2 authors).
const (
	packMRs         = 1
	packDeployments = 2
	packCoverage    = 3
	packAuthorDays  = 4

	nameService = 1
	nameAuthor  = 2

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

// factWriter writes the fact rows of one Refresh and packs them.
type factWriter struct {
	mrStmt, depStmt, linkStmt, dayStmt *sql.Stmt
	pack                               *packer // the packed records of the projects derived
	cats                               []category
	approvals                          int            // the agreed number of approvals
	days                               map[int64]bool // the author-days' days written
}

func newFactWriter(ctx context.Context, tx *sql.Tx, pack *packer, cats []category, approvals int) (*factWriter, error) {
	w := &factWriter{pack: pack, cats: cats, approvals: approvals, days: map[int64]bool{}}
	var err error
	if w.mrStmt, err = tx.PrepareContext(ctx, `INSERT INTO mr_facts(project_id, iid, service, author, created_at,
		first_commit_at, first_review_at, first_approval_at, merged_at, deployed_at, delivered_at, coding_seconds,
		pickup_seconds, review_seconds, deploy_seconds, cycle_seconds, rework, unapproved,
		project, title, labels, source_branch, web_url, category, approvals, before_merge)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.depStmt, err = tx.PrepareContext(ctx, `INSERT INTO deployment_facts(id, project_id, environment_id, service,
		finished_at, merge_requests, rework, rollback, change_failure, recovery_seconds, out_of_window,
		project, environment, sha, job_url, ref, blamed_by, blames)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		w.close()
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.linkStmt, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO deployment_mr_facts(deployment_id, project_id, mr_iid, author, rework,
		title, web_url, before_merge, reverts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
		w.close()
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	if w.dayStmt, err = tx.PrepareContext(ctx, `INSERT OR IGNORE INTO author_day_facts(day, author, project_id, iid) VALUES (?, ?, ?, ?)`); err != nil {
		w.close()
		return nil, fmt.Errorf("metrics: prepare: %w", err)
	}
	return w, nil
}

func (w *factWriter) close() {
	for _, s := range []*sql.Stmt{w.mrStmt, w.depStmt, w.linkStmt, w.dayStmt} {
		if s != nil {
			s.Close()
		}
	}
}

func (w *factWriter) mergeRequest(ctx context.Context, f mrFact) error {
	if _, err := w.mrStmt.ExecContext(ctx, f.projectID, f.iid, f.service, f.author, f.created, f.firstCommit,
		f.firstReview, f.firstApproval, f.merged, f.deployed, f.delivered, f.coding, f.pickup, f.review,
		f.deploy, f.cycle, f.rework, f.unapproved, f.project, f.m.title, f.m.rawLabels, f.m.sourceBranch, f.m.webURL,
		w.cats[f.category].name, f.approvals, f.beforeMerge); err != nil {
		return err
	}
	for _, ad := range f.m.authorDays {
		day := ad[0].(int64)
		if _, err := w.dayStmt.ExecContext(ctx, day, ad[1].(string), f.projectID, f.iid); err != nil {
			return err
		}
		w.days[day] = true
	}
	if w.pack != nil {
		var flags uint64
		if f.rework {
			flags |= mrRework
		}
		if f.unapproved {
			flags |= mrUnapproved
		}
		if f.beforeMerge {
			flags |= mrBeforeMerge
		}
		if f.approvals < w.approvals {
			flags |= mrFewApprovals
		}
		w.pack.mergeRequest(f.projectID, f.service, f.author, f.delivered, f.cycle, f.coding, f.pickup, f.review, f.deploy, flags, f.category)
	}
	return nil
}

func (w *factWriter) deployment(ctx context.Context, p rawProject, d *rawDeployment) error {
	var recovery sql.NullInt64
	if d.cf {
		recovery = sql.NullInt64{Int64: d.recovery, Valid: true}
	}
	if _, err := w.depStmt.ExecContext(ctx, d.id, p.id, d.envID, d.service, d.finished, len(d.links), d.rework,
		d.rollback, d.cf, recovery, d.outOfWindow, p.path, d.env, d.sha, d.jobURL, d.ref, d.blamedBy, d.blames); err != nil {
		return err
	}
	var authors []string
	for _, m := range d.links {
		var reverts []string
		for _, x := range m.reverts {
			reverts = append(reverts, strconv.FormatInt(x.iid, 10))
		}
		if _, err := w.linkStmt.ExecContext(ctx, d.id, p.id, m.iid, m.author, m.rework, m.title, m.webURL,
			d.finished < m.merged, strings.Join(reverts, " ")); err != nil {
			return err
		}
		authors = append(authors, m.author)
	}
	if w.pack != nil {
		w.pack.deployment(p.id, d.service, d.finished, d.rework, d.rollback, d.cf, d.outOfWindow, d.recovery, authors)
	}
	return nil
}

// packer gathers the packed per-day records and the names they refer to.
type packer struct {
	days    [3]map[int64][]byte
	names   [3]map[string]uint64
	scratch []byte
	seen    map[string]bool
}

func newPacker() *packer {
	p := &packer{seen: map[string]bool{}}
	for k := 1; k <= 2; k++ {
		p.days[k] = map[int64][]byte{}
		p.names[k] = map[string]uint64{}
	}
	return p
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
	day := floorDiv(delivered, 86400)
	p.days[packMRs][day] = append(p.days[packMRs][day], b...)
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
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, a := range ids {
		b = binary.AppendUvarint(b, a)
	}
	day := floorDiv(finished, 86400)
	p.days[packDeployments][day] = append(p.days[packDeployments][day], b...)
	p.scratch = b
}

// write replaces the packed MR and deployment days and the names they refer to.
func (p *packer) write(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM fact_days WHERE kind IN (?, ?)`, packMRs, packDeployments); err != nil {
		return fmt.Errorf("metrics: clear packed facts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM fact_names`); err != nil {
		return fmt.Errorf("metrics: clear fact names: %w", err)
	}
	day, err := tx.PrepareContext(ctx, `INSERT INTO fact_days(kind, day, data) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer day.Close()
	for kind := 1; kind <= 2; kind++ {
		for d, data := range p.days[kind] {
			if _, err := day.ExecContext(ctx, kind, d, data); err != nil {
				return fmt.Errorf("metrics: write packed facts: %w", err)
			}
		}
	}
	name, err := tx.PrepareContext(ctx, `INSERT INTO fact_names(kind, id, name) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer name.Close()
	for kind := 1; kind <= 2; kind++ {
		for s, id := range p.names[kind] {
			if _, err := name.ExecContext(ctx, kind, id, s); err != nil {
				return fmt.Errorf("metrics: write fact names: %w", err)
			}
		}
	}
	return nil
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
		if kind == nameService || kind == nameAuthor {
			p.names[kind][name] = id
		}
	}
	return p, rows.Err()
}

// keepPacked adds to p the stored records of every project not in replaced, ahead of the
// records p already holds (those of the projects derived again).
func keepPacked(ctx context.Context, tx *sql.Tx, p *packer, replaced map[int64]bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT kind, day, data FROM fact_days WHERE kind IN (?, ?)`, packMRs, packDeployments)
	if err != nil {
		return fmt.Errorf("metrics: read packed facts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var day int64
		var data sql.RawBytes
		if err := rows.Scan(&kind, &day, &data); err != nil {
			return fmt.Errorf("metrics: read packed facts: %w", err)
		}
		var kept []byte
		keep := func(project uint64, raw []byte) {
			if !replaced[int64(project)] {
				kept = append(kept, raw...)
			}
		}
		if kind == packMRs {
			err = decodeMRs(data, func(r *packedMR) { keep(r.project, r.raw) })
		} else {
			err = decodeDeployments(data, func(r *packedDeployment) { keep(r.project, r.raw) })
		}
		if err != nil {
			return err
		}
		if len(kept) > 0 {
			p.days[kind][day] = append(kept, p.days[kind][day]...)
		}
	}
	return rows.Err()
}

// packCoverageDays packs coverage_days into kind-3 rows; refresh calls it once coverage_days
// is filled.
func packCoverageDays(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT day, project_id, coverage FROM coverage_days ORDER BY day, project_id`)
	if err != nil {
		return fmt.Errorf("metrics: pack coverage: %w", err)
	}
	days := map[int64][]byte{}
	for rows.Next() {
		var d, project int64
		var v float64
		if err := rows.Scan(&d, &project, &v); err != nil {
			rows.Close()
			return fmt.Errorf("metrics: pack coverage: %w", err)
		}
		b := binary.AppendUvarint(days[d], uint64(project))
		days[d] = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("metrics: pack coverage: %w", err)
	}
	for d, data := range days {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fact_days(kind, day, data) VALUES (?, ?, ?)`, packCoverage, d, data); err != nil {
			return fmt.Errorf("metrics: pack coverage: %w", err)
		}
	}
	return nil
}

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
	rows, err := db.QueryContext(ctx, `SELECT kind, id, name FROM fact_names`)
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

// packAuthorDaysOf rebuilds the kind-4 records of the given days (every day when all is set)
// from author_day_facts and mr_facts. An author-day's MRs may be in several projects, so a
// refresh that derives one project again rebuilds every day that project's author-days touched,
// before and after.
func packAuthorDaysOf(ctx context.Context, tx *sql.Tx, p *packer, cats []category, days map[int64]bool, all bool) error {
	const q = `SELECT a.day, a.author, a.project_id, f.service, f.author, f.category
		FROM author_day_facts a JOIN mr_facts f ON f.project_id = a.project_id AND f.iid = a.iid`
	catIndex := map[string]uint64{}
	for i, c := range cats {
		catIndex[c.name] = uint64(i)
	}
	out := map[int64][]byte{}
	var recs []byte // the current author-day's MR records
	var k uint64
	curDay, curAuthor := int64(0), "\x00"
	flush := func() {
		if k > 0 {
			b := binary.AppendUvarint(out[curDay], k)
			out[curDay] = append(b, recs...)
		}
		recs, k = recs[:0], 0
	}
	read := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var day, project int64
			var author, service, mrAuthor, cat string
			if err := rows.Scan(&day, &author, &project, &service, &mrAuthor, &cat); err != nil {
				return err
			}
			if day != curDay || author != curAuthor {
				flush()
				curDay, curAuthor = day, author
			}
			if _, ok := out[day]; !ok {
				out[day] = nil
			}
			recs = binary.AppendUvarint(recs, uint64(project))
			recs = binary.AppendUvarint(recs, p.name(nameService, service))
			recs = binary.AppendUvarint(recs, p.name(nameAuthor, mrAuthor))
			recs = binary.AppendUvarint(recs, catIndex[cat])
			k++
		}
		flush()
		curAuthor = "\x00"
		return rows.Err()
	}
	if all {
		rows, err := tx.QueryContext(ctx, q+` ORDER BY a.day, a.author`)
		if err != nil {
			return fmt.Errorf("metrics: pack author-days: %w", err)
		}
		if err := read(rows); err != nil {
			return fmt.Errorf("metrics: pack author-days: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM fact_days WHERE kind = ?`, packAuthorDays); err != nil {
			return fmt.Errorf("metrics: pack author-days: %w", err)
		}
	} else {
		for day := range days {
			out[day] = nil // written empty (deleted) when nothing is left
			rows, err := tx.QueryContext(ctx, q+` WHERE a.day = ? ORDER BY a.author`, day)
			if err != nil {
				return fmt.Errorf("metrics: pack author-days: %w", err)
			}
			if err := read(rows); err != nil {
				return fmt.Errorf("metrics: pack author-days: %w", err)
			}
		}
	}
	del, err := tx.PrepareContext(ctx, `DELETE FROM fact_days WHERE kind = ? AND day = ?`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer del.Close()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO fact_days(kind, day, data) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("metrics: prepare: %w", err)
	}
	defer ins.Close()
	for day, data := range out {
		if !all {
			if _, err := del.ExecContext(ctx, packAuthorDays, day); err != nil {
				return fmt.Errorf("metrics: pack author-days: %w", err)
			}
		}
		if len(data) > 0 {
			if _, err := ins.ExecContext(ctx, packAuthorDays, day, data); err != nil {
				return fmt.Errorf("metrics: pack author-days: %w", err)
			}
		}
	}
	return nil
}

// packedAuthorDayMR is one MR of a decoded author-day.
type packedAuthorDayMR struct {
	project, service, author, category uint64
}

// decodeAuthorDays calls fn for each author-day of a kind-4 blob with its MRs (valid until the
// next call).
func decodeAuthorDays(data []byte, fn func(mrs []packedAuthorDayMR)) error {
	var mrs []packedAuthorDayMR
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(data)
		if n <= 0 {
			return 0, false
		}
		data = data[n:]
		return v, true
	}
	for len(data) > 0 {
		k, ok := next()
		if !ok || k > uint64(len(data)) {
			return errPacked
		}
		mrs = mrs[:0]
		for i := uint64(0); i < k; i++ {
			var r packedAuthorDayMR
			var ok1, ok2, ok3, ok4 bool
			r.project, ok1 = next()
			r.service, ok2 = next()
			r.author, ok3 = next()
			r.category, ok4 = next()
			if !ok1 || !ok2 || !ok3 || !ok4 {
				return errPacked
			}
			mrs = append(mrs, r)
		}
		fn(mrs)
	}
	return nil
}
