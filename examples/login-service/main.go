// Command login-service is a small web service in the role of a user
// manager's login front end, built on sessiondb and its net/http middleware
// (package httpsession): a login form for a few demo users, a "My devices"
// page listing the user's sessions (device and browser, IP address, login
// time, last activity), "log out this device", "log out all other devices"
// and logout.
//
//	go run ./examples/login-service
//
// It keeps sessions with the embedded library (in memory, or in Redis when
// REDIS_URL is set), or in a remote sessiond when SESSIOND_URL (and
// SESSIOND_API_KEY) is set, through the Go client. Over plain HTTP it listens on loopback only, in a
// development mode whose session cookie lacks Secure; given -tls-cert and
// -tls-key it serves HTTPS with the strict __Host- cookie, as it does behind
// a TLS-terminating proxy with -behind-tls. docs/integration.md walks
// through it.
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
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// defaultAddr is where the service listens: loopback, next to sessiond's
// default of 127.0.0.1:8080.
const defaultAddr = "127.0.0.1:8081"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "login-service:", err)
		os.Exit(1)
	}
}

// options are the command line and environment settings.
type options struct {
	addr           string
	tlsCert        string
	tlsKey         string
	behindTLS      bool
	trustedProxies []string
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("login-service", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&o.addr, "addr", envOr(getenv, "LOGIN_ADDR", defaultAddr), "listen address (LOGIN_ADDR); plain HTTP only on a loopback address")
	fs.StringVar(&o.tlsCert, "tls-cert", getenv("LOGIN_TLS_CERT"), "certificate file (PEM) to serve HTTPS with (LOGIN_TLS_CERT)")
	fs.StringVar(&o.tlsKey, "tls-key", getenv("LOGIN_TLS_KEY"), "private key file (PEM) of -tls-cert (LOGIN_TLS_KEY)")
	behind, _ := strconv.ParseBool(getenv("LOGIN_BEHIND_TLS"))
	fs.BoolVar(&o.behindTLS, "behind-tls", behind, "serve plain HTTP behind a proxy that terminates TLS, with the strict HTTPS cookie (LOGIN_BEHIND_TLS)")
	proxies := fs.String("trusted-proxies", getenv("LOGIN_TRUSTED_PROXIES"), "comma-separated CIDR prefixes of proxies whose X-Forwarded-For is believed (LOGIN_TRUSTED_PROXIES)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.trustedProxies = append(o.trustedProxies, p)
		}
	}
	switch {
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return o, errors.New("-tls-cert and -tls-key go together")
	case o.tlsCert != "" && o.behindTLS:
		return o, errors.New("-behind-tls is for a proxy that serves HTTPS; with -tls-cert this process serves it")
	case o.tlsCert == "" && !o.behindTLS && !isLoopback(o.addr):
		return o, fmt.Errorf("-addr %s: plain HTTP serves a loopback address only (127.0.0.1, ::1, localhost); "+
			"give -tls-cert and -tls-key to serve HTTPS, or -behind-tls behind a TLS proxy", o.addr)
	}
	return o, nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// isLoopback reports whether a listen address names a loopback host.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// run is the service: it reads its settings, opens the sessions, listens and
// serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	sessions, backend, closeSessions, err := openSessions(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer closeSessions()

	dev := o.tlsCert == "" && !o.behindTLS
	svc, err := newService(serviceConfig{
		sessions: sessions, users: demoUsers, dev: dev, hsts: o.tlsCert != "",
		trustedProxies: o.trustedProxies, backend: backend, log: log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           svc.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	scheme, mode := "http", ""
	switch {
	case o.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme, mode = "https", "HTTPS, session cookie "+svc.mw.CookieName()+" (Secure, HttpOnly, SameSite=Lax)"
	case o.behindTLS:
		mode = "plain HTTP behind a TLS proxy, session cookie " + svc.mw.CookieName() + " (Secure, HttpOnly, SameSite=Lax)"
	default:
		mode = "DEVELOPMENT MODE: plain HTTP on loopback, session cookie " + svc.mw.CookieName() +
			" without Secure; give -tls-cert and -tls-key to serve HTTPS"
	}
	fmt.Fprintf(stdout, "login-service on %s://%s (%s); sessions: %s\n", scheme, ln.Addr(), mode, backend)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openSessions returns the sessions the environment names, with a
// description and a function that closes them: a remote sessiond through the
// Go client when SESSIOND_URL is set (with SESSIOND_API_KEY, and
// SESSIOND_CA_FILE for a sessiond whose certificate a private authority
// signs), and otherwise the embedded library, on the store package config
// picks (memory by default, Redis with REDIS_URL). Both are a
// sessiondb.Sessions: nothing else in the service knows which.
func openSessions(ctx context.Context, getenv func(string) string, log *slog.Logger) (sessiondb.Sessions, string, func(), error) {
	if raw := getenv("SESSIOND_URL"); raw != "" {
		c, err := sessiondclient.New(raw, sessiondclient.Options{
			APIKey: getenv("SESSIOND_API_KEY"),
			CAFile: getenv("SESSIOND_CA_FILE"),
		})
		if err != nil {
			return nil, "", nil, fmt.Errorf("SESSIOND_URL: %w", err)
		}
		// Start anyway when sessiond is down: pages answer 503 until it is up.
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := c.Ping(pingCtx); err != nil {
			log.Warn("sessiond does not answer yet", "err", err)
		}
		u, _ := url.Parse(raw) // parsed by New already
		u.User = nil
		return c, "sessiond at " + u.String() + ", through the Go client", c.CloseIdleConnections, nil
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return nil, "", nil, err
	}
	m, err := cfg.Open()
	if err != nil {
		return nil, "", nil, err
	}
	return m, "sessiondb library on the " + cfg.Describe(), func() { m.Store().Close() }, nil
}
