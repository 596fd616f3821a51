package apicast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/reuseport"
)

// shutdownGrace is how long in-flight requests may take to finish once Run's context ends.
const shutdownGrace = 5 * time.Second

// Run starts one gateway process and blocks until ctx ends or a listener fails.
//
// In boot mode (production) the configuration is loaded before anything listens. If that load
// fails Run returns an error at once, so the process exits non-zero and Kubernetes restarts it,
// as a new apicast-production pod that cannot reach system does (§2.3 "Boot, fresh start").
// With ConfigurationCache 0, boot mode cannot keep a configuration and APIcast exits with
// status 0; Run then logs that and returns nil (§2.1). Otherwise the configuration is reloaded
// every ConfigurationCache, and a failed reload keeps the previous one (§2.3 "Boot, running").
//
// In lazy mode (staging) nothing is loaded up front; each request loads the configuration of
// its Host (§2.3 "Lazy with cache 0").
//
// Run returns nil after a clean shutdown.
func Run(ctx context.Context, cfg Config) (err error) {
	// Listeners handed in are Run's to close, whatever happens.
	defer func() {
		if err != nil {
			closeIf(cfg.Listener)
			closeIf(cfg.ManagementListener)
		}
	}()
	if err := cfg.normalize(); err != nil {
		return fmt.Errorf("apicast: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	p, err := parsePortal(cfg.PortalEndpoint)
	if err != nil {
		return fmt.Errorf("apicast: %w", err)
	}
	log = log.With("component", "apicast-"+cfg.Environment)
	g := newGateway(cfg, p, log)
	log.Info("starting", "environment", cfg.Environment, "loader", cfg.ConfigurationLoader,
		"configuration_cache", cfg.ConfigurationCache.String(), "portal", p.redacted(),
		"backend_override", cfg.BackendEndpoint)

	if cfg.ConfigurationLoader == LoaderBoot {
		if cfg.ConfigurationCache == 0 {
			log.Error("cache is off, cannot store configuration, exiting")
			closeIf(cfg.Listener)
			closeIf(cfg.ManagementListener)
			return nil
		}
		svcs, err := g.loader.load(ctx, "")
		if err != nil {
			log.Error("failed to load configuration, exiting", "err", err)
			return fmt.Errorf("apicast: boot: %w", err)
		}
		g.boot.Store(newStore(svcs, log))
		log.Info("configuration loaded", "services", len(svcs))
	}

	proxyL, err := listenOr(ctx, cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("apicast: proxy listener: %w", err)
	}
	cfg.Listener = proxyL // closed by the deferred cleanup if management fails below
	mgmtL, err := listenOr(ctx, cfg.ManagementListener, cfg.ManagementAddr)
	if err != nil {
		return fmt.Errorf("apicast: management listener: %w", err)
	}

	proxySrv := &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
	mgmtSrv := &http.Server{Handler: g.managementHandler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("proxy server: %w", proxySrv.Serve(proxyL)) }()
	go func() { errc <- fmt.Errorf("management server: %w", mgmtSrv.Serve(mgmtL)) }()
	log.Info("listening", "proxy", proxyL.Addr().String(), "management", mgmtL.Addr().String())

	runCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	if cfg.ConfigurationLoader == LoaderBoot && cfg.ConfigurationCache > 0 {
		go g.refreshLoop(runCtx, cfg.ConfigurationCache)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err1 := proxySrv.Shutdown(shutCtx)
	err2 := mgmtSrv.Shutdown(shutCtx)
	log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("apicast: %w", serveErr)
	}
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("apicast: shutdown: %w", err)
	}
	return nil
}

// refreshLoop reloads the whole configuration, waiting period between the end of one load
// and the start of the next: APIcast's boot loader re-arms its timer only after a refresh
// has finished (APIcast@3scale-2.16.3-GA gateway/src/apicast/configuration_loader.lua
// boot.init_worker: handler runs refresh_configuration, then schedule(interval, handler)), so
// a slow system stretches the cycle instead of stacking loads. A failed reload keeps the
// current configuration (refresh_configuration logs "failed to update configuration" and
// configure returns before reset() on a nil config), which is why apicast-production keeps
// serving while system is down. A successful one replaces the configuration whole, so a
// product removed from system disappears too (2.16's configure(..., reset_cache=true); in
// 2.15.1-GA the old entries were kept).
func (g *gateway) refreshLoop(ctx context.Context, period time.Duration) {
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		svcs, err := g.loader.load(ctx, "")
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			g.log.Error("auto updating configuration failed; keeping the current one", "err", err)
		default:
			g.boot.Store(newStore(svcs, g.log))
			g.log.Debug("configuration refreshed", "services", len(svcs))
		}
		timer.Reset(period)
	}
}

// listenOr returns l when set, or a new TCP listener on addr with SO_REUSEPORT, so that several
// replicas of a host-network Deployment can share the port as gateway pods share a Service.
func listenOr(ctx context.Context, l net.Listener, addr string) (net.Listener, error) {
	if l != nil {
		return l, nil
	}
	return reuseport.Listen(ctx, addr)
}

func closeIf(l net.Listener) {
	if l != nil {
		_ = l.Close()
	}
}
