package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	gitlab "gitlab.com/gitlab-org/api/client-go"

	"github.com/pacer-dev/pacer/collector"
	"github.com/pacer-dev/pacer/collector/gitlabsim"
	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
	"github.com/pacer-dev/pacer/web"
)

// startLiveDemo keeps the demo's organisation moving: every interval a merge request is
// opened, merged or deployed in the simulator (gitlabsim.Org.Pulse), whose webhook, installed
// as pacer hooks install would install it, tells the dashboard. The webhook worker and the
// pulses stop with ctx; wg waits for them.
func startLiveDemo(ctx context.Context, wg *sync.WaitGroup, o *web.Options, org *gitlabsim.Org, sim *gitlabsim.Server,
	st *store.Store, eng *metrics.Engine, cfg *config.Config, base string, every time.Duration, log *slog.Logger) error {
	secret := rand.Text()
	c, err := gitlab.NewClient(gitlabsim.DefaultToken, gitlab.WithBaseURL(sim.URL()+"/api/v4"))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	hookURL, err := webhookURL(base)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	in := &hookInstaller{c: c, ctx: ctx, url: hookURL, secret: secret, out: io.Discard, errOut: io.Discard}
	if err := in.install([]hookTarget{{group: true, path: org.TopGroup()}}); err != nil {
		return fmt.Errorf("demo: install the simulator's webhook: %w", err)
	}
	opt := collector.Options{BaseURL: sim.URL(), Token: gitlabsim.DefaultToken, Config: cfg, Now: org.Now, Logger: log}
	if err := startWebhooks(ctx, wg, o, st, eng, opt, secret); err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				log.Debug("demo: the organisation moved", "what", org.Pulse(now))
			}
		}
	}()
	return nil
}
