package metrics

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The indexes a refresh from scratch drops and makes again are exactly those of migration 0013:
// a refresh must leave the schema the migrations made.
func TestFactIndexesAreTheMigrations(t *testing.T) {
	b, err := os.ReadFile("../store/migrations/0013_list_indexes.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range regexp.MustCompile(`CREATE INDEX[^;]*;`).FindAllString(string(b), -1) {
		want = append(want, strings.TrimSuffix(strings.Join(strings.Fields(s), " "), ";"))
	}
	var got []string
	for _, ix := range factIndexes {
		got = append(got, ix.create)
		if !strings.HasPrefix(ix.create, "CREATE INDEX "+ix.name+" ON ") {
			t.Errorf("%s: %s", ix.name, ix.create)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the refresh's indexes:\n%s\nmigration 0013's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
