package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/httpapi"
	"github.com/sessiondb/sessiondb/internal/metrics"
	"github.com/sessiondb/sessiondb/internal/tracing"
)

// serve is sessiond's life in three steps: open everything that can fail
// at start-up (so a mistake is reported before anything is served), run
// until ctx is done or the server fails, then close the store, last.
func serve(ctx context.Context, cfg config.Config, sc serverConfig, log *slog.Logger) error {
	d, err := openService(ctx, cfg, sc, log)
	if err != nil {
		return err
	}
	err = d.run(ctx)
	d.close()
	log.Info("stopped")
	return err
}

// service is what openService made: run serves it, close releases the store
// and sends the last spans.
type service struct {
	sc    serverConfig
	log   *slog.Logger
	store sessiondb.Store
	tr    *tracing.Tracing // nil without OTEL_EXPORTER_OTLP_ENDPOINT
	m     *sessiondb.Manager
	met   *metrics.Metrics
	api   *httpapi.Server
	ln    net.Listener
	hs    *http.Server

	stopWebhooks func() // nil until webhook delivery started
}

// openService loads the API keys and TLS certificate, opens the store and
// the trace exporter, builds the manager and the API (with the console when
// SESSIOND_UI is on), and binds the listener. On an error it closes what it
// opened.
func openService(ctx context.Context, cfg config.Config, sc serverConfig, log *slog.Logger) (_ *service, err error) {
	keys, err := httpapi.LoadKeys(sc.APIKeys, sc.APIKeysFile)
	if err != nil {
		return nil, err
	}
	if keys.Len() == 0 && !isLoopback(sc.Addr) {
		return nil, fmt.Errorf("no API keys configured and %s %s is not a loopback address: "+
			"set SESSIOND_API_KEYS or SESSIOND_API_KEYS_FILE, or listen on 127.0.0.1", sc.addrName(), sc.Addr)
	}
	var tlsConfig *tls.Config
	if sc.tls() {
		cert, err := tls.LoadX509KeyPair(sc.TLSCertFile, sc.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("SESSIOND_TLS_CERT_FILE/SESSIOND_TLS_KEY_FILE: %w", err)
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	st, err := cfg.OpenStore()
	if err != nil {
		return nil, err
	}
	d := &service{sc: sc, log: log, store: st, met: metrics.New(version)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if sc.tracesEndpoint != "" {
		if d.tr, err = tracing.Start(ctx, sc.tracesEndpoint, version); err != nil {
			return nil, err
		}
	}
	opts := cfg.Options()
	opts.Logger = log.With("component", "sessiondb")
	var managed sessiondb.Store = d.met.InstrumentStore(st)
	if d.tr != nil {
		managed = d.tr.Store(managed)
	}
	if d.m, err = sessiondb.New(managed, opts); err != nil {
		return nil, err
	}
	d.met.RegisterStats(d.m, 0, 0)
	cache, _ := st.(metrics.CacheSource)
	d.met.RegisterCache(cache)
	var console *httpapi.ConsoleConfig
	if sc.UI {
		console = &httpapi.ConsoleConfig{Settings: sc.consoleSettings, Store: cfg.Describe(), Version: version}
	}
	d.api, err = httpapi.New(httpapi.Config{
		Manager: d.m, Keys: keys, Metrics: d.met, MaxBodyBytes: sc.MaxBodyBytes,
		Logger: log.With("component", "http"), Console: console,
	})
	if err != nil {
		return nil, err
	}
	if d.ln, err = net.Listen("tcp", sc.Addr); err != nil {
		return nil, fmt.Errorf("%s %s: %w", sc.addrName(), sc.Addr, err)
	}
	var handler http.Handler = d.api
	if d.tr != nil {
		handler = d.tr.Handler(d.api)
		log.Info("tracing: exporting spans over OTLP/HTTP", "endpoint", tracing.Describe(sc.tracesEndpoint))
	}
	d.hs = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn),
	}

	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	if keys.Len() == 0 {
		log.Warn("no API keys configured: every caller has full access, so sessiond serves on loopback only", "addr", sc.Addr)
	} else {
		log.Info("API keys loaded", "app", keys.Count(httpapi.RoleApp), "admin", keys.Count(httpapi.RoleAdmin))
	}
	addr := d.ln.Addr().String()
	startAttrs := []any{"version", version, "addr", addr, "url", scheme + "://" + addr, "store", cfg.Describe()}
	if cfg.UsesRedis() {
		startAttrs = append(startAttrs, "redis_user", cfg.RedisUser())
	}
	startAttrs = append(startAttrs, "env_file", sc.envFile, "cleanup_interval", opts.CleanupInterval.String())
	log.Info("listening", startAttrs...)
	if cfg.UsesRedis() {
		checkStore(ctx, d.m, cfg, log)
	}
	if d.stopWebhooks, err = startWebhooks(sc.webhooks, d.m, st, d.met, log.With("component", "webhooks")); err != nil {
		d.ln.Close()
		return nil, err
	}
	if sc.UI {
		log.Info("admin console", "url", scheme+"://"+addr+"/ui/")
	}
	return d, nil
}

// run serves HTTP and runs the cleaner as one group until ctx is done or
// the server fails, then stops them in order: readiness answers 503, the
// listener closes and requests in flight get the grace period, then the
// cleaner stops. It returns the server's error, or one saying that the
// grace period cut requests; a shutdown asked for by ctx is not an error.
func (d *service) run(ctx context.Context) error {
	cleanerCtx, stopCleaner := context.WithCancel(context.Background())
	defer stopCleaner()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if d.hs.TLSConfig != nil {
			err = d.hs.ServeTLS(d.ln, "", "")
		} else {
			err = d.hs.Serve(d.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil // the shutdown below
		}
		return fmt.Errorf("serve: %w", err)
	})
	g.Go(func() error {
		d.runCleaner(cleanerCtx)
		return nil
	})
	g.Go(func() error {
		<-gctx.Done() // a signal, or the server failed
		if ctx.Err() != nil {
			d.log.Info("shutting down", "grace", d.sc.ShutdownGrace.String())
		}
		err := d.shutdownHTTP()
		stopCleaner()
		return err
	})
	return g.Wait()
}

