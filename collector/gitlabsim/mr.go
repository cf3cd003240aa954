package gitlabsim

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type mrKind int

const (
	kindFeature     mrKind = iota // drawn further into the kinds below
	kindHotfix                    // rework by label, title or branch
	kindRevert                    // Revert "..." from GitLab's revert button
	kindBug                       // rework by label
	kindNearMiss                  // looks like rework but is not, by the rules
	kindOtherTarget               // targets a release or develop branch
	kindClosed                    // closed without merging
	kindStale                     // open for ever
	kindRenovate                  // dependency updates by renovate-bot
	kindProjectBot                // by a project access-token bot (GitLab bot flag)
	kindTechDebt                  // tech-debt work by label, title or branch convention
)

var verbs = []string{"Add", "Fix", "Refactor", "Update", "Remove", "Improve", "Handle", "Support", "Migrate",
	"Extract", "Rename", "Cache", "Validate", "Retry", "Speed up", "Simplify", "Document", "Harden"}
var objects = []string{"checkout flow", "payment retries", "invoice export", "search ranking",
	"login rate limiting", "order history pagination", "webhook signatures", "metrics endpoint",
	"database connection pool", "CSV import", "currency rounding", "email templates", "cart totals",
	"session expiry", "audit log", "API pagination", "Kafka consumer lag", "health checks",
	"HTTP client timeouts", "feature flag cleanup", "refund handling", "tax calculation", "address validation",
	"image resizing", "SSO callback", "report scheduling", "price cache", "stock reservations"}

// Titles that a dashboard and a CSV export must escape.
var trickyTitles = []string{`Fix <script>alert("x")</script> in MR preview`, `=HYPERLINK("http://evil.example") in export`,
	`+1 reactions counted twice`, `@here mentions in comments`, `Handle commas, "quotes" and 'apostrophes'`,
	`Ünïcödé customer names in invoices`, "-2 offset in pagination", `Fix <b>bold</b> & <i>italic</i> rendering`}

// plainTwins are the tricky titles as an organisation shown to people would write them
// (GenOptions.PlainTitles), index for index.
var plainTwins = []string{"Fix script escaping in MR preview", "Escape formula cells in CSV export",
	"Fix reactions counted twice", "Handle @here mentions in comments", `Handle commas, "quotes" and 'apostrophes'`,
	"Ünïcödé customer names in invoices", "Fix off-by-two offset in pagination", "Fix bold and italic rendering"}

var plainLabels = []string{"feature", "backend", "frontend", "documentation", "performance", "security", "database"}

// The tech-debt conventions (SPEC §3's built-in rules): labels in their usual spellings,
// conventional-commit titles and branch prefixes.
var (
	techDebtLabelSpellings = []string{"tech-debt", "Tech-Debt", "technical-debt", "tech debt", "refactor",
		"refactoring", "maintenance", "chore", "Chore", "dependencies"}
	techDebtTitlePrefixes = []string{"refactor: ", "Refactor: ", "chore: ", "build: ", "ci: ", "deps: ", "refactor(api): ",
		"chore(deps)!: ", "CI: ", "build(docker): "}
	techDebtBranchPrefixes = []string{"refactor/", "chore/", "chore-", "deps/", "maintenance/", "refactor-"}
	techDebtWork           = []string{"Clean up", "Simplify", "Remove dead code in", "Upgrade libraries of", "Split",
		"Untangle", "Drop the old", "Modernise"}
)

var depNames = []string{"golang.org/x/net", "react", "lodash", "pg", "redis", "jackson-databind", "axios",
	"spring-boot", "django", "express", "eslint", "typescript"}

