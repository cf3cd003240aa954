package gitlabsim

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// GenOptions shapes a generated organisation. The zero value is a valid default.
type GenOptions struct {
	Seed     int64
	End      time.Time // the organisation's "now"; default: today's UTC midnight
	Days     int       // history length in days; default 90
	Services int       // service projects, one of them the monolith; default 12
	Scale    float64   // activity multiplier; 1 gives about 40 production deployments per weekday

	// DeployBeforeMerge is the share of the ordinary services whose team deploys most MRs'
	// branches to production, watches them for about ten minutes and only then merges; default
	// 1/3, negative for none.
	DeployBeforeMerge float64
	// TechDebt is about the share of merged human MRs that are tech-debt work (by label, title
	// or branch convention); default 0.2, negative for none (only the tech-debt look-alikes of
	// dependency bots remain).
	TechDebt float64
	// SharedWork is the share of human MRs with commits by a second author; default 0.15,
	// negative for none.
	SharedWork float64
	// PlainTitles gives the MRs that would carry a title a dashboard must escape (markup, a
	// spreadsheet formula) an ordinary twin instead: the organisation people are shown (the
	// demo), not the one tests attack Pacer with. The history is otherwise the same.
	PlainTitles bool
}

// share resolves an option share: 0 means the default, a negative value none.
func share(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Org is a generated GitLab organisation: a top group with subgroups, projects, users, merge
// requests with commits and notes, environments, deployments and pipelines. It is safe for
// concurrent use: the server reads it while Advance adds activity.
type Org struct {
	mu  sync.RWMutex
	opt GenOptions
	r   rnd

	start time.Time
	now   time.Time

	top      *group
	groups   []*group
	projects []*project
	users    []*user
	humans   []*user
	renovate *user
	deployer *user // the CD system's user for API-created deployments

	userByID    map[int64]*user
	groupByID   map[int64]*group
	groupByPath map[string]*group
	projByID    map[int64]*project
	projByPath  map[string]*project

	nextID struct{ mr, note, deploy, job, pipeline, env int64 }

	pendNotes lazyIDs[*note]
	pendPipes lazyIDs[*pipeline]
	pendDeps  lazyIDs[*deployment]
	pendMRs   []plannedMR
	pendRels  []plannedRelease
	slotEnd   time.Time // end of the hour simulate is planning

	watchers []watcher // servers sending webhooks of what happens (hook_events.go)

	// Pulse's state (live.go): steps taken, MRs it opened and not merged yet, the project whose
	// merge it ships next.
	pulses   int
	liveOpen []*mergeRequest
	liveShip *project
}

// plannedRelease is a release that follows from another event: a deploy of an MR's branch
// before its merge (mr set), or the release of the default branch just after that merge.
type plannedRelease struct {
	at      time.Time
	p       *project
	mr      *mergeRequest
	dur     time.Duration // the deploy job's duration, for a deploy before merge
	mergeAt time.Time
}

// plannedMR is an MR that follows from another event (a hotfix after a rollback); it is
// created when the simulation reaches its instant.
type plannedMR struct {
	at     time.Time
	p      *project
	kind   mrKind
	author *user
}

// WebBase is the instance URL used in web_url fields.
const WebBase = "https://gitlab.acme.example"

// Generate builds an organisation deterministically from opt.Seed: the structure first, then
// opt.Days of activity simulated hour by hour up to opt.End.
func Generate(opt GenOptions) *Org {
	if opt.End.IsZero() {
		opt.End = time.Now().UTC().Truncate(24 * time.Hour)
	}
	opt.End = opt.End.UTC()
	if opt.Days <= 0 {
		opt.Days = 90
	}
	if opt.Services <= 0 {
		opt.Services = 12
	}
	if opt.Scale <= 0 {
		opt.Scale = 1
	}
	opt.DeployBeforeMerge = share(opt.DeployBeforeMerge, 1.0/3)
	opt.TechDebt = share(opt.TechDebt, 0.2)
	opt.SharedWork = share(opt.SharedWork, 0.15)
	o := &Org{
		opt:         opt,
		r:           newRnd(opt.Seed),
		userByID:    map[int64]*user{},
		groupByID:   map[int64]*group{},
		groupByPath: map[string]*group{},
		projByID:    map[int64]*project{},
		projByPath:  map[string]*project{},
	}
	o.pendNotes.at = (*note).createdAtTime
	o.pendPipes.at = (*pipeline).createdAtTime
	o.pendDeps.at = (*deployment).createdAtTime
	o.start = opt.End.Add(-time.Duration(opt.Days) * 24 * time.Hour)
	o.now = o.start
	o.nextID.mr = 20000
	o.nextID.note = 900000
	o.nextID.deploy = 40000
	o.nextID.job = 7000000
	o.nextID.pipeline = 1200000
	o.nextID.env = 500
	o.build()
	o.simulate(o.start, opt.End)
	o.now = opt.End
	return o
}

// Now is the organisation's current instant: nothing after it is visible.
func (o *Org) Now() time.Time {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.now
}

// Start is the beginning of the generated history (End minus Days).
func (o *Org) Start() time.Time { return o.start }

// Advance moves the clock forward by d and adds the activity of that span: new MRs, notes,
// approvals and pushes (some force-pushes) on open MRs, merges, deployments and pipelines.
// Activity planned earlier (an open MR's review) becomes visible as the clock passes it.
func (o *Org) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	o.mu.Lock()
	from := o.now
	o.simulate(o.now, o.now.Add(d))
	o.now = o.now.Add(d)
	evs, tell := o.movedLocked(from, o.now)
	o.mu.Unlock()
	tellWatchers(evs, tell) // the servers' webhooks
}

