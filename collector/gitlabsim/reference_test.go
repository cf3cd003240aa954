package gitlabsim

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

// referenceSync is a deliberately plain full sync through client-go that derives the SPEC §3
// facts from the JSON the server sends. Comparing it with Org.Truth checks the server and the
// truth against each other: they are computed by separate code from separate inputs.
type referenceSync struct {
	t   *testing.T
	c   *gitlab.Client
	bot map[int64]bool
}

func (rs *referenceSync) isBot(id int64, username string, bots []string) bool {
	if b, ok := rs.bot[id]; ok {
		return b
	}
	u, _, err := rs.c.Users.GetUser(id, gitlab.GetUsersOptions{})
	if err != nil {
		rs.t.Fatalf("get user %d: %v", id, err)
	}
	b := u.Bot || regexp.MustCompile(`^(project|group)_\d+_bot|^service_account_`).MatchString(username) || slices.Contains(bots, username)
	rs.bot[id] = b
	return b
}

func scanAll[T any](t *testing.T, f func(gitlab.PaginationOptionFunc) ([]T, *gitlab.Response, error)) []T {
	t.Helper()
	out, err := gitlab.ScanAndCollect(f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func reworkMR(m *gitlab.BasicMergeRequest) bool {
	for _, l := range m.Labels {
		switch strings.ToLower(l) {
		case "hotfix", "bug", "incident", "regression", "revert", "rollback":
			return true
		}
	}
	title := strings.ToLower(m.Title)
	src := strings.ToLower(m.SourceBranch)
	return strings.HasPrefix(title, "revert") || strings.HasPrefix(title, "hotfix") ||
		regexp.MustCompile(`^(hotfix|revert)[/-]`).MatchString(src)
}

func categoryMR(m *gitlab.BasicMergeRequest) string {
	if reworkMR(m) {
		return "rework"
	}
	for _, l := range m.Labels {
		switch strings.ToLower(l) {
		case "tech-debt", "technical-debt", "tech debt", "refactor", "refactoring", "maintenance", "chore", "dependencies":
			return "tech debt"
		}
	}
	if regexp.MustCompile(`(?i)^(refactor|chore|build|ci|deps)(\(.+\))?!?:`).MatchString(m.Title) ||
		regexp.MustCompile(`^(refactor|chore|deps|maintenance)[/-]`).MatchString(m.SourceBranch) {
		return "tech debt"
	}
	return "feature"
}

// referenceReverts applies the "reverts" rule to one project's MRs: for each merged rework MR,
// the iids of the MRs merged before it that its title or its commits' messages name, sorted.
func referenceReverts(tms []*TruthMR, commits map[int64][]*gitlab.Commit) map[int64][]int64 {
	line := regexp.MustCompile(`This reverts commit ([0-9a-f]{40})`)
	out := map[int64][]int64{}
	for _, r := range tms {
		if r.MergedAt == nil || !r.Rework {
			continue
		}
		named := map[string]bool{}
		for _, c := range commits[r.IID] {
			for _, m := range line.FindAllStringSubmatch(c.Message, -1) {
				named[m[1]] = true
			}
		}
		for _, x := range tms {
			if x == r || x.MergedAt == nil || x.MergedAt.Unix() >= r.MergedAt.Unix() {
				continue
			}
			hit := r.Title == `Revert "`+x.Title+`"` || named[x.MergeCommitSHA] || named[x.SquashCommitSHA]
			for _, c := range commits[x.IID] {
				hit = hit || named[c.ID]
			}
			if hit {
				out[r.IID] = append(out[r.IID], x.IID)
			}
		}
		slices.Sort(out[r.IID])
	}
	return out
}

func (rs *referenceSync) run(group string, bots []string) *Truth {
	t, c := rs.t, rs.c
	out := &Truth{}
	projects := scanAll(t, func(p gitlab.PaginationOptionFunc) ([]*gitlab.Project, *gitlab.Response, error) {
		return c.Groups.ListGroupProjects(group, &gitlab.ListGroupProjectsOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
			IncludeSubGroups: gitlab.Ptr(true), Archived: gitlab.Ptr(false), WithShared: gitlab.Ptr(false), Simple: gitlab.Ptr(true)}, p)
	})
	prodRE := regexp.MustCompile(`^(production|prod)(/|$)`)
	for _, p := range projects {
		out.Projects = append(out.Projects, TruthProject{ID: p.ID, Path: p.PathWithNamespace, DefaultBranch: p.DefaultBranch})
		mrs := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.BasicMergeRequest, *gitlab.Response, error) {
			return c.MergeRequests.ListProjectMergeRequests(p.ID, &gitlab.ListProjectMergeRequestsOptions{
				ListOptions: gitlab.ListOptions{PerPage: 100}, State: gitlab.Ptr("all")}, o)
		})
		byIID := map[int64]*TruthMR{}
		raw := map[int64]*gitlab.BasicMergeRequest{}
		commitsOf := map[int64][]*gitlab.Commit{}
		var tms []*TruthMR
		for _, m := range mrs {
			tm := &TruthMR{ProjectID: p.ID, IID: m.IID, ID: m.ID, State: m.State, Title: m.Title, Draft: m.Draft,
				AuthorID: m.Author.ID, Author: m.Author.Username, Bot: rs.isBot(m.Author.ID, m.Author.Username, bots),
				SourceBranch: m.SourceBranch, TargetBranch: m.TargetBranch, Labels: append([]string{}, m.Labels...),
				CreatedAt: *m.CreatedAt, UpdatedAt: *m.UpdatedAt, MergedAt: m.MergedAt, ClosedAt: m.ClosedAt,
				MergeCommitSHA: m.MergeCommitSHA, SquashCommitSHA: m.SquashCommitSHA, UserNotesCount: int(m.UserNotesCount),
				Rework: reworkMR(m), HeadSHA: m.SHA, Category: categoryMR(m)}
			tm.InScope = m.State == "merged" && m.TargetBranch == p.DefaultBranch
			commits := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.Commit, *gitlab.Response, error) {
				return c.MergeRequests.GetMergeRequestCommits(p.ID, m.IID, &gitlab.GetMergeRequestCommitsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
			})
			tm.CommitCount = len(commits)
			tm.FirstCommitAt = *m.CreatedAt
			commitsOf[m.IID] = commits
			days := map[AuthorDay]bool{}
			for _, cm := range commits {
				if tm.MinAuthoredAt == nil || cm.AuthoredDate.Before(*tm.MinAuthoredAt) {
					tm.MinAuthoredAt = cm.AuthoredDate
				}
				id := strings.ToLower(cm.AuthorEmail)
				if id == "" {
					id = strings.ToLower(cm.AuthorName)
				}
				y, mo, d := cm.AuthoredDate.UTC().Date()
				days[AuthorDay{id, time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)}] = true
			}
			for ad := range days {
				tm.AuthorDays = append(tm.AuthorDays, ad)
			}
			sort.Slice(tm.AuthorDays, func(i, j int) bool {
				a, b := tm.AuthorDays[i], tm.AuthorDays[j]
				return a.Identity < b.Identity || a.Identity == b.Identity && a.Day.Before(b.Day)
			})
			if tm.MinAuthoredAt != nil && tm.MinAuthoredAt.Before(*m.CreatedAt) {
				tm.FirstCommitAt = *tm.MinAuthoredAt
			}
			notes := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.Note, *gitlab.Response, error) {
				return c.Notes.ListMergeRequestNotes(p.ID, m.IID, &gitlab.ListMergeRequestNotesOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
			})
			for _, n := range notes { // newest first: keep the earliest
				if n.Author.ID == m.Author.ID || rs.isBot(n.Author.ID, n.Author.Username, bots) {
					continue
				}
				if m.MergedAt != nil && n.CreatedAt.After(*m.MergedAt) {
					continue
				}
				at := *n.CreatedAt
				if n.System && n.Body == "approved this merge request" {
					if tm.FirstApprovalAt == nil || at.Before(*tm.FirstApprovalAt) {
						tm.FirstApprovalAt = &at
					}
				}
				if !n.System || n.Body == "approved this merge request" {
					if tm.FirstReviewAt == nil || at.Before(*tm.FirstReviewAt) {
						tm.FirstReviewAt = &at
					}
				}
			}
			byIID[m.IID] = tm
			raw[m.IID] = m
			tms = append(tms, tm)
		}

		var envDeps [][]TruthDeployment
		envs := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.Environment, *gitlab.Response, error) {
			return c.Environments.ListEnvironments(p.ID, &gitlab.ListEnvironmentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
		})
		for _, e := range envs {
			prod := e.Tier == "production" || e.Tier == "" && prodRE.MatchString(e.Name)
			out.Environments = append(out.Environments, TruthEnvironment{ID: e.ID, ProjectID: p.ID, Name: e.Name, Tier: e.Tier, Production: prod})
			if !prod {
				continue
			}
			deps := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.Deployment, *gitlab.Response, error) {
				return c.Deployments.ListProjectDeployments(p.ID, &gitlab.ListProjectDeploymentsOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
					Environment: gitlab.Ptr(e.Name), Status: gitlab.Ptr("success")}, o)
			})
			var tds []TruthDeployment
			for _, d := range deps {
				td := TruthDeployment{ID: d.ID, IID: d.IID, ProjectID: p.ID, EnvironmentID: e.ID, Environment: e.Name, SHA: d.SHA, Ref: d.Ref}
				if d.Deployable.FinishedAt != nil {
					td.FinishedAt = *d.Deployable.FinishedAt
				} else {
					td.FinishedAt, td.API = *d.UpdatedAt, true
				}
				links := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.MergeRequest, *gitlab.Response, error) {
					return c.DeploymentMergeRequests.ListDeploymentMergeRequests(p.ID, d.ID, &gitlab.ListMergeRequestsOptions{ListOptions: gitlab.ListOptions{PerPage: 100}}, o)
				})
				for _, l := range links {
					td.LinkedIIDs = append(td.LinkedIIDs, l.IID)
				}
				slices.Sort(td.LinkedIIDs)
				tds = append(tds, td)
			}
			sort.SliceStable(tds, func(i, j int) bool { return tds[i].FinishedAt.Before(tds[j].FinishedAt) })
			envDeps = append(envDeps, tds)
		}
		reverts := referenceReverts(tms, commitsOf)
		for _, tds := range envDeps {
			firstAt := map[string]time.Time{}
			countedIn := map[int64]int{}
			done := map[int64]bool{}
			for i := range tds {
				d := &tds[i]
				d.First = i == 0
				if _, ok := firstAt[d.SHA]; !ok {
					firstAt[d.SHA] = d.FinishedAt
				}
				if i > 0 && d.SHA != tds[i-1].SHA && firstAt[d.SHA].Before(firstAt[tds[i-1].SHA]) {
					d.Rollback = true
				}
				d.Rework = d.Rollback
				fin := d.FinishedAt.Unix()
				var ships []int64
				early := map[int64]bool{}
				for _, iid := range d.LinkedIIDs {
					m := byIID[iid]
					if d.First && fin-m.MergedAt.Unix() > 7*24*3600 || fin < m.MergedAt.Unix() {
						continue
					}
					ships = append(ships, iid)
				}
				for _, m := range tms {
					if m.MergedAt != nil && m.SourceBranch == d.Ref && m.HeadSHA == d.SHA && fin > m.CreatedAt.Unix() && fin < m.MergedAt.Unix() {
						ships = append(ships, m.IID)
						early[m.IID] = true
					}
				}
				for _, iid := range ships {
					m := byIID[iid]
					if done[iid] {
						continue
					}
					done[iid] = true
					if m.DeployedAt == nil || d.FinishedAt.Before(*m.DeployedAt) {
						at := d.FinishedAt
						m.DeployedAt = &at
					}
					if m.Bot {
						continue
					}
					countedIn[iid] = i
					d.CountedIIDs = append(d.CountedIIDs, iid)
					if early[iid] {
						d.BeforeMergeIIDs = append(d.BeforeMergeIIDs, iid)
					}
					d.Rework = d.Rework || m.Rework
				}
				slices.Sort(d.CountedIIDs)
				slices.Sort(d.BeforeMergeIIDs)
			}
			for i := 1; i < len(tds); i++ {
				if !tds[i].Rework {
					continue
				}
				b := i - 1
				if !tds[i].Rollback {
					far := len(tds)
					for _, r := range tds[i].CountedIIDs {
						for _, x := range reverts[r] {
							if j, ok := countedIn[x]; ok && j < i && j < far {
								far = j
							}
						}
					}
					if far < len(tds) {
						b = far
					}
				}
				tds[i].Blames = tds[b].ID
				if tds[b].BlamedBy == 0 {
					tds[b].BlamedBy, tds[b].ChangeFailure = tds[i].ID, true
					s := tds[i].FinishedAt.Unix() - tds[b].FinishedAt.Unix()
					tds[b].RecoverySeconds = &s
				}
			}
			out.Deployments = append(out.Deployments, tds...)
		}
		for _, tm := range tms {
			tm.Reverts = reverts[tm.IID]
			if tm.MergedAt != nil {
				tm.stages() // the arithmetic of SPEC §3's stages, on the instants found here
			}
			out.MergeRequests = append(out.MergeRequests, *tm)
		}

		pipes := scanAll(t, func(o gitlab.PaginationOptionFunc) ([]*gitlab.PipelineInfo, *gitlab.Response, error) {
			return c.Pipelines.ListProjectPipelines(p.ID, &gitlab.ListProjectPipelinesOptions{ListOptions: gitlab.ListOptions{PerPage: 100},
				Ref: gitlab.Ptr(p.DefaultBranch)}, o)
		})
		for _, pl := range pipes {
			full, _, err := c.Pipelines.GetPipeline(p.ID, pl.ID)
			if err != nil {
				t.Fatal(err)
			}
			tp := TruthPipeline{ID: pl.ID, IID: pl.IID, ProjectID: p.ID, SHA: pl.SHA, Source: pl.Source, Status: pl.Status,
				CreatedAt: *pl.CreatedAt, UpdatedAt: *pl.UpdatedAt, FinishedAt: full.FinishedAt}
			if full.Coverage != "" {
				f, err := strconv.ParseFloat(full.Coverage, 64)
				if err != nil {
					t.Fatalf("coverage %q: %v", full.Coverage, err)
				}
				tp.Coverage = &f
			}
			out.Pipelines = append(out.Pipelines, tp)
		}
	}
	sort.Slice(out.Projects, func(i, j int) bool { return out.Projects[i].ID < out.Projects[j].ID })
	sort.Slice(out.Environments, func(i, j int) bool { return out.Environments[i].ID < out.Environments[j].ID })
	sort.Slice(out.Deployments, func(i, j int) bool { return out.Deployments[i].ID < out.Deployments[j].ID })
	sort.Slice(out.Pipelines, func(i, j int) bool { return out.Pipelines[i].ID < out.Pipelines[j].ID })
	sort.Slice(out.MergeRequests, func(i, j int) bool {
		a, b := out.MergeRequests[i], out.MergeRequests[j]
		return a.ProjectID < b.ProjectID || a.ProjectID == b.ProjectID && a.IID < b.IID
	})
	return out
}

