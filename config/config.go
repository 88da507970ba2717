// Package config reads sessiondb's configuration from the environment, a
// .env file and command-line flags (flags win over the environment, which
// wins over .env), and opens the store it names: Redis when REDIS_URL or
// REDIS_HOST is set, the embedded memory store otherwise.
package config

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/redisstore"
)

// Config is the whole configuration. The zero value is not meaningful: start
// from Default.
type Config struct {
	RedisURL            string
	RedisHost           string
	RedisPort           int
	RedisUsername       string
	RedisPassword       string
	RedisPasswordFile   string
	RedisDB             int
	RedisTLS            bool
	RedisTLSCAFile      string
	RedisSentinelMaster string
	RedisTimeout        time.Duration
	RedisCacheTTL       time.Duration

	SessionTTL      time.Duration
	MaxTTL          time.Duration
	IdleTimeout     time.Duration
	MaxPerUser      int // 0: no limit
	LimitPolicy     sessiondb.Policy
	CleanupInterval time.Duration
	KeyPrefix       string
	MaxMetadata     int
}

// Default returns the defaults of every setting.
func Default() Config {
	return Config{
		RedisPort:       6379,
		RedisTimeout:    redisstore.DefaultTimeout,
		SessionTTL:      sessiondb.DefaultTTL,
		MaxTTL:          sessiondb.DefaultMaxTTL,
		MaxPerUser:      sessiondb.DefaultMaxSessionsPerUser,
		LimitPolicy:     sessiondb.PolicyEvictOldest,
		CleanupInterval: sessiondb.DefaultCleanupInterval,
		KeyPrefix:       redisstore.DefaultPrefix,
		MaxMetadata:     sessiondb.DefaultMaxMetadataBytes,
	}
}

// Setting is one configuration entry: its environment variable, its flag
// and how to read and show it.
type Setting struct {
	Env    string
	Flag   string
	Usage  string
	Secret bool // never shown, and not offered as a flag (ps would show it)
	set    func(*Config, string) error
	get    func(*Config) string
}

// Settings lists every setting, in the order the documentation shows them.
var Settings = []Setting{
	str("REDIS_URL", "redis-url", "Redis URL (redis://, rediss://, unix://; ?addr=h:p for more nodes, ?master_set=name for Sentinel). Wins over REDIS_HOST and friends", func(c *Config) *string { return &c.RedisURL }),
	str("REDIS_HOST", "redis-host", "Redis host; setting it (or REDIS_URL) selects the Redis store instead of the embedded one", func(c *Config) *string { return &c.RedisHost }),
	integer("REDIS_PORT", "redis-port", "Redis port", 1, 65535, func(c *Config) *int { return &c.RedisPort }),
	str("REDIS_USERNAME", "redis-username", "Redis ACL user name (default: the default user)", func(c *Config) *string { return &c.RedisUsername }),
	{Env: "REDIS_PASSWORD", Usage: "Redis password (prefer REDIS_PASSWORD_FILE)", Secret: true,
		set: func(c *Config, v string) error { c.RedisPassword = v; return nil },
		get: func(c *Config) string { return "" }},
	str("REDIS_PASSWORD_FILE", "redis-password-file", "file holding the Redis password (a mounted Kubernetes secret); wins over REDIS_PASSWORD", func(c *Config) *string { return &c.RedisPasswordFile }),
	integer("REDIS_DB", "redis-db", "Redis database number (standalone and Sentinel only)", 0, 1<<20, func(c *Config) *int { return &c.RedisDB }),
	boolean("REDIS_TLS", "redis-tls", "connect to Redis with TLS", func(c *Config) *bool { return &c.RedisTLS }),
	str("REDIS_TLS_CA_FILE", "redis-tls-ca-file", "PEM file of the CA that signed Redis's certificate (default: the system roots)", func(c *Config) *string { return &c.RedisTLSCAFile }),
	str("REDIS_SENTINEL_MASTER", "redis-sentinel-master", "Sentinel master set name; REDIS_HOST/REDIS_PORT (or REDIS_URL) then name the sentinels", func(c *Config) *string { return &c.RedisSentinelMaster }),
	millis("REDIS_TIMEOUT_MS", "redis-timeout-ms", "bound on each Redis call, in milliseconds", func(c *Config) *time.Duration { return &c.RedisTimeout }),
	seconds("REDIS_CLIENT_CACHE_SECONDS", "redis-client-cache-seconds", "serve Validate from a client-side cache kept fresh by Redis invalidations, for at most this long per entry; 0 = off", true, func(c *Config) *time.Duration { return &c.RedisCacheTTL }),
	seconds("SESSION_TTL_SECONDS", "session-ttl-seconds", "lifetime of a session created without ttl", false, func(c *Config) *time.Duration { return &c.SessionTTL }),
	seconds("SESSION_MAX_TTL_SECONDS", "session-max-ttl-seconds", "largest ttl accepted, and the absolute lifetime of a session from its creation, refreshes included", false, func(c *Config) *time.Duration { return &c.MaxTTL }),
	seconds("SESSION_IDLE_TIMEOUT_SECONDS", "session-idle-timeout-seconds", "end sessions unused for this long; 0 = off", true, func(c *Config) *time.Duration { return &c.IdleTimeout }),
	integer("MAX_SESSIONS_PER_USER", "max-sessions-per-user", "live sessions a user may hold; 0 = no limit", 0, 1<<20, func(c *Config) *int { return &c.MaxPerUser }),
	{Env: "SESSION_LIMIT_POLICY", Flag: "session-limit-policy", Usage: "at the limit: evict-oldest (end the oldest session) or reject (refuse the new one)",
		set: func(c *Config, v string) error {
			p, err := sessiondb.ParsePolicy(v)
			c.LimitPolicy = p
			return err
		},
		get: func(c *Config) string { return string(c.LimitPolicy) }},
	seconds("CLEANUP_INTERVAL_SECONDS", "cleanup-interval-seconds", "period of the background cleanup of expired index entries", false, func(c *Config) *time.Duration { return &c.CleanupInterval }),
	{Env: "SESSION_KEY_PREFIX", Flag: "session-key-prefix", Usage: "prefix of every Redis key (no '{' or '}'; keep it short: it is in every key)",
		set: func(c *Config, v string) error {
			if v == "" || strings.ContainsAny(v, "{}") {
				return errors.New("must be non-empty, without '{' or '}'")
			}
			c.KeyPrefix = v
			return nil
		},
		get: func(c *Config) string { return c.KeyPrefix }},
	integer("SESSION_MAX_METADATA_BYTES", "session-max-metadata-bytes", "largest metadata accepted, serialized as JSON", 2, 1<<20, func(c *Config) *int { return &c.MaxMetadata }),
}

