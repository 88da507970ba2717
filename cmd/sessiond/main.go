// Command sessiond serves sessiondb's session API over HTTP: create,
// validate, refresh, rotate and invalidate sessions, list and revoke a user's
// sessions, statistics and cleanup, with API keys, probes, Prometheus metrics
// and graceful shutdown.
//
// With no configuration it listens on 127.0.0.1:8080 and keeps sessions in
// memory; set REDIS_URL or REDIS_HOST to use Redis. Every setting is an
// environment variable (also read from a .env file) and, but for secrets, a
// flag; run sessiond -h for the list. docs/sessiond.md has the details.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/tracing"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// HTTP server timeouts. Each store call of a request is bounded by
// REDIS_TIMEOUT_MS (2s by default), well below writeTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 15 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 32 << 10
	healthcheckWait   = 2 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "sessiond: %v\nRun sessiond -h for the flags and environment variables.\n", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "sessiond:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run is sessiond: it reads the configuration from getenv (and ./.env) and
// args, then serves until ctx is done and shuts down gracefully. With
// -healthcheck it probes a running sessiond instead.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	envFile, err := dotEnvFile(".env")
	if err != nil {
		return err
	}
	getenv, err = config.Getenv(getenv, ".env")
	if err != nil {
		return err
	}
	cfg, cfgErr := config.FromEnv(getenv)
	sc, scErr := serverConfigFromEnv(getenv)
	wc, wcErr := webhookConfigFromEnv(getenv)
	if err := errors.Join(cfgErr, scErr, wcErr); err != nil {
		return err
	}

	fs := flag.NewFlagSet("sessiond", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	sc.registerFlags(fs)
	config.AddFlags(fs, &wc, webhookSettings)
	probe := fs.Bool("healthcheck", false, "instead of serving, GET /healthz of the sessiond configured by SESSIOND_ADDR (127.0.0.1 for a wildcard host) within 2s: exit 0 on 200, 1 otherwise; for container health checks")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, fs)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	sc.envFile = envFile
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "addr" {
			sc.addrSource = "-addr"
		}
	})
	if err := errors.Join(cfg.Check(), sc.check(), wc.check(cfg)); err != nil {
		return err
	}
	sc.webhooks = wc
	if sc.tracesEndpoint, err = tracing.Endpoint(getenv); err != nil {
		return err
	}
	if sc.UI {
		flagged := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { flagged[f.Name] = true })
		sc.consoleSettings = describeSettings(&cfg, &sc, getenv, flagged)
	}
	switch {
	case *showVersion:
		fmt.Fprintln(stdout, "sessiond", version)
		return nil
	case *probe:
		return healthcheck(ctx, sc, stdout)
	}
	return serve(ctx, cfg, sc, newLogger(stderr, sc))
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: sessiond [flags]

sessiond serves the sessiondb session API over HTTP (see docs/sessiond.md).
Every flag can also be set by the environment variable named in its
description, or in a .env file in the working directory; flags win.
Without REDIS_URL or REDIS_HOST, sessions are kept in memory.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, `
Environment only (secrets are not flags, which ps would show):
  SESSIOND_API_KEYS   API keys as comma-separated role:key pairs, role app or
                      admin; prefer SESSIOND_API_KEYS_FILE. Without any key,
                      sessiond serves only on a loopback address.
  REDIS_PASSWORD      Redis password; prefer REDIS_PASSWORD_FILE.
  SESSIOND_WEBHOOKS   webhook endpoints with their signing secrets, each
                      'name url types secret' (docs/webhooks.md); prefer
                      SESSIOND_WEBHOOKS_FILE.
`)
}

func newLogger(w io.Writer, sc serverConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: sc.LogLevel}
	if sc.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// checkStore pings the store once at start-up, so that a configuration that
// Redis refuses is reported now, in one line naming the user and the setting
// to check, rather than at the first request. sessiond serves either way:
// /readyz answers 503 until the store answers, and the store keeps trying.
func checkStore(ctx context.Context, m *sessiondb.Manager, cfg config.Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, cfg.RedisTimeout)
	defer cancel()
	err := m.Ping(ctx)
	switch {
	case err == nil:
	case errors.Is(err, sessiondb.ErrStoreAuth):
		log.Error("the session store refuses access: "+cfg.ExplainAccessDenied(err, "sessiond"), "redis_user", cfg.RedisUser())
	default:
		log.Warn("the session store does not answer yet: /readyz answers 503 until it does", "err", err)
	}
}

// dotEnvFile returns the absolute path of the .env file at path, or "none"
// when there is none, for the start-up line.
func dotEnvFile(path string) (string, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "none", nil
	} else if err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

// healthcheck GETs /healthz of the sessiond that sc configures and returns
// nil on a 200 within healthcheckWait.
func healthcheck(ctx context.Context, sc serverConfig, stdout io.Writer) error {
	url, err := healthcheckURL(sc)
	if err != nil {
		return err
	}
	client := &http.Client{
		Timeout: healthcheckWait,
		Transport: &http.Transport{
			// A loopback probe of our own server, whose certificate names
			// the service, not 127.0.0.1.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			DisableKeepAlives: true,
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}

// healthcheckURL is the /healthz URL of the sessiond that sc configures: on
// 127.0.0.1 when it listens on every interface, https with TLS.
func healthcheckURL(sc serverConfig) (string, error) {
	host, port, err := net.SplitHostPort(sc.Addr)
	if err != nil {
		return "", err
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	scheme := "http"
	if sc.tls() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}