// diffTruth describes the differences between two truths, empty when equal. Times compare as
// instants.
func diffTruth(want, got *Truth) []string {
	var d []string
	add := func(f string, a ...any) {
		if len(d) < 30 {
			d = append(d, fmt.Sprintf(f, a...))
		}
	}
	if len(want.Projects) != len(got.Projects) {
		add("projects: want %d, got %d", len(want.Projects), len(got.Projects))
	} else {
		for i := range want.Projects {
			if want.Projects[i] != got.Projects[i] {
				add("project %d: want %+v, got %+v", i, want.Projects[i], got.Projects[i])
			}
		}
	}
	if fmt.Sprint(want.Environments) != fmt.Sprint(got.Environments) {
		add("environments:\n want %+v\n got  %+v", want.Environments, got.Environments)
	}
	if len(want.MergeRequests) != len(got.MergeRequests) {
		add("merge requests: want %d, got %d", len(want.MergeRequests), len(got.MergeRequests))
	} else {
		for i := range want.MergeRequests {
			if w, g := fmt.Sprintf("%+v", norm(want.MergeRequests[i])), fmt.Sprintf("%+v", norm(got.MergeRequests[i])); w != g {
				add("MR:\n want %s\n got  %s", w, g)
			}
		}
	}
	if len(want.Deployments) != len(got.Deployments) {
		add("deployments: want %d, got %d", len(want.Deployments), len(got.Deployments))
	} else {
		for i := range want.Deployments {
			if w, g := fmt.Sprintf("%+v", norm(want.Deployments[i])), fmt.Sprintf("%+v", norm(got.Deployments[i])); w != g {
				add("deployment:\n want %s\n got  %s", w, g)
			}
		}
	}
	if len(want.Pipelines) != len(got.Pipelines) {
		add("pipelines: want %d, got %d", len(want.Pipelines), len(got.Pipelines))
	} else {
		for i := range want.Pipelines {
			if w, g := fmt.Sprintf("%+v", norm(want.Pipelines[i])), fmt.Sprintf("%+v", norm(got.Pipelines[i])); w != g {
				add("pipeline:\n want %s\n got  %s", w, g)
			}
		}
	}
	return d
}

