package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pacer-dev/pacer/collector/gitlabsim"
)

// runSimulator serves a generated organisation from the built-in GitLab simulator, REST and
// GraphQL, until ctx ends: for trying `pacer sync` by hand, measuring it, or pointing another
// tool at the same organisation.
func runSimulator(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	// No --db or --config: the simulator keeps nothing.
	fs := &flagSet{FlagSet: flag.NewFlagSet("pacer simulator", flag.ContinueOnError), env: env}
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9999", "listen `ADDRESS` (host:port)")
	seed := fs.Int64("seed", 1, "`SEED` of the generated organisation (the same seed gives the same history)")
	mrs := fs.Int("mrs", 0, "about `N` merge requests in the organisation (0: the default organisation, about 57 a day)")
	days := fs.Int("days", 90, "`DAYS` of generated history, up to today")
	graphql := fs.Bool("graphql", true, "serve GitLab's GraphQL API at /api/graphql; false answers 404 there, as an instance without it")
	latency := fs.Duration("latency", 0, "`DURATION` added to every request (e.g. 20ms)")
	rateLimit := fs.Int("rate-limit", 0, "enforce at most `N` requests a minute, answering 429 past it (0: practically unlimited)")
	nodeCost := fs.Duration("graphql-node-cost", 0, "simulated `DURATION` a GraphQL query spends on each record it returns; a query past 30s times out")
	live := fs.Bool("live", false, "keep the organisation on the wall clock: new activity appears while it serves")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "Usage: pacer simulator [flags]")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Serves a generated GitLab organisation (REST v4 and GraphQL) until Ctrl-C, and prints its")
		fmt.Fprintln(w, "URL and token, for example for: PACER_GITLAB_TOKEN=TOKEN pacer sync --gitlab-url URL --group acme")
		fmt.Fprintln(w)
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("simulator: unexpected argument %q (see pacer simulator -h)", fs.Arg(0))
	case *days < 1 || *days > 730:
		return usagef("simulator: --days %d is out of range: use 1 to 730", *days)
	case *mrs < 0 || *mrs > 2_000_000:
		return usagef("simulator: --mrs %d is out of range: use 0 to 2000000", *mrs)
	case *latency < 0 || *latency > time.Minute:
		return usagef("simulator: --latency %s is out of range: use 0 to 1m", *latency)
	case *rateLimit < 0:
		return usagef("simulator: --rate-limit %d is negative: use 0 (no limit) or a number of requests a minute", *rateLimit)
	case *nodeCost < 0:
		return usagef("simulator: --graphql-node-cost %s is negative", *nodeCost)
	}
	if err := checkAddr(*addr); err != nil {
		return usagef("simulator: %v", err)
	}

	start := time.Now()
	opt := gitlabsim.GenOptionsForMRs(*seed, *mrs, *days)
	fmt.Fprintf(stdout, "Generating an organisation with %d days of history (seed %d)…\n", opt.Days, *seed)
	org := gitlabsim.Generate(opt)
	sim, err := gitlabsim.Listen(org, *addr, gitlabsim.ServerOptions{
		Token: gitlabsim.DefaultToken, Latency: *latency, RateLimit: *rateLimit,
		DisableGraphQL: !*graphql, GraphQLNodeCost: *nodeCost,
	})
	if err != nil {
		return usagef("simulator: cannot listen on %s: %v (is another server using that port? pass --addr)", *addr, err)
	}
	defer sim.Close()
	if *live {
		org.AdvanceTo(time.Now().UTC())
		go org.Live(ctx, time.Minute, time.Minute)
	}
	api := "REST at /api/v4 and GraphQL at /api/graphql"
	if !*graphql {
		api = "REST at /api/v4 (GraphQL off)"
	}
	fmt.Fprintf(stdout, "%d merge requests in group %s, generated in %s.\n",
		org.MergeRequests(), org.TopGroup(), time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(stdout, "The GitLab simulator is serving on %s (%s; Ctrl-C stops it)\n", sim.URL(), api)
	fmt.Fprintf(stdout, "Token: %s\n", gitlabsim.DefaultToken)
	fmt.Fprintf(stdout, "Try:   PACER_GITLAB_TOKEN=%s pacer sync --gitlab-url %s --group %s\n", gitlabsim.DefaultToken, sim.URL(), org.TopGroup())
	<-ctx.Done()
	fmt.Fprintf(stdout, "Stopped after %d requests.\n", sim.Requests())
	return nil
}
