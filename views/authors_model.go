package views

// AuthorPage is one person's MRs, the medians of their stages and the reviews they gave.
type AuthorPage struct {
	Name    string
	Range   string
	Note    string
	Cards   []Card
	MRs     MRTable
	Reviews ReviewTable
}

// ReviewTable lists comments and approvals given on others' MRs.
type ReviewTable struct {
	ID    string
	Title string
	Rows  []ReviewRow
	Shown string
	Empty Empty
}

// ReviewRow is one comment or approval.
type ReviewRow struct {
	At         string
	Kind       string // comment | approval
	MR         string // acme/api!12
	Title      string
	Href       string // the MR's timeline
	URL        string // the MR on GitLab
	MRAuthor   string
	AuthorHref string
}