// norm renders pointers and times by value so that %+v compares instants.
func norm(v any) string {
	switch x := v.(type) {
	case TruthMR:
		return fmt.Sprintf("%d!%d id=%d %s %q draft=%v author=%d/%s bot=%v %s->%s %v created=%s updated=%s merged=%s closed=%s %s/%s notes=%d commits=%d min=%s first=%s review=%s approval=%s deployed=%s rework=%v scope=%v",
			x.ProjectID, x.IID, x.ID, x.State, x.Title, x.Draft, x.AuthorID, x.Author, x.Bot, x.SourceBranch, x.TargetBranch, x.Labels,
			ts(&x.CreatedAt), ts(&x.UpdatedAt), ts(x.MergedAt), ts(x.ClosedAt), x.MergeCommitSHA, x.SquashCommitSHA, x.UserNotesCount,
			x.CommitCount, ts(x.MinAuthoredAt), ts(&x.FirstCommitAt), ts(x.FirstReviewAt), ts(x.FirstApprovalAt), ts(x.DeployedAt), x.Rework, x.InScope) +
			fmt.Sprintf(" head=%s cat=%s reverts=%v before=%v delivered=%s end=%s stages=%d/%d/%d/%s/%d days=%v",
				x.HeadSHA, x.Category, x.Reverts, x.BeforeMerge, ts(x.DeliveredAt), ts(x.ReviewEnd), x.CodingSeconds, x.PickupSeconds,
				x.ReviewSeconds, i64(x.DeploySeconds), x.CycleSeconds, x.AuthorDays)
	case TruthDeployment:
		rec := "-"
		if x.RecoverySeconds != nil {
			rec = strconv.FormatInt(*x.RecoverySeconds, 10)
		}
		return fmt.Sprintf("%d/%d p=%d env=%d/%s %s %s at=%s api=%v first=%v linked=%v counted=%v before=%v rb=%v rw=%v blames=%d blamed=%d cf=%v rec=%s",
			x.ID, x.IID, x.ProjectID, x.EnvironmentID, x.Environment, x.Ref, x.SHA, ts(&x.FinishedAt), x.API, x.First, x.LinkedIIDs, x.CountedIIDs,
			x.BeforeMergeIIDs, x.Rollback, x.Rework, x.Blames, x.BlamedBy, x.ChangeFailure, rec)
	case TruthPipeline:
		cov := "-"
		if x.Coverage != nil {
			cov = strconv.FormatFloat(*x.Coverage, 'f', -1, 64)
		}
		return fmt.Sprintf("%d/%d p=%d %s %s %s created=%s updated=%s finished=%s cov=%s", x.ID, x.IID, x.ProjectID, x.SHA, x.Source,
			x.Status, ts(&x.CreatedAt), ts(&x.UpdatedAt), ts(x.FinishedAt), cov)
	}
	return fmt.Sprint(v)
}

