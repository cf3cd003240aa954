// Command pacer collects merge-request, deployment and pipeline history from GitLab into
// SQLite and shows how fast and how cleanly the organisation ships.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], environ(), os.Stdout, os.Stderr)
	os.Exit(exitCode(err, os.Stderr))
}

// env is the process environment as a lookup function, so tests can pass their own.
type env func(key string) string

func environ() env { return os.Getenv }

// usageError is bad input from the user: one line on stderr, exit status 2, nothing touched.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit status with an already-written message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "pacer: "+ue.msg)
		return 2
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "pacer: "+ee.msg)
		}
		return ee.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "pacer: interrupted; what was committed is kept")
		return 130
	}
	fmt.Fprintln(stderr, "pacer: "+err.Error())
	return 1
}

type command struct {
	summary string
	run     func(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"simulator": {"serve a generated organisation from the built-in GitLab simulator (REST and GraphQL)", runSimulator},

		"demo":    {"serve the dashboard on a generated organisation, synced from the built-in GitLab simulator", runDemo},
		"sync":    {"incremental sync from GitLab into the database", runSync},
		"serve":   {"serve the dashboard (optionally syncing and sending the digest on a schedule)", runServe},
		"export":  {"write a dataset as CSV to standard output", runExport},
		"migrate": {"copy a SQLite database into PostgreSQL, verified, the source untouched", runMigrate},
		"token":   {"create, list and revoke machine tokens for the CSV exports", runToken},
		"hooks":   {"install and list the GitLab webhooks that bring merges and deployments within seconds", runHooks},
		"digest":  {"render and send the weekly email digest", runDigest},
		"version": {"print version and build info", runVersion},
	}
}

func run(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		// A bare pacer is a mistake a script should notice: the commands, and status 2.
		printUsage(stderr)
		return exitError{code: 2}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return usagef("unknown command %q (commands: %s; see pacer help)", args[0], strings.Join(commandNames(), ", "))
	}
	return cmd.run(ctx, args[1:], env, stdout, stderr)
}

func commandNames() []string {
	var names []string
	for n := range commands() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: pacer COMMAND [flags]")
	fmt.Fprintln(w)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands()[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag has an environment twin (--gitlab-url = PACER_GITLAB_URL).")
	fmt.Fprintln(w, "Run pacer COMMAND -h for a command's flags.")
}

// flagSet is a command's flags; every flag has an environment twin PACER_<NAME>.
type flagSet struct {
	*flag.FlagSet
	env    env
	db     string
	config string
	twins  map[string]string // flag name -> its environment variable, where not PACER_<NAME>
}

// twin names flag's environment variable, or with "" gives it none. For the few flags whose
// meaning differs between commands (digest's --to is an address, export's a date), or where
// reading the environment would be unsafe (the demo's --db).
func (fs *flagSet) twin(flag, variable string) {
	if fs.twins == nil {
		fs.twins = map[string]string{}
	}
	fs.twins[flag] = variable
}

func newFlagSet(name string, env env, stderr io.Writer) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet("pacer "+name, flag.ContinueOnError), env: env}
	fs.SetOutput(stderr)
	fs.Usage = fs.plainUsage // help.go: -h adds the description and the examples
	fs.StringVar(&fs.db, "db", "", "database: a SQLite `FILE` or a postgres:// URL (default pacer.db, or database in the config)")
	fs.StringVar(&fs.config, "config", "", "TOML configuration `FILE`")
	return fs
}

// parse reads args, then fills every flag not given on the command line from its environment
// twin. A bad flag is one line (a usage error), not the flag package's echo of it followed by
// the whole flag list; -h prints the command's usage and exits 0.
func (fs *flagSet) parse(args []string) error {
	if err := fs.once(args); err != nil {
		return err
	}
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.help()
			return exitError{code: 0}
		}
		name := strings.TrimPrefix(fs.Name(), "pacer ")
		if m := invalidValue.FindStringSubmatch(err.Error()); m != nil {
			if f := fs.Lookup(m[2]); f != nil {
				return usagef("%s: --%s %q: %s (see pacer %s -h)", name, f.Name, m[1], valueHint(f, err), name)
			}
		}
		return usagef("%s: %v (see pacer %s -h)", name, err, name)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		key, ok := fs.twins[f.Name]
		if !ok {
			key = "PACER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		}
		if key == "" {
			return
		}
		if v := fs.env(key); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = usagef("%s=%q is not a valid value for --%s: %s", key, v, f.Name, valueHint(f, e))
			}
		}
	})
	return err
}

