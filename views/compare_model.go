package views

// ComparePage puts services (or teams) side by side, a headline figure per column.
type ComparePage struct {
	Range   string
	Lead    string
	Of      string // services | teams
	OfLinks []Link // switch between services and teams ("" Href: the current one)
	Columns []CompareColumn
	Rows    []CompareRow
	Empty   *Empty
	CSV     string
}

// CompareColumn is a figure's heading, which sorts the table when clicked.
type CompareColumn struct {
	Label string
	Help  string
	Sort  SortHead
}

// CompareRow is one service or team.
type CompareRow struct {
	Name  string
	Href  string // the overview of that service or team
	Cells []CompareCell
}

// CompareCell is one figure of a row over the range: its value, n, change against the
// previous range of the same length, and a link to its items.
type CompareCell struct {
	Value string // "" when unknown
	N     string
	Href  string
	Delta Delta
}
