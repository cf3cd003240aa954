package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/store/storetest"
)

// factsSummary is what readers would compute from the fact tables, read in one snapshot.
func factsSummary(ctx context.Context, db *sql.DB) (string, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var parts []string
	for _, q := range []string{
		`SELECT COUNT(*) || ',' || COALESCE(SUM(cycle_seconds), 0) || ',' || COALESCE(SUM(deployed_at IS NOT NULL), 0) FROM mr_facts`,
		`SELECT COUNT(*) || ',' || COALESCE(SUM(change_failure), 0) || ',' || COALESCE(SUM(merge_requests), 0) FROM deployment_facts`,
		`SELECT COUNT(*) FROM deployment_mr_facts`,
		`SELECT COUNT(*) || ',' || COALESCE(SUM(length(data)), 0) FROM fact_days`,
		`SELECT COUNT(*) FROM fact_projects`,
		`SELECT COUNT(*) FROM fact_names`,
	} {
		var s string
		if err := tx.QueryRowContext(ctx, q).Scan(&s); err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " "), nil
}

// A refresh that derives everything again must let other writers (a sync, the digest) in
// while it works, not hold the write lock from start to end, and readers must see the old
// facts or the new ones, never a part.
func TestRebuildLetsWritersInAndReadersSeeWholeFacts(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	if err := generateOrgOf(ctx, st, 1200, 24, 20); err != nil {
		t.Fatal(err)
	}
	e := New(st, config.Default())
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := factsSummary(ctx, st.DB)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(want, "11") { // about 97% of the MRs are in scope and human-authored
		t.Fatalf("unexpected facts of the generated organisation: %s", want)
	}

	// One project per transaction, so that a small organisation makes many: the writer's
	// longest wait must then be a small part of the whole refresh, whatever the machine's speed.
	defer func(b time.Duration) { rebuildBatch = b }(rebuildBatch)
	rebuildBatch = time.Nanosecond

	if _, err := st.DB.ExecContext(ctx, `DELETE FROM fact_state`); err != nil {
		t.Fatal(err)
	}
	writer, err := st.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()

	done := make(chan struct{})
	var wg sync.WaitGroup
	var writes, reads int
	var longest time.Duration
	var writeErr, readErr error
	wg.Add(2)
	go func() { // another writer, as the collector: small write transactions all along
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			began := time.Now()
			if _, err := writer.ExecContext(ctx, `UPDATE projects SET web_url = web_url WHERE id = 1`); err != nil {
				writeErr = fmt.Errorf("write %d during the refresh: %w", writes+1, err)
				return
			}
			longest = max(longest, time.Since(began))
			writes++
		}
	}()
	go func() { // a reader: every snapshot has all the facts
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			got, err := factsSummary(ctx, st.DB)
			if err == nil && got != want {
				err = fmt.Errorf("facts seen during the refresh: %s, want %s", got, want)
			}
			if err != nil {
				readErr = err
				return
			}
			reads++
		}
	}()
	began := time.Now()
	err = e.Refresh(ctx)
	took := time.Since(began)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("full refresh %v; %d writes (longest wait %v) and %d reads meanwhile", took, writes, longest, reads)
	if writeErr != nil {
		t.Error(writeErr)
	}
	if longest > took/3 {
		t.Errorf("a writer waited %v for the lock during a refresh of %v: the refresh holds it too long", longest, took)
	}
	if readErr != nil {
		t.Error(readErr)
	}
	if writes < 5 || reads < 5 {
		t.Errorf("only %d writes and %d reads during the refresh", writes, reads)
	}
	if got, err := factsSummary(ctx, st.DB); err != nil || got != want {
		t.Errorf("facts after the refresh: %s (%v), want %s", got, err, want)
	}
	if ok, err := e.factsCurrent(ctx, e.fingerprint()); err != nil || !ok {
		t.Errorf("facts not current after the refresh (%v)", err)
	}
	var leftovers int
	if err := st.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
		AND (name LIKE '%\_next' ESCAPE '\' OR name LIKE '%\_old' ESCAPE '\')`).Scan(&leftovers); err != nil || leftovers != 0 {
		t.Errorf("%d staged or replaced tables left (%v)", leftovers, err)
	}
}

// The staged copies get the live tables' columns, keys and indexes, and a second rebuild works
// with the index names the first one left.
func TestRebuildKeepsTheSchema(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	if err := generateOrgOf(ctx, st, 400, 8, 10); err != nil {
		t.Fatal(err)
	}
	schema := func() string {
		rows, err := st.DB.QueryContext(ctx, `SELECT type, tbl_name, COALESCE(sql, '') FROM sqlite_master
			WHERE tbl_name IN ('mr_facts', 'deployment_facts', 'deployment_mr_facts', 'fact_projects') ORDER BY 1, 2, 3`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var typ, tbl, q string
			if err := rows.Scan(&typ, &tbl, &q); err != nil {
				t.Fatal(err)
			}
			// Index names alternate; table names are normalised by the rename.
			if typ == "index" {
				if i := strings.Index(q, " ON "); i > 0 {
					q = q[i:]
				}
			}
			q = strings.Join(strings.Fields(strings.ReplaceAll(q, `"`, "")), " ")
			fmt.Fprintf(&b, "%s %s %s\n", typ, tbl, strings.ReplaceAll(q, " (", "("))
		}
		return b.String()
	}
	before := schema()
	e := New(st, config.Default())
	var sums []string
	for i := 0; i < 3; i++ {
		if _, err := st.DB.ExecContext(ctx, `DELETE FROM fact_state`); err != nil {
			t.Fatal(err)
		}
		if err := e.Refresh(ctx); err != nil {
			t.Fatalf("rebuild %d: %v", i+1, err)
		}
		if got := schema(); got != before {
			t.Fatalf("schema after rebuild %d:\n%s\nwant\n%s", i+1, got, before)
		}
		s, err := factsSummary(ctx, st.DB)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, s)
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Errorf("rebuilds disagree: %q", sums)
	}
	// An incremental refresh writes into the published tables.
	var project, iid int64
	if err := st.DB.QueryRowContext(ctx, `SELECT project_id, iid FROM mr_facts WHERE rework = 0 LIMIT 1`).Scan(&project, &iid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB.ExecContext(ctx, `UPDATE merge_requests SET title = 'Revert ' || title, updated_at = updated_at + 1
		WHERE project_id = ? AND iid = ?`, project, iid); err != nil {
		t.Fatal(err)
	}
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var rework int
	if err := st.DB.QueryRowContext(ctx, `SELECT rework FROM mr_facts WHERE project_id = ? AND iid = ?`, project, iid).Scan(&rework); err != nil || rework != 1 {
		t.Errorf("rework after an incremental refresh = %d (%v), want 1", rework, err)
	}
}

func TestStagedIndexName(t *testing.T) {
	for live, want := range map[string]string{"mr_facts_project": "mr_facts_project_next", "mr_facts_project_next": "mr_facts_project"} {
		if got := stagedIndexName(live); got != want {
			t.Errorf("stagedIndexName(%q) = %q, want %q", live, got, want)
		}
	}
}
