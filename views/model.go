// Package views holds Pacer's templ components: the layout, the pages and their sections, the
// SVG charts, and the view models they render. Views format only what a handler hands them:
// no queries, no clock, nothing from web, store or collector.
package views

import (
	"strconv"
	"strings"
)

// PageMeta is what the layout needs on every page.
type PageMeta struct {
	Title   string // the page's own title, without the product name
	Nav     string // the nav entry to mark current: one of the Nav* constants
	Assets  Assets
	Filters FilterBar
	// Query is the filter part of the URL ("from=...&to=..."), carried by nav links so a
	// filter survives moving between pages.
	Query string
	// Version is shown in the footer.
	Version string
	// Notice, when set, is shown above the page's content: why the page is empty (nothing
	// has been synced yet) and what to do.
	Notice *Empty
	// Account is the signed-in person (nil when nobody signs in); Open, when set, is the
	// header's warning that the dashboard is open to anyone who reaches it.
	Account *Account
	Open    string
	// Synced says when the data was last synced ("Data synced 2 Mar 2026 14:05 CET"), ""
	// when the page has no data to speak of.
	Synced string
	// Zone is the display time zone's name (Europe/Paris); "" means UTC.
	Zone string
}

// ZoneNote names the time zone of the times on the page.
func ZoneNote(m PageMeta) string {
	if m.Zone == "" || m.Zone == "UTC" {
		return "Times in UTC"
	}
	return "Times in " + m.Zone + " (CSV and API in UTC)"
}

// ByOptions are the periods a view can be broken down by.
var ByOptions = []Option{{"week", "Week"}, {"day", "Day"}, {"month", "Month"}, {"quarter", "Quarter"}}

// SummaryText is the filter bar's state in a line, for its folded form on a phone.
func (f FilterBar) SummaryText() string {
	parts := []string{}
	for _, o := range f.Presets {
		if o.Value == f.Period && f.Period != "custom" {
			parts = append(parts, o.Label)
		}
	}
	if len(parts) == 0 {
		parts = append(parts, short(f.From)+" – "+short(f.To))
	}
	switch {
	case len(f.Chosen) > 1:
		parts = append(parts, strconv.Itoa(len(f.Chosen))+" services")
	case f.Service != "":
		parts = append(parts, short(f.Service))
	}
	if f.Team != "" {
		parts = append(parts, "team "+short(f.Team))
	}
	by := "week"
	for _, o := range ByOptions {
		if o.Value == f.By {
			by = o.Value
		}
	}
	return strings.Join(append(parts, "by "+by), " · ")
}

// short cuts what a request asked for to a length a summary line can show (an error page
// fills the filter bar with the request's own values, however long).
func short(s string) string {
	if r := []rune(s); len(r) > 30 {
		return string(r[:30]) + "…"
	}
	return s
}

// Assets are the cache-busted URLs of the static files.
type Assets struct {
	CSS  string
	JS   string
	Icon string
	// Script is Pacer's own script (instant chart tooltips); pages work without it.
	Script string
}

// Nav entries.
const (
	NavOverview   = "overview"
	NavCycleTime  = "cycle-time"
	NavReleases   = "releases"
	NavRework     = "rework"
	NavCoverage   = "coverage"
	NavApprovals  = "approvals"
	NavInvestment = "investment"
	NavAgreements = "agreements"
	NavCompare    = "compare"
	NavMRs        = "merge-requests"
	NavDeploys    = "deployments"
	NavSyncStatus = "sync"
	NavDigest     = "digest"
)

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key, Label, Path string
}

// NavItems is the main navigation, in order.
var NavItems = []NavItem{
	{NavOverview, "Overview", "/"},
	{NavCycleTime, "Cycle time", "/cycle-time"},
	{NavReleases, "Releases", "/releases"},
	{NavRework, "Rework", "/rework"},
	{NavCoverage, "Coverage", "/coverage"},
	{NavApprovals, "Approvals", "/approvals"},
	{NavInvestment, "Investment", "/investment"},
	{NavAgreements, "Agreements", "/agreements"},
	{NavCompare, "Compare", "/compare"},
	{NavMRs, "Merge requests", "/merge-requests"},
	{NavDeploys, "Deployments", "/deployments"},
	{NavDigest, "Digest", "/digest"},
	{NavSyncStatus, "Sync status", "/sync"},
}