func str(env, fl, usage string, p func(*Config) *string) Setting {
	return Setting{Env: env, Flag: fl, Usage: usage,
		set: func(c *Config, v string) error { *p(c) = v; return nil },
		get: func(c *Config) string { return *p(c) }}
}

func integer(env, fl, usage string, lo, hi int, p func(*Config) *int) Setting {
	return Setting{Env: env, Flag: fl, Usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want an integer from %d to %d", lo, hi)
			}
			*p(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*p(c)) }}
}

func boolean(env, fl, usage string, p func(*Config) *bool) Setting {
	return Setting{Env: env, Flag: fl, Usage: usage,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return errors.New("want true or false")
			}
			*p(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*p(c)) }}
}

func seconds(env, fl, usage string, zeroOK bool, p func(*Config) *time.Duration) Setting {
	return Setting{Env: env, Flag: fl, Usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || (n == 0 && !zeroOK) || n > 10*365*24*3600 {
				if zeroOK {
					return errors.New("want a whole number of seconds, 0 or more")
				}
				return errors.New("want a whole number of seconds, 1 or more")
			}
			*p(c) = time.Duration(n) * time.Second
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(int64(*p(c)/time.Second), 10) }}
}

func millis(env, fl, usage string, p func(*Config) *time.Duration) Setting {
	return Setting{Env: env, Flag: fl, Usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 1 || n > 3600_000 {
				return errors.New("want a whole number of milliseconds, 1 or more")
			}
			*p(c) = time.Duration(n) * time.Millisecond
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(int64(*p(c)/time.Millisecond), 10) }}
}

// Default returns the setting's default value, as shown in documentation.
func (s Setting) Default() string {
	c := Default()
	return s.get(&c)
}

// FromEnv reads every setting from getenv, over the defaults. An empty
// variable counts as unset.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	var errs []error
	for _, s := range Settings {
		if v := getenv(s.Env); v != "" {
			if err := s.set(&c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Check()
}

// RegisterFlags adds a flag for every non-secret setting to fs. Each flag's
// default is c's current value, so flags override the environment.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	for _, s := range Settings {
		if s.Flag == "" || s.Secret {
			continue
		}
		fs.Var(&settingFlag{c: c, s: s}, s.Flag, s.Usage+" (env "+s.Env+")")
	}
}

type settingFlag struct {
	c *Config
	s Setting
}

func (f *settingFlag) String() string {
	if f.c == nil {
		return ""
	}
	return f.s.get(f.c)
}
func (f *settingFlag) Set(v string) error { return f.s.set(f.c, v) }

// IsBoolFlag lets boolean settings be given as a bare -flag.
func (f *settingFlag) IsBoolFlag() bool { return f.s.Env == "REDIS_TLS" }

// Check reports settings that disagree with each other.
func (c Config) Check() error {
	if c.MaxTTL < c.SessionTTL {
		return fmt.Errorf("SESSION_MAX_TTL_SECONDS (%d) is below SESSION_TTL_SECONDS (%d)", int64(c.MaxTTL/time.Second), int64(c.SessionTTL/time.Second))
	}
	return nil
}

