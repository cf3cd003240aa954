package metrics

import (
	"regexp"
	"strings"

	"github.com/pacer-dev/pacer/config"
)

// resolver applies the configuration's naming and classification rules: services and teams
// (SPEC section 5) and rework MRs (section 3). Bots are store.BotRule's.
type resolver struct {
	group     map[string]string            // project path -> service grouping it
	split     map[string]map[string]string // project path -> environment name -> service
	teams     map[string]*config.Team
	reworkLbl map[string]bool // lower-case
	titles    []*regexp.Regexp
	branches  []*regexp.Regexp

	categories []category // investment categories, first match wins
}

func newResolver(cfg *config.Config) *resolver {
	r := &resolver{
		group:     map[string]string{},
		split:     map[string]map[string]string{},
		teams:     map[string]*config.Team{},
		reworkLbl: map[string]bool{},
		titles:    cfg.Rework.TitlePatterns,
		branches:  cfg.Rework.BranchPatterns,

		categories: newCategories(cfg),
	}
	for _, s := range cfg.Services {
		if len(s.Environments) > 0 {
			for _, p := range s.Projects {
				if r.split[p] == nil {
					r.split[p] = map[string]string{}
				}
				for _, env := range s.Environments {
					if _, dup := r.split[p][env]; !dup {
						r.split[p][env] = s.Name
					}
				}
			}
			continue
		}
		for _, p := range s.Projects {
			if _, dup := r.group[p]; !dup {
				r.group[p] = s.Name
			}
		}
	}
	for i := range cfg.Teams {
		r.teams[cfg.Teams[i].Name] = &cfg.Teams[i]
	}
	for _, l := range cfg.Rework.Labels {
		r.reworkLbl[strings.ToLower(l)] = true
	}
	return r
}

// team returns the named team, or nil.
func (r *resolver) team(name string) *config.Team {
	if name == "" {
		return nil
	}
	return r.teams[name]
}

// groupOf returns the configured service that groups the project at path, or "".
func (r *resolver) groupOf(path string) string { return r.group[path] }

// projectService is the service of a project's items that no environment split claims: the
// configured service grouping it, else its full path.
func (r *resolver) projectService(path string) string {
	if g := r.group[path]; g != "" {
		return g
	}
	return path
}

// environmentService is the service a deployment to environment env of project path belongs to.
func (r *resolver) environmentService(path, env string) string {
	if s := r.split[path][env]; s != "" {
		return s
	}
	return r.projectService(path)
}

// splitServices lists the services split out of the project at path by environment.
func (r *resolver) splitServices(path string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.split[path] {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// isRework says whether an MR is a rework MR by its labels, title or source branch.
func (r *resolver) isRework(labels []string, title, sourceBranch string) bool {
	return matchMR(r.reworkLbl, r.titles, r.branches, labels, title, sourceBranch)
}

// matchMR says whether one of an MR's labels is in lbls (lower-case whole names), its title
// matches one of titles, or its source branch one of branches: the shape of the rework and
// investment rules.
func matchMR(lbls map[string]bool, titles, branches []*regexp.Regexp, labels []string, title, sourceBranch string) bool {
	for _, l := range labels {
		if lbls[strings.ToLower(l)] {
			return true
		}
	}
	for _, re := range titles {
		if re.MatchString(title) {
			return true
		}
	}
	for _, re := range branches {
		if re.MatchString(sourceBranch) {
			return true
		}
	}
	return false
}

// category is one investment category's compiled rules.
type category struct {
	name     string
	rework   bool // the built-in rework category: the rework-MR rule
	techDebt bool // the category tech_debt_share counts
	labels   map[string]bool
	titles   []*regexp.Regexp
	branches []*regexp.Regexp
	catchAll bool
}

func newCategories(cfg *config.Config) []category {
	var out []category
	for _, c := range cfg.Investment.Categories {
		k := category{name: c.Name, rework: c.Rework, techDebt: config.IsTechDebt(c.Name), labels: map[string]bool{},
			titles: c.TitlePatterns, branches: c.BranchPatterns}
		for _, l := range c.Labels {
			k.labels[strings.ToLower(l)] = true
		}
		k.catchAll = !c.Rework && len(c.Labels) == 0 && len(c.Titles) == 0 && len(c.Branches) == 0
		out = append(out, k)
	}
	return out
}

// categoryOf is the index of the first investment category whose rules match the MR (the
// configuration ends with a catch-all, so one always does).
func (r *resolver) categoryOf(labels []string, title, sourceBranch string, rework bool) int {
	for i, c := range r.categories {
		switch {
		case c.catchAll:
			return i
		case c.rework:
			if rework {
				return i
			}
			continue
		}
		if matchMR(c.labels, c.titles, c.branches, labels, title, sourceBranch) {
			return i
		}
	}
	return len(r.categories) - 1
}
