package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// Raw rows as refresh reads them.
type (
	rawProject struct {
		id                  int64
		path, defaultBranch string
		service             string
	}
	rawMR struct {
		iid                  int64
		title                string
		rawLabels, webURL    string
		authorID             int64
		author               string
		labels               []string
		sourceBranch, target string
		sha                  string // head
		mergeSHA, squashSHA  string
		created, merged      int64
		earliestCommit       *time.Time
		notes                []store.MRNote
		commitSHAs           []string
		revertSHAs           []string    // what its commits' messages say they revert
		authorDays           []authorDay // of its commits, distinct
		reverts              []*rawMR    // the MRs it reverts (SPEC section 3), set only on rework MRs

		bot, inScope, rework bool
		category             int
		// shipped: per environment, the first deployment that shipped it (SPEC section 3:
		// only that one counts); deployed: the earliest of them.
		shipped  map[int64]*rawDeployment
		deployed *rawDeployment
	}
	rawDeployment struct {
		id, envID        int64
		env, ref         string
		sha, jobURL      string
		finished         int64
		service          string
		first            bool
		order            int      // position in its environment, in finish order
		links            []*rawMR // counted: MRs whose first deployment to this environment it is
		rework           bool
		rollback         bool
		cf               bool
		recovery         int64
		blamedBy, blames int64
		blamesAt         int64
		outOfWindow      bool
	}
)

// authorDay is one commit author on one UTC day (Unix day).
type authorDay struct {
	day    int64
	author string
}

// before says whether a finished before b in their environment's order.
func (a *rawDeployment) before(b *rawDeployment) bool {
	return a.finished < b.finished || a.finished == b.finished && a.id < b.id
}