// AdvanceTo advances the clock to t (nothing happens if t is not after Now).
func (o *Org) AdvanceTo(t time.Time) {
	o.mu.Lock()
	from := o.now
	if t.After(o.now) {
		o.simulate(o.now, t)
		o.now = t
	}
	evs, tell := o.movedLocked(from, o.now)
	o.mu.Unlock()
	tellWatchers(evs, tell)
}

// Live advances the organisation by step every interval until ctx is done, for a demo that
// shows new activity while it runs. With step equal to interval the org keeps real time.
func (o *Org) Live(ctx context.Context, interval, step time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			o.Advance(step)
		}
	}
}

// BotUsernames are the usernames the ground truth treats as bots through configuration
// (`[bots] usernames`), beside GitLab's bot flag and the built-in patterns.
func (o *Org) BotUsernames() []string { return []string{"renovate-bot"} }

// TopGroup is the full path of the organisation's top group (e.g. "acme").
func (o *Org) TopGroup() string { return o.top.fullPath }

var firstNames = []string{"Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
	"Katja", "Luca", "Mira", "Noah", "Olga", "Paul", "Rosa", "Sami", "Tara", "Umar", "Vera", "Willem",
	"Yara", "Zoe", "Marco", "Lena", "Pieter", "Sofia", "Tomas", "Aisha", "Kenji", "Priya", "Diego",
	"Chloé", "Jürgen", "Małgorzata"}
var lastNames = []string{"Borg", "Camilleri", "Schmidt", "Rossi", "Dubois", "Novak", "Jansen", "Silva",
	"Kowalski", "Nielsen", "Ortega", "Fischer", "Moreau", "Vella", "Costa", "Berg", "Ito", "Sharma", "Okafor",
	"Lindqvist"}

// Offsets (seconds east of UTC) for commit dates, mostly European, some American and Asian.
var tzOffsets = []int{3600, 3600, 3600, 7200, 7200, 0, 0, -5 * 3600, -8 * 3600, 19800, 10800, 32400}

type serviceSpec struct {
	group, name string
	kind        projectKind
	mrs, rel    float64
	coverage    bool
	branch      string
}