func i64(v *int64) string {
	if v == nil {
		return "nil"
	}
	return strconv.FormatInt(*v, 10)
}

func ts(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// TestTruthMatchesServedJSON: a plain sync of everything the server serves, with the SPEC
// rules applied to the JSON, equals the generator's truth, before and after Advance.
func TestTruthMatchesServedJSON(t *testing.T) {
	t.Parallel()
	o := Generate(GenOptions{Seed: 3, Days: 28, Services: 6, Scale: 0.4, End: time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)})
	s := NewServer(o, ServerOptions{})
	defer s.Close()
	rs := &referenceSync{t: t, c: newClient(t, s), bot: map[int64]bool{}}
	check := func(stage string) {
		want := o.Truth()
		got := rs.run(o.TopGroup(), o.BotUsernames())
		for _, d := range diffTruth(want, got) {
			t.Errorf("%s: %s", stage, d)
		}
		var deployed, first, rollbacks, old int
		for _, m := range want.MergeRequests {
			if m.DeployedAt != nil {
				deployed++
			}
		}
		for _, d := range want.Deployments {
			if d.First {
				first++
				old += len(d.LinkedIIDs) - len(d.CountedIIDs)
			}
			if d.Rollback {
				rollbacks++
			}
		}
		t.Logf("%s: %d MRs (%d deployed), %d deployments (%d first, %d old links ignored, %d rollbacks), %d pipelines, %d requests",
			stage, len(want.MergeRequests), deployed, len(want.Deployments), first, old, rollbacks, len(want.Pipelines), s.Requests())
		if deployed == 0 || first == 0 || old == 0 {
			t.Errorf("%s: the organisation lacks deployed MRs or first deployments with old links", stage)
		}
		// The new rules have something to work on: deploys before merge (and their MRs linked
		// again to a later deployment), reverts, blame beyond the previous deployment, tech debt,
		// commits by a second author.
		var before, relinked, reverting, far, techDebt, shared int
		prevOf := map[int64]int64{}
		byEnv := map[int64][]TruthDeployment{}
		for _, d := range want.Deployments {
			byEnv[d.EnvironmentID] = append(byEnv[d.EnvironmentID], d)
		}
		for _, ds := range byEnv {
			sort.SliceStable(ds, func(i, j int) bool { return ds[i].FinishedAt.Before(ds[j].FinishedAt) })
			for i := 1; i < len(ds); i++ {
				prevOf[ds[i].ID] = ds[i-1].ID
			}
			for _, d := range ds {
				before += len(d.BeforeMergeIIDs)
				relinked += len(d.LinkedIIDs) - len(d.CountedIIDs)
			}
		}
		for _, d := range want.Deployments {
			if d.Blames != 0 && d.Blames != prevOf[d.ID] {
				far++
			}
		}
		for _, m := range want.MergeRequests {
			if len(m.Reverts) > 0 {
				reverting++
			}
			if m.Category == CategoryTechDebt {
				techDebt++
			}
			ids := map[string]bool{}
			for _, a := range m.AuthorDays {
				ids[a.Identity] = true
			}
			if len(ids) > 1 {
				shared++
			}
		}
		t.Logf("%s: %d MRs deployed before merge, %d links not counted, %d reverting MRs, %d blames beyond the previous deployment, %d tech-debt MRs, %d MRs by several authors",
			stage, before, relinked, reverting, far, techDebt, shared)
		if before == 0 || reverting == 0 || techDebt == 0 || shared == 0 {
			t.Errorf("%s: the organisation lacks deploys before merge, reverts, tech debt or shared MRs", stage)
		}
	}
	check("generated")
	o.Advance(26 * time.Hour)
	check("advanced")
}
