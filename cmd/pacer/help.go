package main

import (
	"fmt"
	"io"
	"strings"
)

// commandExamples are the examples `pacer COMMAND -h` ends with: real command lines that work as
// written (a test runs each one's flags), the first the most common use. Every command of the
// command table has at least one.
var commandExamples = map[string][]string{
	"simulator": {
		"pacer simulator --addr 127.0.0.1:9999",
		"pacer simulator --latency 20ms --rate-limit 2000 --live",
	},
	"demo": {
		"pacer demo",
		"pacer demo --addr 127.0.0.1:9090 --db demo.db --days 180",
		"pacer demo --write-config pacer.toml",
	},
	"sync": {
		"PACER_GITLAB_TOKEN=glpat-… pacer sync --gitlab-url https://gitlab.example.com --group acme",
		"pacer sync --config pacer.toml --since 2026-01-01",
	},
	"serve": {
		"pacer serve --config pacer.toml",
		"PACER_GITLAB_TOKEN=glpat-… pacer serve --config pacer.toml --sync-every 15m",
	},
	"export": {
		"pacer export merge-requests --from 2026-01-01 --service checkout > merge-requests.csv",
		"pacer export metrics --by quarter --team platform",
	},
	"hooks": {
		"PACER_GITLAB_TOKEN=glpat-… PACER_WEBHOOK_SECRET=… pacer hooks install --group acme --base-url https://pacer.example.com --dry-run",
		"pacer hooks list --group acme",
	},
	"migrate": {
		"pacer migrate --from pacer.db --to postgres://pacer@db.internal:5432/pacer",
		"pacer migrate --from pacer.db --to postgres://pacer@db.internal:5432/pacer --force",
	},
	"token": {
		"pacer token create grafana --project acme/api --expires 90d",
		"pacer token list",
		"pacer token revoke grafana",
	},
	"digest": {
		"pacer digest --dry-run",
		"pacer digest --week 2026-W09 --out digest.html",
	},
	"version": {
		"pacer version",
	},
}

// help is what `pacer COMMAND -h` prints: the command's one-line description from the command
// table, its usage and flags, and its examples.
func (fs *flagSet) help() {
	w := fs.Output()
	name, _, _ := strings.Cut(strings.TrimPrefix(fs.Name(), "pacer "), " ") // token create: token
	writeDescription(w, name)
	fs.Usage()
	writeExamples(w, name)
}

// plainUsage is the usage of a command with no synopsis of its own.
func (fs *flagSet) plainUsage() {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s [flags]\n\nFlags:\n", fs.Name())
	fs.PrintDefaults()
}

// writeDescription writes "pacer NAME: what it does" and a blank line.
func writeDescription(w io.Writer, name string) {
	if c, ok := commands()[name]; ok {
		fmt.Fprintf(w, "pacer %s: %s\n\n", name, c.summary)
	}
}

// writeExamples writes the command's examples under a heading, after a blank line.
func writeExamples(w io.Writer, name string) {
	ex := commandExamples[name]
	if len(ex) == 0 {
		return
	}
	heading := "Example:"
	if len(ex) > 1 {
		heading = "Examples:"
	}
	fmt.Fprintf(w, "\n%s\n", heading)
	for _, e := range ex {
		fmt.Fprintf(w, "  %s\n", e)
	}
}