var serviceSpecs = []serviceSpec{
	// rel is the rate of release attempts; a release with nothing new to ship is skipped, so
	// about 60-70% of attempts become deployments (calibrated to ~40 a weekday at Scale 1).
	{"", "monolith", kindMonolith, 24, 26, true, "master"},
	{"platform", "api-gateway", kindService, 4.5, 2.4, true, "main"},
	{"data", "etl", kindAPIDeploys, 3.5, 2.2, false, "main"},
	{"data", "reporting", kindNoTier, 3, 1.8, true, "master"},
	{"commerce", "search", kindLateProd, 4, 2.4, true, "main"},
	{"commerce", "payments-api", kindService, 5, 2.7, true, "main"},
	{"platform", "auth", kindService, 3.5, 2.1, true, "main"},
	{"commerce", "checkout-web", kindService, 4.5, 2.4, true, "main"},
	{"platform", "notifications", kindService, 3, 1.8, false, "main"},
	{"commerce", "catalog", kindService, 4, 2.2, true, "main"},
	{"mobile", "bff", kindService, 3.5, 2, true, "main"},
	{"commerce", "payments-worker", kindService, 3, 1.7, true, "main"},
}

func (o *Org) newGroup(id int64, name string, parent *group) *group {
	g := &group{id: id, name: name, path: strings.ToLower(name), parent: parent}
	g.fullPath = g.path
	if parent != nil {
		g.fullPath = parent.fullPath + "/" + g.path
	}
	o.groups = append(o.groups, g)
	o.groupByID[g.id] = g
	o.groupByPath[g.fullPath] = g
	return g
}

func (o *Org) newUser(id int64, username, name string, bot bool) *user {
	u := &user{id: id, username: username, name: name, bot: bot, tzOffset: pick(o.r, tzOffsets),
		createdAt: o.start.Add(-time.Duration(400+o.r.IntN(1500)) * 24 * time.Hour)}
	o.users = append(o.users, u)
	o.userByID[id] = u
	return u
}

// build creates the static shape: groups, users, projects and environments.
func (o *Org) build() {
	r := o.r
	o.top = o.newGroup(71, "acme", nil)
	sub := map[string]*group{"": o.top}
	for i, n := range []string{"platform", "commerce", "data", "mobile"} {
		sub[n] = o.newGroup(int64(72+i), n, o.top)
	}
	partners := o.newGroup(305, "partners", nil)

	// Humans.
	uid := int64(1000)
	seen := map[string]bool{}
	for len(o.humans) < 36 {
		f, l := pick(r, firstNames), pick(r, lastNames)
		un := strings.ToLower(asciiFold(f) + "." + asciiFold(l))
		if seen[un] {
			continue
		}
		seen[un] = true
		uid += int64(1 + r.IntN(30))
		u := o.newUser(uid, un, f+" "+l, false)
		switch {
		case len(o.humans) == 7:
			u.gitEmail = gitEmailNone
		case r.chance(0.15):
			u.gitEmail = gitEmailCapitalised
		}
		o.humans = append(o.humans, u)
	}
	uid += 17
	// renovate-bot is an ordinary user account on self-managed GitLab: no bot flag, so only the
	// configured list catches it.
	o.renovate = o.newUser(uid, "renovate-bot", "Renovate Bot", false)
	uid += 3
	o.deployer = o.newUser(uid, "group_71_bot_5f3c9a0d2e", "Deploy Automation", true)

	// Projects.
	pid := int64(3100)
	nextPID := func() int64 { pid += int64(1 + r.IntN(40)); return pid }
	specs := append([]serviceSpec(nil), serviceSpecs...)
	for i := len(specs); i < o.opt.Services; i++ {
		specs = append(specs, serviceSpec{"platform", fmt.Sprintf("service-%02d", i+1), kindService, 3, 1.8, true, "main"})
	}
	specs = specs[:o.opt.Services]
	for _, s := range specs {
		o.newProject(nextPID(), sub[s.group], s)
	}
	o.newProject(nextPID(), sub["platform"], serviceSpec{"platform", "legacy-billing", kindArchived, 2, 0.8, true, "master"})
	o.newProject(nextPID(), partners, serviceSpec{"", "shared-lib", kindShared, 1.5, 0.5, true, "main"})

	// The teams that deploy before merge: a share of the services with one production
	// environment from the start.
	var single []*project
	for _, p := range o.projects {
		if p.kind == kindService || p.kind == kindAPIDeploys || p.kind == kindNoTier {
			single = append(single, p)
		}
	}
	n := int(o.opt.DeployBeforeMerge*float64(len(single)) + 0.5)
	for _, i := range r.Perm(len(single))[:min(n, len(single))] {
		// Most of their releases follow a merge of a branch deployed before it.
		single[i].beforeMerge = true
		single[i].releasesPerDay *= 0.3
	}
	o.assignMembers()
}

