package metrics

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// pagingFixture has more MRs than a keyset batch, many delivered at the same second across
// three projects, deployments finishing at the same second, and coverage on shared days.
func pagingFixture(t *testing.T) *Engine {
	t.Helper()
	f := newFixture(t)
	for p := int64(1); p <= 3; p++ {
		f.project(p, fmt.Sprintf("acme/p%d", p))
		f.env(p*10, p, "production", "production")
	}
	for i := int64(1); i <= 1100; i++ {
		p := 1 + i%3
		merged := at(day + (i/7)*hour) // seven MRs share each merge second
		f.mr(mrSpec{project: p, iid: i, created: merged - hour, merged: merged})
		f.commit(p, i, fmt.Sprintf("c%d", i), merged-2*hour)
		if i%4 == 0 {
			// Four deployments per hour, pairs of them finishing at the same second.
			f.deploy(i, p, p*10, fmt.Sprintf("sha%d", i), merged+hour+(i/8)*60, i)
		}
	}
	for d := int64(0); d < 20; d++ {
		for p := int64(1); p <= 3; p++ {
			if (d+p)%4 != 0 {
				f.pipeline(1000*d+p, p, "main", "success", at(d*day+hour), float64(50+d+p))
			}
		}
	}
	return f.engine(nil, t0.Add(60*24*time.Hour))
}

type pagedRow struct {
	pos  Position
	vals []Value
}

var errPageFull = errors.New("page full")

// rowsInPages reads a dataset in pages of n rows, each resuming after the last row of the
// one before.
func rowsInPages(t *testing.T, e *Engine, dataset string, f Filter, n int) []pagedRow {
	t.Helper()
	var out []pagedRow
	for pages := 0; ; pages++ {
		if pages > 5000 {
			t.Fatalf("%s: paging does not end", dataset)
		}
		got := 0
		err := e.Rows(context.Background(), dataset, f, func(p Position, vals []Value) error {
			out = append(out, pagedRow{p, append([]Value(nil), vals...)})
			got++
			if got == n {
				return errPageFull
			}
			return nil
		})
		if err == nil {
			return out
		}
		if !errors.Is(err, errPageFull) {
			t.Fatal(err)
		}
		last := out[len(out)-1].pos
		f.After = &last
	}
}

// Reading a dataset in pages, each resuming after the position of the last row read, gives
// the same rows as reading it whole, whatever the page size (below, at and above the keyset
// batch), ties included.
func TestRowsResumeAfterAPosition(t *testing.T) {
	e := pagingFixture(t)
	filters := []Filter{
		{},
		{From: t0.AddDate(0, 0, 3), To: t0.AddDate(0, 0, 12), By: Day},
		{Services: []string{"acme/p2"}},
	}
	for _, ds := range Datasets {
		for fi, flt := range filters {
			whole := rowsInPages(t, e, ds, flt, -1)
			if len(whole) < 10 {
				t.Fatalf("%s filter %d: only %d rows", ds, fi, len(whole))
			}
			for _, n := range []int{7, 499, 500, 501} {
				paged := rowsInPages(t, e, ds, flt, n)
				if !reflect.DeepEqual(paged, whole) {
					t.Errorf("%s filter %d in pages of %d: %d rows, want the %d of a whole read", ds, fi, n, len(paged), len(whole))
				}
			}
		}
	}
}

// A position before the start of the range does not widen it.
func TestRowsAfterAPositionBeforeTheRange(t *testing.T) {
	e := pagingFixture(t)
	from := t0.AddDate(0, 0, 5)
	for _, ds := range Datasets {
		flt := Filter{From: from, To: t0.AddDate(0, 0, 9)}
		want := rowsInPages(t, e, ds, flt, -1)
		flt.After = &Position{At: t0.Unix(), Project: 1, ID: 1, Name: "acme/p1"}
		got := rowsInPages(t, e, ds, flt, -1)
		if ds != "metrics" && !reflect.DeepEqual(got, want) {
			t.Errorf("%s after a position before the range: %d rows, want %d", ds, len(got), len(want))
		}
	}
}

// The CSV header and the column definitions are one: every dataset's columns are the
// definitions' names, and every row has a value per column.
func TestColumnsAreTheDefinitions(t *testing.T) {
	e := pagingFixture(t)
	for _, d := range DatasetDefs {
		if len(Columns[d.Name]) != len(d.Columns) {
			t.Fatalf("%s: %d header names for %d definitions", d.Name, len(Columns[d.Name]), len(d.Columns))
		}
		n := 0
		err := e.Rows(context.Background(), d.Name, Filter{}, func(_ Position, vals []Value) error {
			n++
			if len(vals) != len(d.Columns) {
				return fmt.Errorf("%s: a row of %d values for %d columns", d.Name, len(vals), len(d.Columns))
			}
			for i, v := range vals {
				if v.Null && !d.Columns[i].Nullable {
					return fmt.Errorf("%s: %s is null but not nullable", d.Name, d.Columns[i].Name)
				}
			}
			return nil
		})
		if err != nil || n == 0 {
			t.Errorf("%s: %v (%d rows)", d.Name, err, n)
		}
	}
}