// refreshProject derives the facts of one project and hands them to w.
func (e *Engine) refreshProject(ctx context.Context, tx *sql.Tx, p rawProject, isBot func(int64, string) bool, w *factWriter) (nMRs, nDeps int, err error) {
	wrap := func(what string, err error) error {
		return fmt.Errorf("metrics: %s of %s: %w", what, p.path, err)
	}

	// Merged MRs (any target branch: a deployment may ship one to another branch).
	mrs := map[int64]*rawMR{}
	rows, err := tx.QueryContext(ctx, `SELECT iid, title, author_id, author_username, labels, source_branch,
		target_branch, created_at, merged_at, web_url, sha, merge_commit_sha, squash_commit_sha
		FROM merge_requests WHERE project_id = ? AND merged_at IS NOT NULL`, p.id)
	if err != nil {
		return 0, 0, wrap("load merge requests", err)
	}
	for rows.Next() {
		m := &rawMR{}
		var labels string
		if err := rows.Scan(&m.iid, &m.title, &m.authorID, &m.author, &labels, &m.sourceBranch, &m.target,
			&m.created, &m.merged, &m.webURL, &m.sha, &m.mergeSHA, &m.squashSHA); err != nil {
			rows.Close()
			return 0, 0, wrap("load merge requests", err)
		}
		m.labels, m.rawLabels = parseLabels(labels), labels
		m.bot = isBot(m.authorID, m.author)
		m.inScope = m.target == p.defaultBranch && p.defaultBranch != ""
		m.rework = e.res.isRework(m.labels, m.title, m.sourceBranch)
		m.category = e.res.categoryOf(m.labels, m.title, m.sourceBranch, m.rework)
		m.mergeSHA, m.squashSHA, m.sha = strings.ToLower(m.mergeSHA), strings.ToLower(m.squashSHA), strings.ToLower(m.sha)
		mrs[m.iid] = m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load merge requests", err)
	}

	// Commits: the earliest authored instant (instants, not strings: the driver stores
	// instants), the SHAs a revert may name, what they say they revert, and the author-days.
	rows, err = tx.QueryContext(ctx, `SELECT mr_iid, sha, authored_at, author, reverts FROM mr_commits WHERE project_id = ?`, p.id)
	if err != nil {
		return 0, 0, wrap("load commits", err)
	}
	for rows.Next() {
		var iid, at int64
		var sha, author, reverts string
		if err := rows.Scan(&iid, &sha, &at, &author, &reverts); err != nil {
			rows.Close()
			return 0, 0, wrap("load commits", err)
		}
		m := mrs[iid]
		if m == nil {
			continue
		}
		if t := unix(at); m.earliestCommit == nil || t.Before(*m.earliestCommit) {
			m.earliestCommit = &t
		}
		m.commitSHAs = append(m.commitSHAs, strings.ToLower(sha))
		if reverts != "" {
			m.revertSHAs = append(m.revertSHAs, strings.Fields(reverts)...)
		}
		if author == "" {
			author = "@" + strings.ToLower(m.author) // fetched before commit authors were kept
		}
		ad := authorDay{floorDiv(at, 86400), author}
		dup := false
		for _, have := range m.authorDays {
			if have == ad {
				dup = true
				break
			}
		}
		if !dup {
			m.authorDays = append(m.authorDays, ad)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load commits", err)
	}

	// Reviews and approvals: by a human other than the author, at or before the merge.
	rows, err = tx.QueryContext(ctx, `SELECT mr_iid, kind, author_id, author_username, created_at FROM mr_notes WHERE project_id = ?`, p.id)
	if err != nil {
		return 0, 0, wrap("load notes", err)
	}
	for rows.Next() {
		var iid, authorID, at int64
		var kind, username string // approvals from the approvals API come as "approved" notes too
		if err := rows.Scan(&iid, &kind, &authorID, &username, &at); err != nil {
			rows.Close()
			return 0, 0, wrap("load notes", err)
		}
		if m := mrs[iid]; m != nil {
			m.notes = append(m.notes, store.MRNote{Kind: store.NoteKind(kind), AuthorID: authorID, AuthorUsername: username, CreatedAt: unix(at)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load notes", err)
	}

	// Successful production deployments, by environment in finish order.
	var deps []*rawDeployment
	byID := map[int64]*rawDeployment{}
	rows, err = tx.QueryContext(ctx, `SELECT d.id, d.environment_id, COALESCE(e.name, d.environment), d.ref, d.sha, d.job_url, d.finished_at,
		COALESCE(e.tier, ''), e.id IS NOT NULL
		FROM deployments d LEFT JOIN environments e ON e.id = d.environment_id
		WHERE d.project_id = ? AND d.status = 'success'
		ORDER BY d.environment_id, d.finished_at, d.id`, p.id)
	if err != nil {
		return 0, 0, wrap("load deployments", err)
	}
	for rows.Next() {
		d := &rawDeployment{}
		var tier string
		var known bool
		if err := rows.Scan(&d.id, &d.envID, &d.env, &d.ref, &d.sha, &d.jobURL, &d.finished, &tier, &known); err != nil {
			rows.Close()
			return 0, 0, wrap("load deployments", err)
		}
		if !e.isProduction(d.env, tier, known) {
			continue
		}
		d.service = e.res.environmentService(p.path, d.env)
		deps = append(deps, d)
		byID[d.id] = d
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load deployments", err)
	}
	// Mark each environment's first deployment before reading links: its rule needs it.
	for i, d := range deps {
		d.first = i == 0 || deps[i-1].envID != d.envID
		if !d.first {
			d.order = deps[i-1].order + 1
		}
	}

	// What ships an MR: GitLab's links (not those of a deployment that finished before the
	// merge, nor an environment's first deployment's links to MRs merged long before it) ...
	ships := func(d *rawDeployment, m *rawMR) {
		if m.shipped == nil {
			m.shipped = map[int64]*rawDeployment{}
		}
		if have := m.shipped[d.envID]; have == nil || d.before(have) {
			m.shipped[d.envID] = d
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT deployment_id, mr_iid FROM deployment_merge_requests WHERE project_id = ? ORDER BY deployment_id, mr_iid`, p.id)
	if err != nil {
		return 0, 0, wrap("load deployment links", err)
	}
	for rows.Next() {
		var depID, iid int64
		if err := rows.Scan(&depID, &iid); err != nil {
			rows.Close()
			return 0, 0, wrap("load deployment links", err)
		}
		d, m := byID[depID], mrs[iid]
		if d == nil || m == nil || m.bot {
			continue // not a production deployment of this project, an MR not collected, or a bot's
		}
		if d.finished < m.merged {
			continue // linked to a deployment before its merge: only a deploy before merge ships that way
		}
		if d.first && m.merged < d.finished-firstDeployGrace {
			continue // the first deployment links the whole history
		}
		ships(d, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, wrap("load deployment links", err)
	}
	// ... and deploys before merge: the MR's source branch at its head SHA, deployed after the
	// MR was opened and before it was merged.
	byRefSHA := map[[2]string][]*rawDeployment{}
	for _, d := range deps {
		k := [2]string{d.ref, strings.ToLower(d.sha)}
		byRefSHA[k] = append(byRefSHA[k], d)
	}
	for _, m := range mrs {
		if m.bot || m.sha == "" || m.sourceBranch == "" {
			continue
		}
		for _, d := range byRefSHA[[2]string{m.sourceBranch, m.sha}] {
			if d.finished > m.created && d.finished < m.merged {
				ships(d, m)
			}
		}
	}
	// Only the first deployment of each environment that shipped an MR counts it.
	for _, m := range mrs {
		for _, d := range m.shipped {
			d.links = append(d.links, m)
			if m.deployed == nil || d.before(m.deployed) {
				m.deployed = d
			}
		}
	}
	for _, d := range deps {
		sort.Slice(d.links, func(i, j int) bool { return d.links[i].iid < d.links[j].iid })
	}

	e.findReverts(mrs)
	e.blame(deps)

	for _, d := range deps {
		if err := w.deployment(ctx, p, d); err != nil {
			return 0, 0, wrap("write deployment facts", err)
		}
	}

	// Per-MR facts, in a stable order.
	iids := make([]int64, 0, len(mrs))
	for iid, m := range mrs {
		if m.inScope && !m.bot {
			iids = append(iids, iid)
		}
	}
	sort.Slice(iids, func(i, j int) bool { return iids[i] < iids[j] })
	for _, iid := range iids {
		f := e.deriveMR(p, mrs[iid], isBot)
		if err := w.mergeRequest(ctx, f); err != nil {
			return 0, 0, wrap("write merge request facts", err)
		}
	}
	return len(iids), len(deps), nil
}

// findReverts sets, on each rework MR R, the MRs of its project it reverts: merged before R, and
// either titled T where R is titled `Revert "T"`, or named by a "This reverts commit S" line of
// one of R's commits, S being the merge or squash commit of X or one of X's commits (an
// abbreviated S names the commit it is a prefix of).
func (e *Engine) findReverts(mrs map[int64]*rawMR) {
	var candidates []*rawMR
	for _, m := range mrs {
		if m.rework && !m.bot && (len(m.revertSHAs) > 0 || strings.HasPrefix(m.title, `Revert "`)) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return
	}
	byTitle := map[string][]*rawMR{}
	type shaMR struct {
		sha string
		m   *rawMR
	}
	var shas []shaMR
	for _, x := range mrs {
		if x.bot {
			continue
		}
		byTitle[x.title] = append(byTitle[x.title], x)
		for _, s := range []string{x.mergeSHA, x.squashSHA} {
			if s != "" {
				shas = append(shas, shaMR{s, x})
			}
		}
		for _, s := range x.commitSHAs {
			shas = append(shas, shaMR{s, x})
		}
	}
	sort.Slice(shas, func(i, j int) bool { return shas[i].sha < shas[j].sha })
	for _, r := range candidates {
		found := map[int64]*rawMR{}
		add := func(x *rawMR) {
			if x != r && x.merged < r.merged {
				found[x.iid] = x
			}
		}
		if t, ok := strings.CutPrefix(r.title, `Revert "`); ok && strings.HasSuffix(t, `"`) {
			for _, x := range byTitle[strings.TrimSuffix(t, `"`)] {
				add(x)
			}
		}
		for _, s := range r.revertSHAs {
			for i := sort.Search(len(shas), func(i int) bool { return shas[i].sha >= s }); i < len(shas) && strings.HasPrefix(shas[i].sha, s); i++ {
				add(shas[i].m)
			}
		}
		for _, x := range found {
			r.reverts = append(r.reverts, x)
		}
		sort.Slice(r.reverts, func(i, j int) bool { return r.reverts[i].iid < r.reverts[j].iid })
	}
}

// blame marks rollbacks, rework deployments and change failures, environment by environment in
// finish order (SPEC section 3). A rework deployment D blames the deployment that first shipped
// to this environment an MR that one of D's MRs reverts (the earliest such, when several), or,
// for a rollback or without such an MR, the deployment just before D.
func (e *Engine) blame(deps []*rawDeployment) {
	window := e.cfg.DeployWindow
	var envStart int
	var firstSeen map[string]int
	for i, d := range deps {
		if d.first {
			envStart = i
			firstSeen = map[string]int{}
		}
		if i > envStart {
			prev := deps[i-1]
			if at, ok := firstSeen[d.sha]; ok && d.sha != prev.sha && at < firstSeen[prev.sha] {
				d.rollback = true
			}
		}
		if _, ok := firstSeen[d.sha]; !ok {
			firstSeen[d.sha] = i
		}
		d.rework = d.rollback
		for _, m := range d.links {
			if m.rework {
				d.rework = true
			}
		}
		if window != nil {
			d.outOfWindow = !window.Contains(time.Unix(d.finished, 0))
		}
		if !d.rework || i == envStart {
			continue
		}
		blamed := deps[i-1]
		if !d.rollback {
			var target *rawDeployment
			for _, r := range d.links {
				for _, x := range r.reverts {
					if f := x.shipped[d.envID]; f != nil && f.before(d) && (target == nil || f.before(target)) {
						target = f
					}
				}
			}
			if target != nil {
				blamed = target
			}
		}
		d.blames, d.blamesAt = blamed.id, blamed.finished
		if !blamed.cf {
			blamed.cf = true
			blamed.blamedBy = d.id
			blamed.recovery = d.finished - blamed.finished
		}
	}
}

// mrFact is one row of mr_facts.
type mrFact struct {
	projectID, iid                          int64
	service, author                         string
	m                                       *rawMR
	project                                 string
	created, firstCommit, merged, delivered int64
	firstReview, firstApproval, deployed    sql.NullInt64
	coding, pickup, review, cycle           int64
	deploy                                  sql.NullInt64
	rework, unapproved, beforeMerge         bool
	approvals                               int
	category                                int
}

// deriveMR applies the per-MR rules of SPEC section 3; first commit, review and approval come
// from store.DeriveReview, the derivation the collector uses too.
func (e *Engine) deriveMR(p rawProject, m *rawMR, isBot func(int64, string) bool) mrFact {
	f := mrFact{projectID: p.id, iid: m.iid, author: m.author, created: m.created, merged: m.merged, rework: m.rework,
		m: m, project: p.path, category: m.category}
	in := store.ReviewInput{AuthorID: m.authorID, CreatedAt: unix(m.created), Notes: m.notes, IsBot: isBot}
	merged := unix(m.merged)
	in.MergedAt = &merged
	if m.earliestCommit != nil {
		in.Commits = []store.MRCommit{{AuthoredAt: *m.earliestCommit}}
	}
	rf := store.DeriveReview(in)
	f.firstCommit = rf.FirstCommitAt.Unix()
	if rf.FirstApprovalAt != nil {
		f.firstApproval = sql.NullInt64{Int64: rf.FirstApprovalAt.Unix(), Valid: true}
	}
	if rf.FirstReviewAt != nil {
		f.firstReview = sql.NullInt64{Int64: rf.FirstReviewAt.Unix(), Valid: true}
	}
	approvers := map[int64]bool{}
	for _, n := range m.notes {
		if n.Kind == store.NoteApproved && n.AuthorID != m.authorID && !isBot(n.AuthorID, n.AuthorUsername) && n.CreatedAt.Unix() <= m.merged {
			approvers[n.AuthorID] = true
		}
	}
	f.approvals = len(approvers)

	f.service = p.service
	f.delivered = m.merged
	reviewEnd := m.merged
	if d := m.deployed; d != nil {
		f.deployed = sql.NullInt64{Int64: d.finished, Valid: true}
		f.delivered = d.finished
		f.service = e.res.environmentService(p.path, d.env)
		if d.finished < m.merged { // a deploy before merge: review ends in production
			f.beforeMerge = true
			reviewEnd = d.finished
			f.deploy = sql.NullInt64{Valid: true}
		} else {
			f.deploy = sql.NullInt64{Int64: d.finished - m.merged, Valid: true}
		}
	}
	f.coding = m.created - f.firstCommit
	if f.firstReview.Valid && f.firstReview.Int64 <= reviewEnd {
		f.pickup = f.firstReview.Int64 - m.created
		f.review = reviewEnd - f.firstReview.Int64
	} else {
		f.pickup = reviewEnd - m.created
	}
	f.cycle = f.delivered - f.firstCommit
	f.unapproved = !f.firstApproval.Valid
	return f
}