func asciiFold(s string) string {
	r := strings.NewReplacer("é", "e", "ü", "ue", "ł", "l", "ó", "o")
	return r.Replace(s)
}

func (o *Org) newProject(id int64, g *group, s serviceSpec) *project {
	r := o.r
	p := &project{id: id, name: s.name, path: s.name, group: g, defaultBranch: s.branch, kind: s.kind,
		mrPerDay: s.mrs, releasesPerDay: s.rel, hasCoverage: s.coverage,
		pipeByID: map[int64]*pipeline{}, deployByID: map[int64]*deployment{},
		createdAt: o.start.Add(-time.Duration(200+r.IntN(600)) * 24 * time.Hour)}
	p.fullPath = g.fullPath + "/" + p.path
	p.coverageBase = 82 + r.Float64()*12
	p.coverage = p.coverageBase
	p.coverageDrift = (r.Float64() - 0.5) * 0.02
	p.initialSHA = r.sha()
	p.initialAt = o.start.Add(-time.Duration(30+r.IntN(300)) * 24 * time.Hour)
	p.nextIID = int64(r.IntN(400)) // history before the window: iids do not start at 1
	p.nextDeployIID = int64(r.IntN(300))
	p.nextPipeIID = int64(r.IntN(3000))
	switch s.kind {
	case kindArchived:
		p.archived = true
		p.activeUntil = o.start.Add(time.Duration(o.opt.Days) * 24 * time.Hour / 3)
	case kindShared:
		p.shared = true
	}
	// Team: 4-9 humans, overlapping between projects.
	n := 4 + r.IntN(6)
	if s.kind == kindMonolith {
		n = 16
	}
	perm := r.Perm(len(o.humans))
	for _, i := range perm[:n] {
		p.team = append(p.team, o.humans[i])
	}
	p.bot = o.newUser(20000+id, fmt.Sprintf("project_%d_bot_%s", id, r.sha()[:10]), p.name+" bot", true)

	env := func(name, tier string, prod, releases bool, startAt time.Time) *environment {
		o.nextID.env += int64(1 + r.IntN(5))
		e := &environment{id: o.nextID.env, project: p, name: name, tier: tier, state: "available",
			externalURL: "https://" + strings.ReplaceAll(name, "/", "-") + "." + p.name + ".acme.example",
			createdAt:   minTime(startAt, o.start).Add(-time.Duration(1+r.IntN(100)) * time.Hour),
			production:  prod, releases: releases, startAt: startAt}
		if startAt.After(o.start) {
			e.createdAt = startAt.Add(-time.Duration(1+r.IntN(48)) * time.Hour)
		}
		p.envs = append(p.envs, e)
		return e
	}
	late := func(frac float64) time.Time {
		return o.start.Add(time.Duration(float64(o.opt.Days)*frac) * 24 * time.Hour)
	}
	switch s.kind {
	case kindMonolith:
		env("staging", "staging", false, true, o.start)
		env("production/checkout", "production", true, true, o.start)
		env("production/payments", "production", true, true, late(0.3))
	case kindNoTier:
		env("staging", "", false, true, o.start)
		env("prod/eu", "", true, true, o.start)
	case kindLateProd:
		env("staging", "staging", false, true, o.start)
		env("production", "production", true, true, late(0.45))
	case kindShared, kindArchived:
		env("production", "production", true, true, o.start)
	default:
		env("staging", "staging", false, true, o.start)
		env("production", "production", true, true, o.start)
		if r.chance(0.4) {
			for _, b := range []string{"review/feature-login", "review/fix-cart"} {
				e := env(b, "development", false, false, o.start)
				e.state = "stopped"
			}
		}
	}
	o.projects = append(o.projects, p)
	o.projByID[p.id] = p
	o.projByPath[p.fullPath] = p
	return p
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func weekend(t time.Time) bool {
	wd := t.Weekday()
	return wd == time.Saturday || wd == time.Sunday
}

// mrWeight is the relative rate of MR creation in the hour starting at t (UTC).
func mrWeight(t time.Time) float64 {
	if weekend(t) {
		return 0.04
	}
	switch h := t.Hour(); {
	case h >= 7 && h < 18:
		return 1
	case h >= 18 && h < 22:
		return 0.15
	default:
		return 0.03
	}
}

const mrWeightDay = 11 + 4*0.15 + 9*0.03

// deployWeight is the relative rate of releases in the hour starting at t: mostly inside
// 09:00-17:30 Central European time (08:00-16:30 UTC).
func deployWeight(t time.Time) float64 {
	if weekend(t) {
		return 0 // releases happen on weekdays; weekend merges wait for Monday
	}
	switch h := t.Hour(); {
	case h >= 8 && h < 16:
		return 1
	case h == 16:
		return 0.55
	case h == 6 || h == 7 || (h >= 17 && h < 20):
		return 0.05
	default:
		return 0.005
	}
}

const deployWeightDay = 8 + 0.55 + 5*0.05 + 10*0.005

// work moves an instant that falls at night or on a weekend into the next working morning,
// most of the time: people review and merge during working hours.
func (o *Org) work(t time.Time) time.Time {
	h := t.Hour()
	if !weekend(t) && h >= 7 && h < 19 {
		return t
	}
	if o.r.chance(0.15) {
		return t
	}
	d := t.Truncate(24 * time.Hour)
	if h >= 19 {
		d = d.Add(24 * time.Hour)
	}
	for weekend(d) {
		d = d.Add(24 * time.Hour)
	}
	return d.Add(7*time.Hour + o.r.between(0, 3*time.Hour))
}

func (p *project) activeAt(t time.Time) bool {
	return p.activeUntil.IsZero() || t.Before(p.activeUntil)
}

// simulate plans the activity of [from, to) hour by hour and hands out ids to everything
// created up to to.
func (o *Org) simulate(from, to time.Time) {
	r := o.r
	type newMR struct {
		at     time.Time
		p      *project
		kind   mrKind
		author *user
	}
	for slot := from.Truncate(time.Hour); slot.Before(to); slot = slot.Add(time.Hour) {
		a, b := maxTime(slot, from), minTime(slot.Add(time.Hour), to)
		if !a.Before(b) {
			continue
		}
		o.slotEnd = b
		frac := float64(b.Sub(a)) / float64(time.Hour)
		span := b.Sub(a)
		var batch []newMR
		for _, p := range o.projects {
			if !p.activeAt(a) {
				continue
			}
			lam := p.mrPerDay * o.opt.Scale * mrWeight(slot) / mrWeightDay * frac
			for range r.poisson(lam) {
				batch = append(batch, newMR{a.Add(r.between(0, span)), p, kindFeature, nil})
			}
			// Dependency updates and the project bot's MRs.
			for range r.poisson(0.5 * o.opt.Scale * mrWeight(slot) / mrWeightDay * frac) {
				batch = append(batch, newMR{a.Add(r.between(0, span)), p, kindRenovate, o.renovate})
			}
			for range r.poisson(0.12 * o.opt.Scale * mrWeight(slot) / mrWeightDay * frac) {
				batch = append(batch, newMR{a.Add(r.between(0, span)), p, kindProjectBot, p.bot})
			}
		}
		rest := o.pendMRs[:0]
		for _, pm := range o.pendMRs {
			if pm.at.Before(b) {
				batch = append(batch, newMR(pm))
			} else {
				rest = append(rest, pm)
			}
		}
		o.pendMRs = rest
		sort.SliceStable(batch, func(i, j int) bool { return batch[i].at.Before(batch[j].at) })
		for _, n := range batch {
			o.planMR(n.p, n.at, n.kind, n.author)
		}

		// Releases, after the MRs so that every merge before a release is known.
		var rels []plannedRelease
		for _, p := range o.projects {
			if !p.activeAt(a) {
				continue
			}
			lam := p.releasesPerDay * o.opt.Scale * deployWeight(slot) / deployWeightDay * frac
			for range r.poisson(lam) {
				rels = append(rels, plannedRelease{at: a.Add(r.between(0, span)), p: p})
			}
			// Nightly scheduled pipeline on the default branch.
			if p.hasCoverage && !weekend(slot) && slot.Hour() == 2 && !slot.Before(from) {
				sha, _ := p.headAt(slot)
				o.newPipeline(p, p.defaultBranch, sha, "schedule", slot.Add(r.between(0, 10*time.Minute)), nil)
			}
		}
		pend := o.pendRels[:0]
		for _, pr := range o.pendRels {
			if pr.at.Before(b) {
				rels = append(rels, pr)
			} else {
				pend = append(pend, pr)
			}
		}
		o.pendRels = pend
		sort.SliceStable(rels, func(i, j int) bool { return rels[i].at.Before(rels[j].at) })
		for _, x := range rels {
			if x.mr != nil {
				o.deployBeforeMerge(x)
			} else {
				o.release(x.p, x.at)
			}
		}
		o.assignIDs(b)
	}
	o.assignIDs(to)
}

func (o *Org) assignIDs(t time.Time) {
	o.pendNotes.popUntil(t, func(n *note) { o.nextID.note += int64(1 + o.r.IntN(40)); n.id = o.nextID.note })
	o.pendPipes.popUntil(t, func(p *pipeline) {
		o.nextID.pipeline += int64(1 + o.r.IntN(6))
		p.id = o.nextID.pipeline
		p.project.pipeByID[p.id] = p
		p.project.nextPipeIID++
		p.iid = p.project.nextPipeIID
	})
	o.pendDeps.popUntil(t, func(d *deployment) {
		o.nextID.deploy += int64(1 + o.r.IntN(4))
		d.id = o.nextID.deploy
		d.project.deployByID[d.id] = d
		d.project.nextDeployIID++
		d.iid = d.project.nextDeployIID
		if !d.api {
			o.nextID.job += int64(1 + o.r.IntN(50))
			d.jobID = o.nextID.job
		}
	})
}

// release ships the default branch head: staging first where there is one, then each
// production environment in turn.
func (o *Org) release(p *project, t time.Time) {
	r := o.r
	sha, shaAt := p.headAt(t)
	var prods []*environment
	for _, e := range p.envs {
		if !e.releases || t.Before(e.startAt) {
			continue
		}
		if !e.production {
			d := o.newDeployment(e, t, sha, shaAt, pickStatus(r, 0.97, 0.02))
			t = d.finished.Add(r.between(3*time.Minute, 15*time.Minute))
			if d.status == "success" {
				o.succeed(d)
			}
			continue
		}
		prods = append(prods, e)
	}
	for i, e := range prods {
		if i > 0 && r.chance(0.05) {
			continue // one split environment released alone
		}
		d := o.deployProd(e, t, sha, shaAt)
		if d != nil {
			t = d.finished.Add(r.between(time.Minute, 4*time.Minute))
		}
	}
}

func pickStatus(r rnd, success, failed float64) string {
	switch r.weighted(success, failed, 1-success-failed) {
	case 0:
		return "success"
	case 1:
		return "failed"
	default:
		return "canceled"
	}
}

func (o *Org) deployProd(e *environment, t time.Time, sha string, shaAt time.Time) *deployment {
	r := o.r
	p := e.project
	if t.Before(e.holdUntil) {
		return nil // a branch deployed before its merge is being watched
	}
	if last := e.lastMain; last != nil && last.shaAt.After(shaAt) {
		return nil // a newer version went out while this release waited for staging
	}
	if last := e.lastSuccess; last != nil && last.ref != p.defaultBranch && last.createdAt.After(shaAt) {
		return nil // it would undo a branch deployed before merge since the SHA was taken
	}
	if last := e.lastSuccess; last != nil && last.sha == sha && !r.chance(0.12) {
		return nil // nothing new to ship; now and then a plain redeploy of the same SHA
	}
	prev := e.lastMain
	d := o.newDeployment(e, t, sha, shaAt, pickStatus(r, 0.93, 0.05))
	for tries := 0; d.status != "success" && tries < 3; tries++ {
		d = o.newDeployment(e, d.finished.Add(r.between(8*time.Minute, 40*time.Minute)), sha, shaAt, pickStatus(r, 0.9, 0.08))
	}
	if d.status != "success" {
		return d
	}
	o.succeed(d)
	// Now and then the release goes wrong: roll back to the previous version, then hotfix.
	if prev != nil && prev.sha != sha && len(d.links) > 0 && r.chance(0.02) {
		rb := o.newDeployment(e, d.finished.Add(r.between(15*time.Minute, 90*time.Minute)), prev.sha, prev.shaAt, "success")
		rb.rollback = true
		o.succeed(rb)
		author := d.links[r.IntN(len(d.links))].author
		if author.bot || author == o.renovate {
			author = pick(r, p.team)
		}
		// Not before the end of the hour being simulated: its releases are already planned, and
		// a merge among them would be missing from their SHAs.
		at := maxTime(rb.finished.Add(r.between(5*time.Minute, 40*time.Minute)), o.slotEnd)
		o.pendMRs = append(o.pendMRs, plannedMR{at, p, kindHotfix, author})
		return rb
	}
	return d
}

// deployBeforeMerge deploys an MR's branch at its head to the project's production
// environment before the planned merge, holds other releases until the merge, and plans the
// release of the default branch just after it. Nothing is deployed when the environment is
// busy or on hold, or has no default-branch deployment yet; then the MR is simply merged.
func (o *Org) deployBeforeMerge(x plannedRelease) {
	r := o.r
	m := x.mr
	var e *environment
	for _, env := range x.p.envs {
		if env.production && env.releases && !x.at.Before(env.startAt) {
			e = env
			break
		}
	}
	if e == nil || e.lastMain == nil || x.at.Before(e.holdUntil) || !e.busyUntil.Before(x.at) {
		return
	}
	d := o.newBranchDeployment(e, x.at, m, x.dur)
	if !d.dbFinished.Add(time.Minute).Before(x.mergeAt) {
		d.status = "canceled" // it would not have finished before the merge
		return
	}
	o.succeed(d)
	e.holdUntil = x.mergeAt
	if r.chance(0.6) { // released at once after the merge, else with the next release
		o.pendRels = append(o.pendRels, plannedRelease{at: x.mergeAt.Add(r.between(8*time.Minute, 20*time.Minute)), p: x.p})
	}
}

func (o *Org) newDeployment(e *environment, t time.Time, sha string, shaAt time.Time, status string) *deployment {
	return o.deploy(e, t, nil, sha, shaAt, status, 0)
}

// newBranchDeployment deploys m's source branch at its head, in a job of duration dur.
func (o *Org) newBranchDeployment(e *environment, t time.Time, m *mergeRequest, dur time.Duration) *deployment {
	return o.deploy(e, t, m, m.headSHA(t), t, "success", dur)
}

// deploy creates a deployment of the default branch, or of m's source branch when m is set;
// dur 0 draws the job's duration.
func (o *Org) deploy(e *environment, t time.Time, m *mergeRequest, sha string, shaAt time.Time, status string, dur time.Duration) *deployment {
	r := o.r
	p := e.project
	start := maxTime(t, e.busyUntil.Add(time.Minute)).Truncate(time.Millisecond)
	d := &deployment{project: p, env: e, ref: p.defaultBranch, sha: sha, shaAt: shaAt, status: status,
		createdAt: start, api: p.kind == kindAPIDeploys}
	if m != nil {
		d.ref = m.sourceBranch
	}
	if d.api {
		d.startedAt = start
		d.user = o.deployer
	} else {
		d.startedAt = start.Add(r.between(5*time.Second, 60*time.Second)).Truncate(time.Millisecond)
		d.user = pick(r, p.team)
		d.jobName = "deploy:" + e.slug()
		if m == nil {
			d.pipeline = o.pipelineFor(p, sha, start)
		} else {
			for _, pl := range m.pipelines {
				if pl.sha == sha && !pl.createdAt.After(start) {
					d.pipeline = pl
				}
			}
		}
	}
	if dur == 0 {
		dur = r.logn(4*time.Minute, 0.5)
		if status == "canceled" {
			dur = r.between(20*time.Second, 2*time.Minute)
		}
	}
	d.finished = d.startedAt.Add(dur).Truncate(time.Millisecond)
	d.dbFinished = d.finished
	if !d.api {
		d.dbFinished = d.finished.Add(r.between(0, 2*time.Second)).Truncate(time.Millisecond)
	}
	e.busyUntil = d.dbFinished
	e.chain = append(e.chain, d)
	p.deployments = append(p.deployments, d)
	o.pendDeps.push(d)
	return d
}

// succeed records GitLab's deployment-MR links: the MRs merged between the previous
// successful deployment's SHA and this one; for an environment's first deployment, every MR
// merged into the branch by the time the linking job runs. Links appear a few minutes later.
//
// A deployment of another branch (a deploy before merge) links nothing: GitLab links such an
// MR only to the next deployment of the default branch after the merge.
func (o *Org) succeed(d *deployment) {
	e := d.env
	d.linkAt = d.dbFinished.Add(o.r.between(2*time.Minute, 10*time.Minute)).Truncate(time.Millisecond)
	d.first = e.lastSuccess == nil
	e.lastSuccess = d
	if d.ref != d.project.defaultBranch {
		return
	}
	if prev := e.lastMain; prev == nil {
		d.links = d.project.mergedBetween(time.Time{}, d.linkAt)
	} else if d.shaAt.After(prev.shaAt) {
		d.links = d.project.mergedBetween(prev.shaAt, d.shaAt)
	}
	e.lastMain = d
}

// pipelineFor finds the default-branch pipeline of sha, or starts one (a deployment of the
// initial commit, say).
func (o *Org) pipelineFor(p *project, sha string, t time.Time) *pipeline {
	for i := len(p.pipelines) - 1; i >= 0 && i >= len(p.pipelines)-400; i-- {
		if pl := p.pipelines[i]; pl.sha == sha && pl.ref == p.defaultBranch && !pl.createdAt.After(t) {
			return pl
		}
	}
	for _, m := range p.merges {
		if m.mergeSHA == sha {
			for _, pl := range m.pipelines {
				if pl.ref == p.defaultBranch {
					return pl
				}
			}
		}
	}
	return o.newPipeline(p, p.defaultBranch, sha, "web", t.Add(-time.Duration(2+o.r.IntN(20))*time.Minute), nil)
}

func (o *Org) newPipeline(p *project, ref, sha, source string, t time.Time, u *user) *pipeline {
	r := o.r
	pl := &pipeline{project: p, ref: ref, sha: sha, source: source, createdAt: t.Truncate(time.Millisecond), user: u}
	if pl.user == nil {
		pl.user = pick(r, p.team)
	}
	pl.status = pickStatus(r, 0.9, 0.07)
	pl.startedAt = pl.createdAt.Add(r.between(3*time.Second, 90*time.Second)).Truncate(time.Millisecond)
	pl.finished = pl.startedAt.Add(r.logn(11*time.Minute, 0.4)).Truncate(time.Millisecond)
	if pl.status == "canceled" {
		pl.finished = pl.startedAt.Add(r.between(30*time.Second, 5*time.Minute)).Truncate(time.Millisecond)
	}
	if p.hasCoverage && (pl.status == "success" || (pl.status == "failed" && r.chance(0.5))) {
		pl.hasCoverage = true
		if ref == p.defaultBranch {
			// Coverage near 90%, drifting per service with a pull back towards the service's level.
			p.coverage += p.coverageDrift + 0.01*(p.coverageBase-p.coverage) + 0.25*r.NormFloat64()
			p.coverage = min(max(p.coverage, 55), 99.5)
			pl.coverage = round2(p.coverage)
		} else {
			pl.coverage = round2(min(max(p.coverage+0.6*r.NormFloat64(), 0), 100))
		}
	}
	p.pipelines = append(p.pipelines, pl)
	o.pendPipes.push(pl)
	return pl
}

func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}

// mrsPerScaleDay is about how many MRs (all projects, bots included) one day of history brings
// at Scale 1, weekends included.
const mrsPerScaleDay = 55.0

// ScaleFor returns the Scale that gives about mrs merge requests over days of history (with the
// default 12 services), e.g. ScaleFor(10000, 90) for a benchmark organisation.
func ScaleFor(mrs, days int) float64 {
	if days <= 0 {
		days = 90
	}
	return float64(mrs) / (mrsPerScaleDay * float64(days))
}