// FilterBar is the state of the filter form.
type FilterBar struct {
	Action   string // the page's path; the form GETs it
	Period   string // a preset key or "custom"
	Presets  []Option
	From, To string // YYYY-MM-DD
	Service  string // "" for every service
	// Chosen are the services asked for when there are several (service=a&service=b): the
	// select then lets several be chosen, so a filter change keeps them all.
	Chosen   []string
	Services []Option
	Team     string
	Teams    []Option
	By       string // week | day
	// Hidden carries the list pages' predicates (rework=true ...) through a filter change.
	Hidden []Hidden
	// Hide is true on pages the filters do not apply to (sync status).
	Hide bool
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
}

// Hidden is a hidden form field.
type Hidden struct {
	Name, Value string
}

// Link is a labelled URL.
type Link struct {
	Label string
	Href  string
}

// Empty explains why a section has nothing to show and what to do about it.
type Empty struct {
	Title string
	Body  string
	// Steps are optional lines of advice, shown as a list.
	Steps []string
	// Code is an optional snippet (for example a .gitlab-ci.yml excerpt).
	Code string
	Link Link
}

// htmxConfig keeps htmx inside the Content-Security-Policy: no injected indicator <style>
// (site.css has those rules), no eval, no script tags from responses. Error responses (a bad
// filter, say) are swapped in like any other, so the user sees what was wrong.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":false}]}`

// DocumentTitle is the <title> of a page.
func DocumentTitle(m PageMeta) string {
	if m.Title == "" {
		return "Pacer"
	}
	return m.Title + " · Pacer"
}

func navHref(it NavItem, query string) string {
	// The sync status has no filters, and the digest has its own (a week and a scope).
	if query == "" || it.Key == NavSyncStatus || it.Key == NavDigest {
		return it.Path
	}
	return it.Path + "?" + query
}

// Card is one headline figure.
type Card struct {
	Label string
	Value string // "" when unknown
	N     string // "n = 42 MRs"
	Href  string // the items behind the figure
	Delta Delta
	Spark Spark
	Help  string // what the figure means, one sentence
	Text  bool   // the value is a name, not a number (set in a smaller size)
	// Band is the figure's DORA performance level, for the four keys; nil for others.
	Band *Band
}

// Band is a DORA performance level of a figure.
type Band struct {
	Level string // elite, high, high–medium, medium, low
	Class string // elite | high | medium | low
	Title string // the level's range and the source
}

// BandLegend is the DORA levels as the report gives them, one row per key.
type BandLegend struct {
	Source string
	Href   string
	Levels []string
	Rows   []BandRow
}

// BandRow is one key's levels.
type BandRow struct {
	Name  string
	Cells []string // aligned with the legend's Levels
}

// MRRow is one merge request, formatted.
type MRRow struct {
	Title      string
	Href       string // the MR's timeline in Pacer
	URL        string // on GitLab
	Ref        string // group/project!123
	Service    string
	Author     string
	AuthorHref string // the author's page; "" when per-person views are off
	Labels     []string
	Merged     string
	Delivered  string
	Coding     string
	Pickup     string
	Review     string
	Deploy     string // "–" when not deployed
	Cycle      string
	Rework     bool
	Unapproved bool
	// Category is the MR's investment category; CategoryHref lists the MRs of that category.
	Category     string
	CategoryHref string
	// BeforeMerge marks a deploy before merge: production ran the MR's branch before the merge.
	BeforeMerge bool
}

// MRTable is a table of merge requests.
type MRTable struct {
	ID    string
	Title string
	Rows  []MRRow
	CSV   string
	More  Link // "all 240 MRs" -> the list page
	// Expand, when set, shows more rows in place: Href is the section's own endpoint, which
	// HTMX swaps in; without JavaScript the link goes to More.Href instead.
	Expand Link
	Empty  Empty
	// Sorts, when set, make the headings of these columns links that sort the table (keys:
	// title, service, author, delivered, coding, pickup, review, deploy, cycle).
	Sorts map[string]SortHead
}

// DeploymentRow is one production deployment, formatted.
type DeploymentRow struct {
	Service       string
	Project       string
	Environment   string
	SHA           string // short
	Finished      string
	URL           string // the job on GitLab ("" when GitLab gave none)
	CommitURL     string // the deployed commit on GitLab
	MRs           []MRLink
	Rework        bool
	Rollback      bool
	ChangeFailure bool
	Recovery      string
	OutOfWindow   bool
	// Ref is the branch or tag deployed.
	Ref string
	// BlamedBy is the rework deployment that made this one a change failure; Blames is the
	// deployment this rework deployment blames. Empty Href: none.
	BlamedBy, Blames Link
}

