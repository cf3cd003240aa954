package web

import (
	"regexp"
	"testing"

	"github.com/pacer-dev/pacer/config"
)

// An MR's timeline shows its instants in the configured time zone, named, as every page does:
// the stages, the table, the marks' hover text and the axis.
func TestTimelineTimesInTheConfiguredZone(t *testing.T) {
	f := newFixture(t)
	cfg, err := config.Parse("zone.toml", []byte("timezone = \"Europe/Malta\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.cfg = cfg
	f.start()
	for _, htmx := range []bool{false, true} {
		body := f.get("/merge-requests/1/3", htmx).Body.String()
		// Deployment 102 finished 2026-03-03 12:30 UTC: 13:30 in Malta (CET).
		mustContain(t, body, "in production 2026-03-03 13:30 CET", "<td class=\"nowrap\">2026-03-03 13:30 CET</td>",
			"deployment #102 to production · 2026-03-03 13:30 CET", "<th scope=\"col\">When</th>")
		if m := regexp.MustCompile(`\d\d:\d\d UTC`).FindString(body); m != "" {
			t.Errorf("htmx %v: a time in UTC on the timeline: %q", htmx, m)
		}
	}
}
