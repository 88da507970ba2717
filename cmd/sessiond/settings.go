package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/httpapi"
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
	UI            bool

	addrSource string // "-addr" when the flag set Addr; SESSIOND_ADDR otherwise
	envFile    string // the .env file read, for the start-up line

	// tracesEndpoint is where OTLP traces go (OTEL_EXPORTER_OTLP_ENDPOINT
	// and friends, read by run); "" for no tracing.
	tracesEndpoint string

	// webhooks is the webhook delivery's settings (webhooks.go).
	webhooks webhookConfig

	// consoleSettings are the settings the console's configuration page
	// shows, filled by run when UI is on.
	consoleSettings []httpapi.ConsoleSetting
}

func defaultServerConfig() serverConfig {
	return serverConfig{
		Addr:          "127.0.0.1:8080",
		LogFormat:     "text",
		LogLevel:      slog.LevelInfo,
		ShutdownGrace: 15 * time.Second,
		MaxBodyBytes:  httpapi.DefaultMaxBodyBytes,
	}
}

// serverSettings lists sessiond's settings, in the order the documentation
// shows them. They are read like the library's (package config): from the
// environment and .env, then flags, which win.
var serverSettings = config.WithDefaults(defaultServerConfig(), []config.Setting[serverConfig]{
	config.Custom("SESSIOND_ADDR", "addr", "listen address, host:port; without API keys it must be a loopback address (127.0.0.0/8, ::1, localhost)",
		func(c *serverConfig, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return errors.New("want host:port")
			}
			c.Addr = v
			return nil
		},
		func(c *serverConfig) string { return c.Addr }),
	config.Secret("SESSIOND_API_KEYS", "API keys as comma-separated role:key pairs, role app or admin (app:<key>,admin:<key>), each of at least 128 random bits; prefer SESSIOND_API_KEYS_FILE",
		func(c *serverConfig) *string { return &c.APIKeys }),
	config.String("SESSIOND_API_KEYS_FILE", "api-keys-file", "file of API keys, one role:key pair a line, # comments allowed; used together with SESSIOND_API_KEYS",
		func(c *serverConfig) *string { return &c.APIKeysFile }),
	config.String("SESSIOND_TLS_CERT_FILE", "tls-cert-file", "PEM certificate (chain) to serve HTTPS; needs SESSIOND_TLS_KEY_FILE",
		func(c *serverConfig) *string { return &c.TLSCertFile }),
	config.String("SESSIOND_TLS_KEY_FILE", "tls-key-file", "PEM private key of the certificate",
		func(c *serverConfig) *string { return &c.TLSKeyFile }),
	config.Custom("SESSIOND_LOG_FORMAT", "log-format", "log format: text or json",
		func(c *serverConfig, v string) error {
			if v != "text" && v != "json" {
				return errors.New("want text or json")
			}
			c.LogFormat = v
			return nil
		},
		func(c *serverConfig) string { return c.LogFormat }),
	config.Custom("SESSIOND_LOG_LEVEL", "log-level", "least level logged: debug, info, warn or error (debug adds a line per probe and scrape)",
		func(c *serverConfig, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return errors.New("want debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		},
		func(c *serverConfig) string { return strings.ToLower(c.LogLevel.String()) }),
	config.Seconds("SESSIOND_SHUTDOWN_GRACE_SECONDS", "shutdown-grace-seconds", "on SIGTERM or SIGINT, how long in-flight requests may take to finish before their connections are closed",
		0, 3600, func(c *serverConfig) *time.Duration { return &c.ShutdownGrace }),
	config.Custom("SESSIOND_MAX_BODY_BYTES", "max-body-bytes", "largest request body accepted; larger ones get 413",
		func(c *serverConfig, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 256 || n > 16<<20 {
				return fmt.Errorf("want a number of bytes from 256 to %d", 16<<20)
			}
			c.MaxBodyBytes = n
			return nil
		},
		func(c *serverConfig) string { return strconv.FormatInt(c.MaxBodyBytes, 10) }),
	config.Bool("SESSIOND_UI", "ui", "serve the admin console under /ui/, where an admin API key signs in (docs/sessiond.md, Console)",
		func(c *serverConfig) *bool { return &c.UI }),
})

// serverConfigFromEnv reads sessiond's settings from getenv over the
// defaults. An empty variable counts as unset.
func serverConfigFromEnv(getenv func(string) string) (serverConfig, error) {
	c := defaultServerConfig()
	err := config.ApplyEnv(&c, serverSettings, getenv)
	return c, err
}

// registerFlags adds a flag for every non-secret setting; each flag's
// default is c's current value, so flags override the environment.
func (c *serverConfig) registerFlags(fs *flag.FlagSet) { config.AddFlags(fs, c, serverSettings) }

// check reports settings that disagree with each other.
func (c serverConfig) check() error {
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("SESSIOND_TLS_CERT_FILE and SESSIOND_TLS_KEY_FILE go together: set both or neither")
	}
	return nil
}

// addrName names where the listen address came from, for errors.
func (c serverConfig) addrName() string {
	if c.addrSource != "" {
		return c.addrSource
	}
	return "SESSIOND_ADDR"
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

// describeSettings lists every setting with its effective value and where
// it came from, for the console's configuration page. Secrets show only
// whether they are set, and a password in REDIS_URL is hidden.
func describeSettings(cfg *config.Config, sc *serverConfig, getenv func(string) string, flagged map[string]bool) []httpapi.ConsoleSetting {
	var out []httpapi.ConsoleSetting
	add := func(env, fl string, secret bool, value string) {
		source := "default"
		switch {
		case fl != "" && flagged[fl]:
			source = "flag"
		case getenv(env) != "":
			source = "environment"
		}
		if secret {
			value = "(not set)"
			if getenv(env) != "" {
				value = "(set, hidden)"
			}
		}
		if env == "REDIS_URL" && value != "" {
			value = redactURL(value)
		}
		out = append(out, httpapi.ConsoleSetting{Env: env, Flag: fl, Value: value, Source: source})
	}
	for _, s := range config.Settings {
		add(s.Env, s.Flag, s.Secret, s.Value(cfg))
	}
	for _, s := range serverSettings {
		add(s.Env, s.Flag, s.Secret, s.Value(sc))
	}
	for _, s := range webhookSettings {
		add(s.Env, s.Flag, s.Secret, s.Value(&sc.webhooks))
	}
	// Tracing's standard variables (docs/sessiond.md, Tracing); an endpoint
	// with credentials never gets here, sessiond refuses it at start-up.
	for _, env := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		add(env, "", false, redactURL(getenv(env)))
	}
	add("OTEL_EXPORTER_OTLP_HEADERS", "", true, "")
	return out
}

// redactURL hides the password of a URL; a URL it cannot read is hidden
// whole, since it may hold one.
func redactURL(v string) string {
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		return "(set, unreadable: hidden)"
	}
	return u.Redacted()
}