// once refuses a flag given twice: the flag package would keep the last silently, and
// "--db a --db b" is more likely a mistake than a wish. Repeatable flags (--group, --project,
// --service, --to …) may repeat.
func (fs *flagSet) once(args []string) error {
	seen := map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return nil // the flag package stops here too
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil {
			continue // the flag package names it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // its value
		}
		if _, repeatable := f.Value.(*stringList); repeatable {
			continue
		}
		if seen[name] {
			cmd := strings.TrimPrefix(fs.Name(), "pacer ")
			return usagef("%s: --%s is given twice (give it once)", cmd, name)
		}
		seen[name] = true
	}
	return nil
}

// invalidValue matches the flag package's message for a value that does not parse.
var invalidValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for flag -([\w-]+)`)

// valueHint says what a flag accepts, in place of the flag package's bare "parse error".
func valueHint(f *flag.Flag, err error) string {
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.durationValue":
		return "use a duration such as 15m, 1h or 1h30m"
	case "*flag.intValue", "*flag.int64Value", "*flag.uintValue":
		return "use a whole number"
	case "*flag.float64Value":
		return "use a number"
	case "*flag.boolValue":
		return "use true or false"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// loadConfig reads --config (if any) and resolves the database path: flag, then config, then
// pacer.db.
func (fs *flagSet) loadConfig() (*config.Config, string, error) {
	cfg := config.Default()
	if fs.config != "" {
		c, err := config.Load(fs.config)
		if err != nil {
			return nil, "", usageError{err.Error()}
		}
		cfg = c
	}
	cfg.SMTP.Password = fs.env("PACER_SMTP_PASSWORD")
	cfg.Auth.Secret = fs.env("PACER_OAUTH_SECRET")
	db := fs.db
	if db == "" {
		db = cfg.Database
	}
	if db == "" {
		db = "pacer.db"
	}
	if err := checkDatabase(db); err != nil {
		return nil, "", err
	}
	return cfg, db, nil
}

// checkDatabase refuses a --db that is neither a file path nor a PostgreSQL URL, before
// anything is opened or created.
func checkDatabase(db string) error {
	if store.IsURL(db) {
		if _, err := url.Parse(db); err != nil {
			return usagef("--db %s is not a valid URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE", store.Redact(db))
		}
		return nil
	}
	if scheme, _, ok := strings.Cut(db, "://"); ok && !strings.ContainsAny(scheme, "/\\") {
		return usagef("--db %s: Pacer speaks SQLite (a file path) and PostgreSQL (postgres://…), not %s", store.Redact(db), scheme)
	}
	return nil
}

// withStoredConfig is the configuration of a command run without --config: the one the
// database's facts were derived with (a demo database knows its services and teams), else
// cfg. Secrets are read from the environment again: they are never stored.
func (fs *flagSet) withStoredConfig(ctx context.Context, st *store.Store, cfg *config.Config) (*config.Config, error) {
	if fs.config != "" {
		return cfg, nil
	}
	name, source, ok, err := metrics.StoredConfig(ctx, st)
	if err != nil || !ok || len(source) == 0 {
		return cfg, err
	}
	stored, err := config.Parse(name, source)
	if err != nil {
		return nil, usagef("the configuration stored with the database (%s) does not load any more: %v; pass --config FILE", name, err)
	}
	stored.SMTP.Password = fs.env("PACER_SMTP_PASSWORD")
	stored.Auth.Secret = fs.env("PACER_OAUTH_SECRET")
	return stored, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runVersion(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", env, stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pacer %s\n", version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(stdout, "go %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH":
				fmt.Fprintf(stdout, "%s %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
