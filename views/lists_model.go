package views

// SortHead is a column heading that sorts its table: a plain link (?sort=…), so it works
// without JavaScript.
type SortHead struct {
	Href    string
	Current bool   // the table is sorted by this column
	Order   string // aria-sort when Current: ascending | descending
}

// SearchBox is a list's search form: a GET of the list with the filters and conditions kept.
type SearchBox struct {
	Action      string
	Q           string
	Placeholder string
	Help        string
	Hidden      []Hidden
	Clear       string // the list without the search, "" when there is none
}

func sortArrow(order string) string {
	if order == "ascending" {
		return "▲"
	}
	return "▼"
}

// Pager moves through a long list a page at a time: each page starts where the one before
// ended (the list's order and position are in the link), so a page costs the same deep in a
// list as at its start.
type Pager struct {
	Next      string // the next page, "" on the last
	NextLabel string // "Next 100"
	First     string // the first page, "" on it
}
