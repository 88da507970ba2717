package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// serverConfig holds sessiond's own settings; the store and session settings
// are in package config.
type serverConfig struct {
	Addr          string
	APIKeys       string // secret: environment only
	APIKeysFile   string
	TLSCertFile   string
	TLSKeyFile    string
	LogFormat     string
	LogLevel      slog.Level
	ShutdownGrace time.Duration
	MaxBodyBytes  int64
}

func defaultServerConfig() serverConfig {
	return serverConfig{
		Addr:          "127.0.0.1:8080",
		LogFormat:     "text",
		LogLevel:      slog.LevelInfo,
		ShutdownGrace: 15 * time.Second,
		MaxBodyBytes:  16 << 10,
	}
}

// setting is one of sessiond's settings: its environment variable, its flag
// (none for secrets, which ps would show) and how to read and show it.
type setting struct {
	Env    string
	Flag   string
	Usage  string
	Secret bool
	set    func(*serverConfig, string) error
	get    func(*serverConfig) string
}

// serverSettings lists sessiond's settings, in the order the documentation
// shows them.
var serverSettings = []setting{
	{Env: "SESSIOND_ADDR", Flag: "addr", Usage: "listen address, host:port; without API keys it must be a loopback address (127.0.0.0/8, ::1, localhost)",
		set: func(c *serverConfig, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port")
			}
			c.Addr = v
			return nil
		},
		get: func(c *serverConfig) string { return c.Addr }},
	{Env: "SESSIOND_API_KEYS", Secret: true, Usage: "API keys as comma-separated role:key pairs, role app or admin (e.g. app:k1,admin:k2); prefer SESSIOND_API_KEYS_FILE",
		set: func(c *serverConfig, v string) error { c.APIKeys = v; return nil },
		get: func(c *serverConfig) string { return "" }},
	{Env: "SESSIOND_API_KEYS_FILE", Flag: "api-keys-file", Usage: "file of API keys, one role:key pair a line, # comments allowed; used together with SESSIOND_API_KEYS",
		set: func(c *serverConfig, v string) error { c.APIKeysFile = v; return nil },
		get: func(c *serverConfig) string { return c.APIKeysFile }},
	{Env: "SESSIOND_TLS_CERT_FILE", Flag: "tls-cert-file", Usage: "PEM certificate (chain) to serve HTTPS; needs SESSIOND_TLS_KEY_FILE",
		set: func(c *serverConfig, v string) error { c.TLSCertFile = v; return nil },
		get: func(c *serverConfig) string { return c.TLSCertFile }},
	{Env: "SESSIOND_TLS_KEY_FILE", Flag: "tls-key-file", Usage: "PEM private key of the certificate",
		set: func(c *serverConfig, v string) error { c.TLSKeyFile = v; return nil },
		get: func(c *serverConfig) string { return c.TLSKeyFile }},
	{Env: "SESSIOND_LOG_FORMAT", Flag: "log-format", Usage: "log format: text or json",
		set: func(c *serverConfig, v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			c.LogFormat = v
			return nil
		},
		get: func(c *serverConfig) string { return c.LogFormat }},
	{Env: "SESSIOND_LOG_LEVEL", Flag: "log-level", Usage: "least level logged: debug, info, warn or error (debug adds a line per probe and scrape)",
		set: func(c *serverConfig, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return errors.New("want debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		},
		get: func(c *serverConfig) string { return strings.ToLower(c.LogLevel.String()) }},
	{Env: "SESSIOND_SHUTDOWN_GRACE_SECONDS", Flag: "shutdown-grace-seconds", Usage: "on SIGTERM or SIGINT, how long in-flight requests may take to finish before their connections are closed",
		set: func(c *serverConfig, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || n > 3600 {
				return errors.New("want a whole number of seconds from 0 to 3600")
			}
			c.ShutdownGrace = time.Duration(n) * time.Second
			return nil
		},
		get: func(c *serverConfig) string { return strconv.FormatInt(int64(c.ShutdownGrace/time.Second), 10) }},
	{Env: "SESSIOND_MAX_BODY_BYTES", Flag: "max-body-bytes", Usage: "largest request body accepted; larger ones get 413",
		set: func(c *serverConfig, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 256 || n > 16<<20 {
				return fmt.Errorf("want a number of bytes from 256 to %d", 16<<20)
			}
			c.MaxBodyBytes = n
			return nil
		},
		get: func(c *serverConfig) string { return strconv.FormatInt(c.MaxBodyBytes, 10) }},
}

// serverConfigFromEnv reads sessiond's settings from getenv over the
// defaults. An empty variable counts as unset.
func serverConfigFromEnv(getenv func(string) string) (serverConfig, error) {
	c := defaultServerConfig()
	var errs []error
	for _, s := range serverSettings {
		if v := getenv(s.Env); v != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
	}
	return c, errors.Join(errs...)
}

// registerFlags adds a flag for every non-secret setting; each flag's
// default is c's current value, so flags override the environment.
func (c *serverConfig) registerFlags(fs *flag.FlagSet) {
	for _, s := range serverSettings {
		if s.Flag == "" || s.Secret {
			continue
		}
		fs.Var(&settingFlag{c: c, s: s}, s.Flag, s.Usage+" (env "+s.Env+")")
	}
}

type settingFlag struct {
	c *serverConfig
	s setting
}

func (f *settingFlag) String() string {
	if f.c == nil {
		return ""
	}
	return f.s.get(f.c)
}

func (f *settingFlag) Set(v string) error { return f.s.set(f.c, v) }

// check reports settings that disagree with each other.
func (c serverConfig) check() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("SESSIOND_TLS_CERT_FILE and SESSIOND_TLS_KEY_FILE go together: set both or neither")
	}
	return nil
}

// tls reports whether the listener serves HTTPS.
func (c serverConfig) tls() bool { return c.TLSCertFile != "" }

// isLoopback reports whether a listen address accepts only local
// connections: its host is localhost or a loopback IP. An empty host or
// 0.0.0.0 listens on every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
