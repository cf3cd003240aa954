package views

// TimelinePage is one MR's history: its instants on a time axis, its four stages, and the
// rule that decided each instant.
type TimelinePage struct {
	Title      string
	Ref        string // acme/api!12
	URL        string // the MR on GitLab
	ProjectURL string
	Author     string
	AuthorHref string
	Service    string
	Category   string
	CatHref    string
	Labels     []string
	Badges     []string // rework, unapproved, deployed before merge
	State      string
	Excluded   string // why the MR is not counted; "" when it is
	Cycle      string // the cycle time, "" when not counted
	Stages     []TimelineStage
	Instants   []TimelineInstant
	Chart      TimelineChart
	Back       Link // the MR list around it
}

// TimelineStage is one of the four stages with its duration and its ends.
type TimelineStage struct {
	Name     string
	Duration string
	From, To string
	Class    string // s0…s3
	Share    string // of the cycle time
	Rule     string // the rule that decided where it ends
}

// TimelineInstant is one event of the MR (a commit, a note, the merge, a deployment) with
// what the rules made of it.
type TimelineInstant struct {
	At      string
	Event   string
	Who     string
	Rule    string
	Counted bool // it decides one of the facts (or counts as a review, a shipping deployment)
	Link    Link // out to GitLab (a job, a commit), "" Href for none
}

// TimelineChart is the SVG time axis: stage bands on top, one lane of marks per kind of event.
type TimelineChart struct {
	Width, Height int
	Left, Right   int
	Summary       string
	Bands         []TimelineBand
	Lanes         []TimelineLane
	Ticks         []TimelineTick
	AxisY         int
}

// TimelineBand is a stage between two instants.
type TimelineBand struct {
	X, W, Y, H int
	Class      string
	Label      string // shown when the band is wide enough
	Title      string
	TextX      int
}

// TimelineLane is a row of marks: commits, MR, reviews or deployments.
type TimelineLane struct {
	Label string
	Y     int
	Marks []TimelineMark
}

// TimelineMark is one instant on a lane.
type TimelineMark struct {
	X     int
	Class string // the kind, for its colour and shape
	Title string // hover text
	Faint bool   // not counted by the rules
}

// TimelineTick is a date on the axis.
type TimelineTick struct {
	X     int
	Label string
}