// MRLink names an MR shipped by a deployment.
type MRLink struct {
	Label  string // !123
	Title  string
	Href   string // the MR's timeline in Pacer
	URL    string // on GitLab
	Rework bool
	// BeforeMerge: the deployment shipped it before it was merged.
	BeforeMerge bool
	// Reverts names the MRs it reverts ("!12").
	Reverts []string
}

// DeploymentTable is a table of deployments.
type DeploymentTable struct {
	ID    string
	Title string
	Rows  []DeploymentRow
	CSV   string
	More  Link
	Empty Empty
	// Sorts, as MRTable's (keys: finished, service, environment, mrs, recovery).
	Sorts map[string]SortHead
}

// OverviewPage is the landing page.
type OverviewPage struct {
	Range    string // "3 Aug – 26 Oct 2026"
	Headline string // what the cards compare
	Cards    []Card
	Bands    BandLegend // the DORA levels of the cards that carry one
	Charts   []Chart
	Empty    *Empty // nothing synced yet
	// Live is the URL the headline figures poll for news (it answers 204 while nothing
	// changed); empty: not polled.
	Live string
	// Now is the period still running so far, shown under the cards and kept up to date with
	// them; nil when the range has ended.
	Now *LiveNow
}

// LiveNow is the running period so far: what the cards (complete periods) do not show yet.
type LiveNow struct {
	Label       string // "So far this week (week of 23 Mar)"
	Deployments Link   // "12 production deployments", to the list
	Delivered   Link   // "30 MRs delivered", to the list
	Last        string // the last production deployment: "2026-03-25 09:00 UTC, acme/api to production"; empty: none
}

// CycleTimePage shows where the time between first commit and production goes.
type CycleTimePage struct {
	Range        string
	Cards        []Card
	Percentiles  Chart
	Stages       Chart
	Distribution Chart
	PerService   BarList
	Slowest      MRTable
}

// ReleasesPage shows how often each service releases, and when.
type ReleasesPage struct {
	Range      string
	Cards      []Card
	PerService BarList
	PerPeriod  Chart
	Heatmap    Heatmap
	Window     WindowSection
}

// WindowSection is the deploy-window view.
type WindowSection struct {
	Configured  bool
	Description string // "Mon–Fri 09:00–17:30 Europe/Paris"
	Rate        Chart
	Outside     DeploymentTable
	Empty       Empty
}

// ReworkPage shows where rework comes from.
type ReworkPage struct {
	Range       string
	Cards       []Card
	Explain     []Explanation // rework rate and change failure rate, side by side
	Rates       Chart
	Recovery    Chart
	PerService  BarList
	Deployments DeploymentTable
	Failures    DeploymentTable // change failures, each with the deployment that blamed it
}

// Explanation is one figure spelled out: what it counts, over what, with the range's value.
type Explanation struct {
	Name    string
	Formula string // "rework deployments ÷ deployments"
	Text    string
	Value   string // over the whole range
	N       string // "12 of 240 deployments"
	Href    string // the items counted
}

// CoveragePage shows coverage per service against the target.
type CoveragePage struct {
	Range      string
	Target     string
	PerService BarList
	Trend      Chart
	PerProject BarList
	// AllProjects, when set, leads back from a narrowed per-project table to every project.
	AllProjects Link
}

// ApprovalsPage shows how many MRs merge without an approval.
type ApprovalsPage struct {
	Range      string
	Cards      []Card
	Rate       Chart
	PerService BarList
	Unapproved MRTable
}

// SyncPage shows, per project, how the last sync went, and the webhooks' queue.
type SyncPage struct {
	Rows  []SyncRow
	Empty Empty
	Note  string
	Hooks SyncHooks
	// Live is the URL the page's status polls for news (it answers 204 while nothing
	// changed); empty: not polled.
	Live string
}

// SyncHooks is the state of the webhooks: the queue, the last delivery, the failing ones.
type SyncHooks struct {
	On       bool     // PACER_WEBHOOK_SECRET is set
	Figures  []Option // "Waiting", "Retrying", "Given up" ... with their values
	Last     string   // the last delivery, in words; empty: none yet
	Problems []SyncHookProblem
}

// SyncHookProblem is a delivery whose fetch failed: retried, or given up.
type SyncHookProblem struct {
	What     string // "deployment 40559 of acme/api"
	Received string
	Attempts string
	Next     string // when it is tried again, or "given up"
	Error    string
}