// runCleaner removes expired sessions every CLEANUP_INTERVAL_SECONDS until
// ctx is done.
func (d *service) runCleaner(ctx context.Context) {
	log := d.log.With("component", "cleaner")
	_ = d.m.RunCleaner(ctx, func(removed int, took time.Duration, err error) {
		d.met.CleanupDone(removed, took, err)
		if err == nil {
			log.Debug("cleanup pass", "removed", removed, "duration_ms", float64(took.Microseconds())/1000)
		}
	})
}

// shutdownHTTP turns readiness to 503 and drains the server within the
// grace period, then cuts the connections of requests still running.
func (d *service) shutdownHTTP() error {
	d.api.Shutdown()
	graceCtx, cancel := context.WithTimeout(context.Background(), d.sc.ShutdownGrace)
	defer cancel()
	if err := d.hs.Shutdown(graceCtx); err != nil {
		d.hs.Close()
		d.log.Warn("grace period over: closed the connections of unfinished requests", "grace", d.sc.ShutdownGrace.String())
		return fmt.Errorf("shutdown: requests still running after the %s grace period were cut", d.sc.ShutdownGrace)
	}
	return nil
}

// close stops webhook delivery, closes the store after everything that used
// it has stopped, then sends the spans not sent yet and stops the exporter.
func (d *service) close() {
	if d.stopWebhooks != nil {
		d.stopWebhooks() // gives its leases back, which needs the store
	}
	if err := d.store.Close(); err != nil && !errors.Is(err, sessiondb.ErrClosed) {
		d.log.Warn("closing the store", "err", err)
	}
	if d.tr != nil {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.tr.Shutdown(flushCtx); err != nil {
			d.log.Warn("tracing: sending the last spans", "err", err)
		}
	}
}