func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() > 40 {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func (o *Org) title() string {
	if o.r.chance(0.02) {
		i := o.r.IntN(len(trickyTitles)) // one draw either way: the rest of the history is the same
		if o.opt.PlainTitles {
			return plainTwins[i]
		}
		return trickyTitles[i]
	}
	return pick(o.r, verbs) + " " + pick(o.r, objects)
}

// planMR creates an MR at created and plans its whole life: commits and pushes, review,
// approvals, merge or close, pipelines. What is after Org.Now() stays invisible until then.
func (o *Org) planMR(p *project, created time.Time, kind mrKind, author *user) {
	r := o.r
	created = created.Truncate(time.Millisecond)
	if kind == kindFeature {
		switch r.weighted(0.015, 0.008, 0.02, 0.025, 0.06, 0.09, 0.015, 0.767) {
		case 0:
			kind = kindHotfix
		case 1:
			kind = kindRevert
		case 2:
			kind = kindBug
		case 3:
			kind = kindNearMiss
		case 4:
			kind = kindOtherTarget
		case 5:
			kind = kindClosed
		case 6:
			kind = kindStale
		}
	}
	if author == nil {
		author = pick(r, p.team)
	}
	human := !author.bot && author != o.renovate
	// About TechDebt of the merged human MRs: features are about 0.92 of them.
	if kind == kindFeature && human && r.chance(o.opt.TechDebt/0.92) {
		kind = kindTechDebt
	}
	o.nextID.mr += int64(1 + r.IntN(3))
	p.nextIID++
	m := &mergeRequest{id: o.nextID.mr, iid: p.nextIID, project: p, author: author, createdAt: created,
		targetBranch: p.defaultBranch}
	p.mrs = append(p.mrs, m)

	title := o.title()
	m.title = title
	m.sourceBranch = pick(r, []string{"feature/", "fix/", "feat-", author.username + "/"}) + slug(title)
	if r.chance(0.5) {
		m.labels = append(m.labels, pick(r, plainLabels))
	}
	if human && r.chance(o.opt.SharedWork) {
		if others := othersThan(p.team, author); len(others) > 0 {
			m.coAuthor = pick(r, others)
		}
	}
	switch kind {
	case kindTechDebt:
		x := pick(r, objects)
		switch r.IntN(3) {
		case 0:
			m.title = pick(r, techDebtWork) + " " + x
			m.labels = append(m.labels, pick(r, techDebtLabelSpellings))
		case 1:
			m.title = pick(r, techDebtTitlePrefixes) + strings.ToLower(pick(r, techDebtWork)) + " " + x
		default:
			m.title = pick(r, techDebtWork) + " " + x
			m.sourceBranch = pick(r, techDebtBranchPrefixes) + slug(x)
		}
	case kindHotfix:
		x := pick(r, objects)
		switch r.IntN(5) {
		case 0:
			m.title, m.sourceBranch, m.labels = "Hotfix: "+x, "hotfix/"+slug(x), []string{"hotfix"}
		case 1:
			m.title, m.sourceBranch, m.labels = "HOTFIX "+x, "fix/"+slug(x), nil
		case 2:
			m.title, m.sourceBranch, m.labels = "Fix "+x+" outage", "Hotfix-"+slug(x), nil
		case 3:
			m.title, m.sourceBranch, m.labels = "Fix "+x, "fix/"+slug(x), []string{"Incident", "backend"}
		default:
			m.title, m.sourceBranch, m.labels = "Fix regression in "+x, "fix/"+slug(x), []string{"regression"}
		}
	case kindRevert:
		if x := o.revertTarget(p, created); x != nil {
			m.revertOf = x
			m.labels = nil
			m.description = fmt.Sprintf("This reverts merge request !%d", x.iid)
			switch r.IntN(3) {
			case 0: // GitLab's revert button: title, branch and the commit message
				m.title = `Revert "` + x.title + `"`
				m.sourceBranch = "revert-" + x.mergeSHA[:8]
				m.revertMsg = m.title + "\n\nThis reverts commit " + x.mergeSHA + ".\n"
			case 1: // git revert of one of its commits, pushed on a revert branch
				c := pick(r, x.commitsAt(created))
				m.title = "Back out " + strings.ToLower(x.title[:1]) + x.title[1:]
				m.sourceBranch = "revert/" + slug(x.title)
				m.revertMsg = `Revert "` + c.title + "\"\n\nThis reverts commit " + c.sha + ".\n"
			default: // reverted by hand: only the title says so
				m.title = `Revert "` + x.title + `"`
				m.sourceBranch = "fix/" + slug(x.title)
			}
		} else {
			m.title = "Revert " + strings.ToLower(title[:1]) + title[1:]
		}
	case kindBug:
		m.title = "Fix " + pick(r, objects)
		m.labels = []string{pick(r, []string{"bug", "Bug", "BUG"})}
	case kindNearMiss:
		switch r.IntN(4) {
		case 0:
			m.labels = []string{"bugfix-followup"}
		case 1:
			m.title = "Prevent revert of " + pick(r, objects)
		case 2:
			m.sourceBranch = "hotfixes/" + slug(title)
		default:
			m.sourceBranch = "feature/hotfix-banner"
			m.labels = []string{"not-a-bug"}
		}
	case kindOtherTarget:
		m.targetBranch = pick(r, []string{"develop", "release/2026.11", "release/2026.12"})
	case kindRenovate:
		dep := pick(r, depNames)
		v := fmt.Sprintf("v%d.%d.%d", 1+r.IntN(5), r.IntN(20), r.IntN(10))
		m.title = fmt.Sprintf("chore(deps): update dependency %s to %s", dep, v)
		m.sourceBranch = "renovate/" + slug(dep) + "-" + v[:2] + ".x"
		m.labels = []string{"dependencies"}
	case kindProjectBot:
		m.title = pick(r, []string{"Update translations", "Regenerate API client", "Bump chart version"})
		m.sourceBranch = "bot/" + slug(m.title) + fmt.Sprintf("-%d", m.iid)
		m.labels = []string{"automated"}
	}
	sort.Strings(m.labels)

	// Commits: written before the MR is opened (coding time), pushed just before it.
	first := created.Add(-r.logn(5*time.Hour, 1.3))
	nc := 1 + r.IntN(4)
	switch {
	case !human:
		nc = 1
		first = created.Add(-r.between(5*time.Second, time.Minute))
	case r.chance(0.003):
		nc = 101 + r.IntN(160) // a big migration: several pages of commits
	case r.chance(0.25):
		nc += r.IntN(8)
	}
	firstPush := created.Add(-r.between(20*time.Second, 15*time.Minute))
	if kind == kindClosed && r.chance(0.1) {
		nc = 0 // opened from an empty branch and closed
	}
	if nc > 0 {
		if !first.Before(firstPush) {
			first = firstPush.Add(-time.Minute)
		}
		o.addCommits(m, nc, first, firstPush, author, firstPush, false)
		if m.revertMsg != "" {
			c := &m.allCommits[len(m.allCommits)-nc]
			c.title, c.message = strings.SplitN(m.revertMsg, "\n", 2)[0], m.revertMsg
		}
	}

	var notes []*note
	sys := func(at time.Time, u *user, body string, k noteKind) {
		notes = append(notes, &note{at: at.Truncate(time.Millisecond), author: u, body: body, kind: k, mr: m})
	}
	comment := func(at time.Time, u *user, body string) {
		n := &note{at: at.Truncate(time.Millisecond), author: u, body: body, kind: noteComment, mr: m}
		if r.chance(0.55) {
			n.typ = "DiffNote"
		} else if r.chance(0.3) {
			n.typ = "DiscussionNote"
		}
		notes = append(notes, n)
	}
	push := func(at time.Time, n int, force bool) {
		if len(m.pushes) == 0 {
			o.addCommits(m, max(n, 1), at.Add(-time.Hour), at, author, at, false)
			sys(at, author, fmt.Sprintf("added %d commit", max(n, 1)), noteSystem)
			return
		}
		before := len(m.commitsAt(at))
		o.addCommits(m, n, at.Add(-r.logn(40*time.Minute, 0.8)), at, author, at, force)
		if force {
			sys(at, author, fmt.Sprintf("added %d commits and removed %d commits\n\n[Compare with previous version]", len(m.commitsAt(at)), before), noteSystem)
		} else {
			sys(at, author, pluralCommits(n), noteSystem)
		}
	}

	t := created
	if human && r.chance(0.15) {
		m.draftUntil = o.work(created.Add(r.logn(3*time.Hour, 1))).Truncate(time.Millisecond)
		t = m.draftUntil
		sys(t, author, "marked this merge request as **ready**", noteSystem)
	}
	var reviewer *user
	if others := othersThan(p.team, author); len(others) > 0 {
		reviewer = pick(r, others)
		m.reviewers = []*user{reviewer}
		sys(created.Add(r.between(10*time.Second, 5*time.Minute)), author, "requested review from @"+reviewer.username, noteSystem)
	}
	if p.bot != nil && r.chance(0.4) {
		comment(created.Add(r.between(3*time.Minute, 15*time.Minute)), p.bot,
			fmt.Sprintf("Coverage report: %.1f%% (%+.1f%%)", p.coverage, r.NormFloat64()*0.3))
	}
	if human && r.chance(0.1) {
		sys(created.Add(r.logn(time.Hour, 1)), author, "changed the description", noteSystem)
	}
	if human && r.chance(0.2) {
		who := "@" + author.username
		if reviewer != nil {
			who = "@" + reviewer.username
		}
		comment(created.Add(r.between(time.Minute, 30*time.Minute)), author, who+" ready for a look when you have a minute")
	}

	var end time.Time // the merge (or close) instant
	switch {
	case kind == kindRenovate:
		if r.chance(0.3) {
			end = created.Add(r.between(20*time.Minute, 2*time.Hour))
			m.mergeUser = author
		} else if r.chance(0.85) && reviewer != nil {
			a := o.work(created.Add(r.logn(20*time.Hour, 0.8)))
			sys(a, reviewer, "approved this merge request", noteApproved)
			end = a.Add(r.between(time.Minute, 30*time.Minute))
			m.mergeUser = reviewer
		} else {
			kind = kindClosed
			end = created.Add(r.logn(5*24*time.Hour, 0.5))
		}
	case reviewer == nil:
		end = o.work(t.Add(r.logn(4*time.Hour, 1)))
	default:
		rs := o.work(t.Add(r.logn(2*time.Hour, 1.2)))
		if kind == kindHotfix {
			rs = t.Add(r.logn(15*time.Minute, 0.7))
		}
		style := r.weighted(0.07, 0.15, 0.78)
		last := rs
		switch style {
		case 0: // never reviewed: merged unapproved
			if r.chance(0.3) {
				comment(rs, author, "Merging this myself, reviewer is out today.")
			}
		case 1: // approved without a comment
			sys(rs, reviewer, "approved this merge request", noteApproved)
		default:
			rounds := 1 + r.IntN(3)
			if r.chance(0.006) {
				rounds = 45 + r.IntN(30) // a long discussion: notes over several pages
			}
			at := rs
			for i := 0; i < rounds; i++ {
				comment(at, reviewer, pick(r, reviewComments))
				if r.chance(0.3) {
					comment(at.Add(r.between(time.Minute, 20*time.Minute)), reviewer, pick(r, reviewComments))
				}
				if i == 0 && r.chance(0.15) { // a review submitted as "request changes": not an approval
					sys(at.Add(r.between(time.Minute, 25*time.Minute)), reviewer, "requested changes", noteSystem)
				}
				at = at.Add(r.logn(50*time.Minute, 1))
				comment(at, author, pick(r, authorReplies))
				if r.chance(0.5) && rounds < 10 {
					at = at.Add(r.between(time.Minute, 30*time.Minute))
					push(at, 1+r.IntN(2), false)
				}
				at = o.work(at.Add(r.logn(40*time.Minute, 1)))
			}
			if r.chance(0.12) && kind != kindClosed {
				at = at.Add(r.between(5*time.Minute, 2*time.Hour))
				push(at, 1+r.IntN(3), true) // force-push: rebase or squash, SHAs rewritten
				at = at.Add(r.between(5*time.Minute, time.Hour))
			}
			if kind != kindClosed || r.chance(0.2) {
				sys(at, reviewer, "approved this merge request", noteApproved)
				if r.chance(0.1) { // approval withdrawn, sometimes given again
					at = at.Add(r.logn(30*time.Minute, 1))
					sys(at, reviewer, "unapproved this merge request", noteUnapproved)
					comment(at.Add(time.Minute), reviewer, "Sorry, spotted one more problem in the migration.")
					if r.chance(0.6) {
						at = o.work(at.Add(r.logn(2*time.Hour, 0.8)))
						push(at, 1, false)
						at = at.Add(r.logn(30*time.Minute, 0.8))
						sys(at, reviewer, "approved this merge request", noteApproved)
					}
				}
				if r.chance(0.25) {
					if second := othersThan(othersThan(p.team, author), reviewer); len(second) > 0 {
						s := pick(r, second)
						at = at.Add(r.logn(30*time.Minute, 1))
						if r.chance(0.5) {
							comment(at.Add(-time.Minute), s, "LGTM")
						}
						sys(at, s, "approved this merge request", noteApproved)
					}
				}
			}
			last = at
		}
		if r.chance(0.03) {
			sys(last.Add(r.between(time.Minute, 10*time.Minute)), author, "approved this merge request", noteApproved) // self-approval
		}
		if r.chance(0.02) && p.bot != nil {
			sys(last.Add(r.between(time.Minute, 10*time.Minute)), p.bot, "approved this merge request", noteApproved)
		}
		end = o.work(last.Add(r.logn(45*time.Minute, 1.1)))
		if kind == kindHotfix {
			end = last.Add(r.logn(10*time.Minute, 0.6))
		}
		if r.chance(0.6) {
			m.mergeUser = author
		} else {
			m.mergeUser = reviewer
		}
	}
	if m.mergeUser == nil {
		m.mergeUser = author
	}
	for _, n := range notes {
		if !n.at.Before(end) {
			end = n.at.Add(r.between(time.Minute, 20*time.Minute))
		}
	}
	for _, ps := range m.pushes {
		if !ps.at.Before(end) {
			end = ps.at.Add(r.between(time.Minute, 20*time.Minute))
		}
	}
	end = end.Truncate(time.Millisecond)
	if p.beforeMerge && human && kind != kindClosed && kind != kindStale && m.targetBranch == p.defaultBranch &&
		len(m.pushes) > 0 && r.chance(0.85) {
		// Deploy the branch at its head, watch it for about ten minutes, then merge.
		dur := min(r.logn(4*time.Minute, 0.5), 9*time.Minute)
		mergeAt := end.Add(time.Minute + dur + r.between(8*time.Minute, 13*time.Minute)).Truncate(time.Millisecond)
		o.pendRels = append(o.pendRels, plannedRelease{at: end, p: p, mr: m, dur: dur, mergeAt: mergeAt})
		end = mergeAt
	}
	switch kind {
	case kindClosed:
		m.closedAt = end.Add(r.logn(24*time.Hour, 1)).Truncate(time.Millisecond)
		if r.chance(0.5) {
			comment(m.closedAt.Add(-time.Minute), author, "Closing, superseded by another approach.")
		}
	case kindStale:
		// never merged or closed; half of them stay drafts
		if m.draftUntil.IsZero() && r.chance(0.5) {
			m.draftUntil = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		}
	default:
		m.mergedAt = end
		m.squash = r.chance(0.3)
		m.mergeSHA = r.sha()
		if m.squash {
			m.squashSHA = r.sha()
		}
		if m.targetBranch == p.defaultBranch {
			p.insertMerge(m)
			pl := o.newPipeline(p, p.defaultBranch, m.mergeSHA, "push", m.mergedAt.Add(r.between(2*time.Second, 30*time.Second)), m.mergeUser)
			m.pipelines = append(m.pipelines, pl)
		}
		if r.chance(0.05) && reviewer != nil { // a comment after the merge does not count
			comment(m.mergedAt.Add(r.logn(6*time.Hour, 1)), reviewer, "Late thought: we should add a metric for this.")
		}
		if r.chance(0.03) && reviewer != nil {
			comment(m.mergedAt.Add(r.logn(2*time.Hour, 1)), pick(r, o.humans), "Nice one!")
		}
		if r.chance(0.08) { // referenced from a later commit: a system note after the merge
			sys(m.mergedAt.Add(r.between(time.Minute, 3*24*time.Hour)), m.mergeUser, "mentioned in commit "+r.sha()[:8], noteSystem)
		}
	}

	// Pipelines of the source branch, one per push.
	for _, ps := range m.pushes {
		c := m.allCommits[ps.end-1]
		ref, src := m.sourceBranch, "push"
		if r.chance(0.4) {
			ref, src = fmt.Sprintf("refs/merge-requests/%d/head", m.iid), "merge_request_event"
		}
		m.pipelines = append(m.pipelines, o.newPipeline(p, ref, c.sha, src, ps.at.Add(r.between(time.Second, 20*time.Second)), author))
	}

	sort.SliceStable(notes, func(i, j int) bool { return notes[i].at.Before(notes[j].at) })
	m.notes = notes
	for _, n := range notes {
		o.pendNotes.push(n)
	}
	touch := []time.Time{created}
	for _, n := range notes {
		touch = append(touch, n.at)
	}
	for _, ps := range m.pushes {
		if ps.at.After(created) {
			touch = append(touch, ps.at)
		}
	}
	for _, x := range []time.Time{m.draftUntil, m.mergedAt, m.closedAt} {
		if !x.IsZero() {
			touch = append(touch, x)
		}
	}
	if r.chance(0.2) { // a description or label edit
		touch = append(touch, created.Add(r.logn(time.Hour, 1)).Truncate(time.Millisecond))
	}
	sort.Slice(touch, func(i, j int) bool { return touch[i].Before(touch[j]) })
	m.touches = touch
}

var reviewComments = []string{"Could we add a test for the empty case?", "nit: naming", "Why not reuse the existing helper?",
	"This will N+1 on large accounts.", "Please document the retry policy.", "Looks good overall, one question below.",
	"Can this be behind a feature flag?", "The migration needs a down step."}
var authorReplies = []string{"Done.", "Good catch, fixed.", "Added a test.", "I'd rather keep it, see the linked issue.",
	"Updated, thanks!", "Moved it behind the flag."}

func pluralCommits(n int) string {
	if n == 1 {
		return "added 1 commit"
	}
	return fmt.Sprintf("added %d commits", n)
}

func othersThan(us []*user, x *user) []*user {
	out := make([]*user, 0, len(us))
	for _, u := range us {
		if u != x {
			out = append(out, u)
		}
	}
	return out
}

// revertTarget picks the MR a revert opened at t undoes: a human MR that a production
// deployment one to four deployments back shipped, else the last MR merged before t.
func (o *Org) revertTarget(p *project, t time.Time) *mergeRequest {
	back := 1 + o.r.IntN(4)
	for _, e := range p.envs {
		if !e.production || !e.releases {
			continue
		}
		var ds []*deployment
		for _, d := range e.chain {
			if d.status == "success" && d.finished.Before(t) {
				ds = append(ds, d)
			}
		}
		for i := len(ds) - back; i >= 0 && i >= len(ds)-back-6; i-- {
			var cands []*mergeRequest
			for _, m := range ds[i].links {
				if !m.author.bot && m.author != o.renovate && !strings.HasPrefix(m.title, "Revert") && !m.mergedAt.After(t) {
					cands = append(cands, m)
				}
			}
			if len(cands) > 0 {
				return pick(o.r, cands)
			}
		}
		break
	}
	return lastMergedBefore(p, t)
}

func lastMergedBefore(p *project, t time.Time) *mergeRequest {
	for i := len(p.merges) - 1; i >= 0; i-- {
		if m := p.merges[i]; m.mergedAt.Before(t) && !strings.HasPrefix(m.title, "Revert") {
			return m
		}
	}
	return nil
}

// addCommits pushes n commits authored between from and to. A force push rewrites the branch:
// most often a rebase (new SHAs, authored dates kept), otherwise a squash into one commit
// authored at the push (after the MR was opened).
func (o *Org) addCommits(m *mergeRequest, n int, from, to time.Time, author *user, at time.Time, force bool) {
	r := o.r
	at = at.Truncate(time.Millisecond)
	var prev []commit
	if len(m.pushes) > 0 {
		ps := m.pushes[len(m.pushes)-1]
		prev = m.allCommits[ps.start:ps.end]
	}
	start := len(m.allCommits)
	parent := m.project.initialSHA
	mk := func(authored time.Time, title string, by *user) {
		c := commit{sha: r.sha(), authored: authored.Truncate(time.Second), committed: at.Truncate(time.Second),
			title: title, author: by, name: by.name, email: by.commitEmail(), parent: parent}
		parent = c.sha
		m.allCommits = append(m.allCommits, c)
	}
	if force {
		if r.chance(0.6) {
			for _, c := range prev { // rebase: same authored dates and authors, new SHAs
				mk(c.authored, c.title, c.author)
				m.allCommits[len(m.allCommits)-1].message = c.message
			}
		} else {
			mk(at, m.title, author) // squashed into one fresh commit
		}
	} else {
		// Keep the earlier commits: copy them so that this push's range is contiguous.
		for _, c := range prev {
			m.allCommits = append(m.allCommits, c)
			parent = c.sha
		}
	}
	if !force || len(prev) == 0 {
		span := to.Sub(from)
		for i := 0; i < n; i++ {
			t := from
			if n > 1 {
				t = from.Add(span * time.Duration(i) / time.Duration(n-1))
			}
			by := author
			if m.coAuthor != nil && (len(m.allCommits)-start)%2 == 1 {
				by = m.coAuthor
			}
			mk(t, commitTitle(r, i), by)
		}
	}
	m.pushes = append(m.pushes, push{at: at, start: start, end: len(m.allCommits), force: force})
}

func commitTitle(r rnd, i int) string {
	if i == 0 {
		return pick(r, verbs) + " " + pick(r, objects)
	}
	return pick(r, []string{"Address review comments", "Fix lint", "Add tests", "WIP", "Tidy up", "Fix typo"})
}