// SyncRow is one project's sync state.
type SyncRow struct {
	Project  string
	URL      string
	State    string // ok | error | running | never
	LastRun  string
	LastOK   string
	Error    string
	Requests string
	API      string   // how the last sync read it: "GraphQL", "REST", or "" when not recorded
	Cursors  []Option // resource -> cursor time
}

// MRListPage lists the MRs behind a figure.
type MRListPage struct {
	Heading string
	Search  SearchBox
	Filters []Link // active predicates, each linking to the list without it
	Table   MRTable
	Shown   string // "Showing 100 of 240"
	Pager   Pager
}

// DeploymentListPage lists the deployments behind a figure.
type DeploymentListPage struct {
	Heading string
	Search  SearchBox
	Filters []Link
	Table   DeploymentTable
	Shown   string
	Pager   Pager
}

// InvestmentPage shows where the delivered work goes: each investment category's share of
// the MRs per period, against the target tech-debt share.
type InvestmentPage struct {
	Range   string
	Lead    string
	Cards   []Card
	Shares  Chart   // stacked category shares per period
	Effort  Chart   // tech-debt share of MRs and of author-days per period, with the target
	Service BarList // tech-debt share per service over the range
	Table   InvestmentTable
	Empty   *Empty
}

// InvestmentTable is the figures behind the shares chart: one row per period, one column
// per category, each cell linking to its MRs.
type InvestmentTable struct {
	ID         string
	Title      string
	Categories []string
	Rows       []InvestmentRow
	Total      *InvestmentRow // the whole range
	CSV        string         // the merge-requests CSV (its last column is the category)
	MetricsCSV string         // the metrics CSV (tech_debt_share, tech_debt_effort_share)
	Effort     bool           // show the tech-debt effort column
}

// InvestmentRow is one period of the investment table.
type InvestmentRow struct {
	Period string
	Cells  []ShareCell // aligned with the table's Categories
	// MRs delivered in the period (the n of every share in the row), linking to them.
	MRs     string
	MRsHref string
	// Effort is the tech-debt share of author-days, with its n ("12.5 of 80 author-days").
	Effort  string
	EffortN string
}

// ShareCell is one category's share of a period.
type ShareCell struct {
	Share string // "20%"
	Count string // "4 MRs"
	Href  string // the MRs of the category in the period
	Hot   bool   // the tech-debt category
}

// AgreementsPage puts each working agreement beside its target, per service and team.
type AgreementsPage struct {
	Range   string // which week is "current"
	Lead    string
	Columns []AgreementColumn
	Groups  []AgreementGroup
	Notes   []string // agreements left out and why (no deploy window configured ...)
	CSV     string   // the metrics CSV
	MRCSV   string   // the merge-requests CSV
	Compare []Link   // the compare view of the services, and of the teams
	Empty   *Empty
}

// AgreementColumn is one agreement: its name and its target in words.
type AgreementColumn struct {
	Key    string
	Label  string // "Approvals"
	Target string // "≥ 1 approval before merge"
	Help   string // what holds means
}

// AgreementGroup is a block of rows: the services, or the teams.
type AgreementGroup struct {
	Title string
	Rows  []AgreementRowView
}

// AgreementRowView is one service, team or "all", with a cell per column.
type AgreementRowView struct {
	Name  string
	Href  string // the overview filtered to it
	Cells []AgreementCell
	Held  string // "3 of 4 hold"
}

// AgreementCell is one agreement of one row in the current week, with its last weeks.
type AgreementCell struct {
	Present bool   // the row has this agreement at all
	Known   bool   // n > 0 in the current week
	Status  string // holds | broken | unknown
	Value   string
	N       string // "n = 40 MRs"
	Target  string
	Broken  string // "3 MRs with fewer than 1 approval", "" when none
	Href    string // the items that break it (or, for the tech-debt share, the tech-debt MRs)
	Trend   Trend
}

// Trend is a small line of an agreement's weekly values against its target, one dot per
// week coloured by whether it held, each linking to that week's items.
type Trend struct {
	Label  string // the text alternative: "last 8 weeks: 6 held, 2 broken"
	Weeks  []TrendWeek
	Target float64
	// Band is the tolerance around the target (tech-debt share), 0 for a plain line.
	Band float64
}

// TrendWeek is one week of a Trend.
type TrendWeek struct {
	Value  float64
	Known  bool
	Status string // holds | broken | unknown
	Title  string // "W09: 12% (n=40), holds"
	Href   string
}