// UsesRedis reports whether the configuration names a Redis server.
func (c Config) UsesRedis() bool { return c.RedisURL != "" || c.RedisHost != "" }

// Options returns the Manager options the configuration asks for.
func (c Config) Options() sessiondb.Options {
	max := c.MaxPerUser
	if max == 0 {
		max = -1 // no limit
	}
	return sessiondb.Options{
		TTL: c.SessionTTL, MaxTTL: c.MaxTTL, IdleTimeout: c.IdleTimeout,
		MaxSessionsPerUser: max, LimitPolicy: c.LimitPolicy,
		MaxMetadataBytes: c.MaxMetadata, CleanupInterval: c.CleanupInterval,
	}
}

// Password returns the Redis password, read from RedisPasswordFile when set.
func (c Config) Password() (string, error) {
	if c.RedisPasswordFile == "" {
		return c.RedisPassword, nil
	}
	b, err := os.ReadFile(c.RedisPasswordFile)
	if err != nil {
		return "", fmt.Errorf("REDIS_PASSWORD_FILE: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ClientOption returns the rueidis options for the configured Redis.
func (c Config) ClientOption() (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if c.RedisURL != "" {
		var err error
		if opt, err = rueidis.ParseURL(c.RedisURL); err != nil {
			// Not %w: the parser's error quotes the URL, password and all.
			return opt, errors.New("REDIS_URL: not a valid redis://, rediss:// or unix:// URL")
		}
	} else {
		opt.InitAddress = []string{net.JoinHostPort(cmp.Or(c.RedisHost, "localhost"), strconv.Itoa(c.RedisPort))}
		opt.SelectDB = c.RedisDB
		opt.Username = c.RedisUsername
		if c.RedisSentinelMaster != "" {
			opt.Sentinel.MasterSet = c.RedisSentinelMaster
		}
	}
	pw, err := c.Password()
	if err != nil {
		return opt, err
	}
	if pw != "" {
		opt.Password = pw
		if c.RedisSentinelMaster != "" && opt.Sentinel.Password == "" {
			// Sentinels usually share the data nodes' credentials.
			opt.Sentinel.Username, opt.Sentinel.Password = opt.Username, pw
		}
	}
	if c.RedisUsername != "" {
		opt.Username = c.RedisUsername
	}
	if c.RedisTLS || c.RedisTLSCAFile != "" {
		if opt.TLSConfig == nil {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if c.RedisTLSCAFile != "" {
			pem, err := os.ReadFile(c.RedisTLSCAFile)
			if err != nil {
				return opt, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return opt, errors.New("REDIS_TLS_CA_FILE: no PEM certificate found")
			}
			opt.TLSConfig.RootCAs = pool
		}
	}
	opt.ClientName = "sessiondb"
	// No CLIENT SETINFO: Redis 7.0 does not know it, and from 7.2 on the
	// least-privilege ACL user of deploy/redis/users.acl may not run it (the
	// refusal is harmless but would fill Redis's ACL LOG).
	opt.ClientSetInfo = rueidis.DisableClientSetInfo
	return opt, nil
}

// OpenStore opens the configured store: Redis when configured (connecting
// in the background if it is down), the embedded memory store otherwise.
func (c Config) OpenStore() (sessiondb.Store, error) {
	if !c.UsesRedis() {
		return memstore.New(), nil
	}
	opt, err := c.ClientOption()
	if err != nil {
		return nil, err
	}
	return redisstore.Open(opt, redisstore.Options{Prefix: c.KeyPrefix, Timeout: c.RedisTimeout, CacheTTL: c.RedisCacheTTL})
}

// Open opens the configured store and a Manager over it. Close the store
// (m.Store().Close()) when done.
func (c Config) Open() (*sessiondb.Manager, error) {
	st, err := c.OpenStore()
	if err != nil {
		return nil, err
	}
	m, err := sessiondb.New(st, c.Options())
	if err != nil {
		st.Close()
		return nil, err
	}
	return m, nil
}

// Describe says in one line which store the configuration uses, without
// secrets, for startup logs.
func (c Config) Describe() string {
	if !c.UsesRedis() {
		return "embedded memory store"
	}
	if c.RedisURL != "" {
		opt, err := rueidis.ParseURL(c.RedisURL)
		if err != nil {
			return "redis (unparsable REDIS_URL)"
		}
		if opt.Sentinel.MasterSet != "" {
			return fmt.Sprintf("redis sentinel %s at %s", opt.Sentinel.MasterSet, strings.Join(opt.InitAddress, ","))
		}
		return "redis at " + strings.Join(opt.InitAddress, ",")
	}
	addr := net.JoinHostPort(c.RedisHost, strconv.Itoa(c.RedisPort))
	if c.RedisSentinelMaster != "" {
		return fmt.Sprintf("redis sentinel %s at %s", c.RedisSentinelMaster, addr)
	}
	return fmt.Sprintf("redis at %s db %d", addr, c.RedisDB)
}
