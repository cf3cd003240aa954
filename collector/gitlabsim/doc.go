// Package gitlabsim is a GitLab REST v4 (and GraphQL) simulator over real HTTP and a generator of realistic
// organisations, with the ground truth a full sync must reproduce. Tests, `pacer demo` and the
// benchmarks use it. See docs/simulator.md for what it simulates and how faithfully.
//
// Generate builds an organisation from a seed (a top group "acme" with subgroups, about a dozen
// services, one monolith, an archived project and a project shared in from another group,
// users and bots, merge requests with commits, notes and approvals, environments, deployments
// and pipelines; some teams deploy before merge, some work is tech debt, some MRs are reverted).
// NewScenario builds a small organisation by hand instead. Org.Advance adds activity; Org.Truth reports what GitLab shows at Org.Now and
// the facts SPEC §3 derives from it.
//
// NewServer serves an Org on 127.0.0.1 (the API under URL()+"/api/v4"), with GitLab's paging
// headers (no totals), filter rules, entities and errors, plus optional injected faults and a
// request counter:
//
//	o := gitlabsim.Generate(gitlabsim.GenOptions{Seed: 1})
//	s := gitlabsim.NewServer(o, gitlabsim.ServerOptions{})
//	defer s.Close()
//	c, _ := gitlab.NewClient(gitlabsim.DefaultToken, gitlab.WithBaseURL(s.URL()+"/api/v4"))
//
// Endpoints (all GET, under /api/v4): /user, /users/:id, /groups/:id, /groups/:id/projects,
// /projects (the caller's projects), /projects/:id, /projects/:id/merge_requests,
// .../merge_requests/:iid, .../commits, .../notes, .../approvals, /projects/:id/environments,
// /projects/:id/deployments, .../deployments/:id, .../deployments/:id/merge_requests,
// /projects/:id/pipelines, .../pipelines/:id.
//
// Webhooks (hooks.go, hook_events.go): group and project hooks are registered through
// /groups/:id/hooks and /projects/:id/hooks (POST, PUT, DELETE too), and when the organisation
// moves (Advance, AdvanceTo, Live, Pulse) the server POSTs GitLab's merge request, pipeline and
// deployment events to them, with GitLab's headers. Org.Pulse (live.go) makes something happen
// now: an MR opened, merged, or deployed.
//
// POST /api/graphql serves the part of GitLab's GraphQL API that Pacer reads (graphql*.go, the
// schema subset in graphql_schema.graphql) from the same organisation, with GitLab's page-size,
// complexity, depth, size and time limits; ServerOptions.DisableGraphQL and Server.SetGraphQL
// turn it off.
//
// The server is also an OAuth 2.0 provider (oauth.go): /oauth/authorize shows a sign-in page
// listing the generated people, /oauth/token issues tokens (authorization code with PKCE,
// refresh), and those tokens act on the API as the person, who sees only the projects they are
// a member of (membership.go: Org.Users, Org.VisibleProjects).
package gitlabsim
