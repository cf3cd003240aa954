// Package benchorg generates and keeps the benchmark organisation: by default a year of
// 1,000,000 merged MRs and 500,000 production deployments in 200 projects, written straight into
// the store's tables. The metrics and web benchmarks and the load benchmark (internal/benchload)
// all run over it. It is generated once per size and kept in the temporary directory; it is
// not part of the pacer binary.
package benchorg

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// Year is the generated year's first day, a Monday; the history runs 365 days from it.
var Year = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

// Now is the clock the benchmarks pin their engines to: a week after the year ended.
func Now() time.Time { return Year.AddDate(1, 0, 7) }

// Size is the number of MRs to generate: PACER_BENCH_MRS, by default 1,000,000.
func Size() int {
	if v, err := strconv.Atoi(os.Getenv("PACER_BENCH_MRS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// Options say which database Prepare makes ready.
type Options struct {
	MRs int // the organisation's size (Size())
	// FactsVersion is the metrics package's facts version: databases are kept per version,
	// since deriving a million MRs' facts again takes about a minute.
	FactsVersion int
	// Tag names this caller's copy ("" for the shared one). A copy is made from a database of
	// the same size when there is one (the raw rows are the same for every version), so that
	// migrations and refreshes of one branch never touch another's file.
	Tag string
	// Refresh derives the facts of a freshly made database (the metrics engine's Refresh).
	Refresh func(context.Context, *store.Store) error
	// Logf reports the slow steps; nil is silent.
	Logf func(format string, args ...any)
}

// Path is where the database of o is kept.
func (o Options) Path() string {
	name := fmt.Sprintf("pacer-bench-v%d-%d", o.FactsVersion, o.MRs)
	if o.Tag != "" {
		name += "-" + o.Tag
	}
	return filepath.Join(os.TempDir(), name+".db")
}

// Prepare returns the path of o's database, with its facts derived, making it first if
// needed: by copying another database of the same size (and deriving its facts under the
// current rules), or else by generating the organisation. Opening it with store.Open applies
// any pending migration.
func Prepare(ctx context.Context, o Options) (string, error) {
	if o.MRs <= 0 {
		o.MRs = Size()
	}
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	path := o.Path()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	for _, f := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
		os.Remove(f)
	}
	start := time.Now()
	base := findBase(o)
	if base != "" {
		if err := copyDB(base, tmp); err != nil {
			return "", err
		}
		logf("copied %s in %v", base, time.Since(start).Round(time.Millisecond))
	}
	st, err := store.Open(ctx, tmp)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if base == "" {
		if err := Generate(ctx, st, o.MRs); err != nil {
			return "", err
		}
		logf("generated %d MRs in %v", o.MRs, time.Since(start).Round(time.Second))
	}
	start = time.Now()
	if o.Refresh != nil {
		if err := o.Refresh(ctx, st); err != nil {
			return "", err
		}
		logf("derived the facts in %v", time.Since(start).Round(time.Millisecond))
	}
	if _, err := st.DB.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return "", err
	}
	if err := st.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	os.Remove(tmp + "-wal")
	os.Remove(tmp + "-shm")
	return path, nil
}

// findBase is a kept database of the same size to copy: the shared one of the same facts
// version first, then any other.
func findBase(o Options) string {
	same := Options{MRs: o.MRs, FactsVersion: o.FactsVersion}.Path()
	if o.Tag != "" {
		if _, err := os.Stat(same); err == nil {
			return same
		}
	}
	n := strconv.Itoa(o.MRs)
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pacer-bench-v*-"+n+".db"))
	tagged, _ := filepath.Glob(filepath.Join(os.TempDir(), "pacer-bench-v*-"+n+"-*.db"))
	matches = append(matches, tagged...)
	sort.Sort(sort.Reverse(sort.StringSlice(matches)))
	for _, m := range matches {
		if m != o.Path() {
			return m
		}
	}
	return ""
}

// copyDB copies a database file and its write-ahead log, if any.
func copyDB(from, to string) error {
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(from+suffix, to+suffix); err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Generate writes a year of a large organisation's raw history straight into the tables of st:
// nMRs merged MRs and half as many production deployments in 200 projects, with commits,
// review notes, deployment links and two coverage pipelines a day per project. The same n
// always gives the same rows.
func Generate(ctx context.Context, st *store.Store, nMRs int) error {
	const projects = 200
	r := rand.New(rand.NewPCG(7, 11))
	year := int64(365 * 86400)
	start := Year.Unix()
	return st.InTx(ctx, func(tx *sql.Tx) error {
		prep := func(q string) *sql.Stmt {
			s, err := tx.PrepareContext(ctx, q)
			if err != nil {
				panic(err)
			}
			return s
		}
		insProject := prep(`INSERT INTO projects(id, path, name, default_branch, web_url, discovered_at) VALUES (?, ?, ?, 'main', ?, 0)`)
		insUser := prep(`INSERT INTO users(id, username, bot, fetched_at) VALUES (?, ?, ?, 0)`)
		insMR := prep(`INSERT INTO merge_requests(project_id, iid, id, title, state, author_id, author_username, labels,
			source_branch, target_branch, created_at, updated_at, merged_at, web_url, sha) VALUES (?, ?, ?, ?, 'merged', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		insCommit := prep(`INSERT INTO mr_commits(project_id, mr_iid, sha, authored_at, author) VALUES (?, ?, ?, ?, ?)`)
		setRef := prep(`UPDATE deployments SET ref = ? WHERE id = ?`)
		insNote := prep(`INSERT INTO mr_notes(project_id, mr_iid, note_id, kind, author_id, author_username, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		insEnv := prep(`INSERT INTO environments(id, project_id, name, tier, production) VALUES (?, ?, ?, 'production', 1)`)
		insDep := prep(`INSERT INTO deployments(id, iid, project_id, environment_id, environment, sha, status, created_at, updated_at, finished_at, job_url)
			VALUES (?, ?, ?, ?, ?, ?, 'success', ?, ?, ?, ?)`)
		insLink := prep(`INSERT INTO deployment_merge_requests(deployment_id, project_id, mr_iid) VALUES (?, ?, ?)`)
		insPipe := prep(`INSERT INTO pipelines(id, project_id, ref, sha, status, created_at, updated_at, finished_at, coverage, web_url)
			VALUES (?, ?, 'main', ?, 'success', ?, ?, ?, ?, '')`)
		const humans, bots = 2000, 20
		for u := 1; u <= humans+bots; u++ {
			name, bot := fmt.Sprintf("dev%d", u), false
			if u > humans {
				name, bot = fmt.Sprintf("renovate%d", u), true
			}
			if _, err := insUser.ExecContext(ctx, u, name, bot); err != nil {
				return err
			}
		}
		var noteID, depID, pipeID int64
		for p := int64(1); p <= projects; p++ {
			path := fmt.Sprintf("acme/group-%d/service-%d", p%10, p)
			if _, err := insProject.ExecContext(ctx, p, path, path, "https://gitlab.example.com/"+path); err != nil {
				return err
			}
			if _, err := insEnv.ExecContext(ctx, p, p, "production"); err != nil {
				return err
			}
			// Deployments first, in time order, so MRs can be linked to the next one.
			nDeps := nMRs / 2 / projects
			depTimes := make([]int64, nDeps)
			for i := range depTimes {
				depTimes[i] = start + r.Int64N(year)
			}
			sort.Slice(depTimes, func(i, j int) bool { return depTimes[i] < depTimes[j] })
			firstDep := depID + 1
			var shas []string
			for i, t := range depTimes {
				depID++
				sha := fmt.Sprintf("%040x", r.Uint64())
				switch x := r.IntN(100); {
				case x < 2 && len(shas) > 0: // a redeploy
					sha = shas[len(shas)-1]
				case x < 3 && len(shas) > 3: // a rollback
					sha = shas[len(shas)-3]
				}
				shas = append(shas, sha)
				if _, err := insDep.ExecContext(ctx, depID, i+1, p, p, "production", sha, t, t, t, ""); err != nil {
					return err
				}
			}
			for iid := int64(1); iid <= int64(nMRs/projects); iid++ {
				created := start + r.Int64N(year) - 3*86400
				merged := created + 3600 + r.Int64N(5*86400)
				author := 1 + r.Int64N(humans)
				if r.IntN(100) < 3 {
					author = humans + 1 + r.Int64N(bots)
				}
				target, labels, title, branch := "main", "[]", fmt.Sprintf("Change %d", iid), fmt.Sprintf("feature/%d", iid)
				if r.IntN(100) < 2 {
					target = "release"
				}
				if r.IntN(100) < 5 {
					labels = `["bug","backend"]`
				}
				if r.IntN(100) < 2 {
					title = "Revert " + title
				} else if r.IntN(100) < 20 {
					title = "refactor: " + title // tech debt
				}
				// One MR in ten is deployed from its branch before the merge, where a deployment
				// falls between its opening and its merge.
				head := fmt.Sprintf("%040x", r.Uint64())
				if k := sort.Search(len(depTimes), func(i int) bool { return depTimes[i] > created }); r.IntN(10) == 0 &&
					k < len(depTimes) && depTimes[k] < merged && target == "main" {
					head = shas[k]
					if _, err := setRef.ExecContext(ctx, branch, firstDep+int64(k)); err != nil {
						return err
					}
				}
				if _, err := insMR.ExecContext(ctx, p, iid, p*1_000_000+iid, title, author, fmt.Sprintf("dev%d", author), labels,
					branch, target, created, merged, merged, fmt.Sprintf("https://gitlab.example.com/%s/-/merge_requests/%d", path, iid), head); err != nil {
					return err
				}
				for c := 0; c < 2; c++ {
					committer := author // one commit in five by a colleague
					if r.IntN(5) == 0 {
						committer = 1 + r.Int64N(humans)
					}
					if _, err := insCommit.ExecContext(ctx, p, iid, fmt.Sprintf("%040x", r.Uint64()), created-r.Int64N(3*86400),
						fmt.Sprintf("dev%d@example.com", committer)); err != nil {
						return err
					}
				}
				reviewer := 1 + (author+1+r.Int64N(humans-2))%humans
				noteID++
				if _, err := insNote.ExecContext(ctx, p, iid, noteID, "comment", reviewer, fmt.Sprintf("dev%d", reviewer), created+r.Int64N(merged-created+86400)); err != nil {
					return err
				}
				if r.IntN(10) < 9 {
					noteID++
					if _, err := insNote.ExecContext(ctx, p, iid, noteID, "approved", reviewer, fmt.Sprintf("dev%d", reviewer), created+r.Int64N(merged-created)); err != nil {
						return err
					}
				}
				// Shipped by the first deployment after the merge, when there is one.
				k := sort.Search(len(depTimes), func(i int) bool { return depTimes[i] >= merged })
				if k < len(depTimes) {
					if _, err := insLink.ExecContext(ctx, firstDep+int64(k), p, iid); err != nil {
						return err
					}
				}
			}
			for d := int64(0); d < 365; d++ {
				for k := int64(0); k < 2; k++ {
					pipeID++
					t := start + d*86400 + 3600 + r.Int64N(80000)
					if _, err := insPipe.ExecContext(ctx, pipeID, p, fmt.Sprintf("%040x", r.Uint64()), t, t, t, 60+r.Float64()*35); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
