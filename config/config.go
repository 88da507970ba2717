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
	"net/url"
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
	RedisURL             string
	RedisHost            string
	RedisPort            int
	RedisUsername        string
	RedisPassword        string
	RedisPasswordFile    string
	RedisDB              int
	RedisTLS             bool
	RedisTLSCAFile       string
	RedisSentinelMaster  string
	RedisTimeout         time.Duration
	RedisCacheTTL        time.Duration
	RedisWaitReplicas    int
	RedisWaitTimeout     time.Duration
	RedisWaitConnections int // as the setting has it: 0 means no bound of sessiond's own
	RedisReadBatchFrom   int // as the setting has it: 0 means never

	SessionTTL      time.Duration
	MaxTTL          time.Duration
	IdleTimeout     time.Duration
	MaxPerUser      int // as the setting has it: 0 means no limit
	LimitPolicy     sessiondb.Policy
	CleanupInterval time.Duration
	KeyPrefix       string
	MaxMetadata     int

	Events           bool
	EventsMaxLen     int
	EventsMaxAge     time.Duration
	RevocationMemory time.Duration // 0: off
}

// Default returns the defaults of every setting.
func Default() Config {
	return Config{
		RedisPort:            6379,
		RedisTimeout:         redisstore.DefaultTimeout,
		RedisWaitTimeout:     redisstore.DefaultWaitTimeout,
		RedisWaitConnections: redisstore.DefaultWaitConnections,
		RedisReadBatchFrom:   redisstore.DefaultReadBatchFrom,
		SessionTTL:           sessiondb.DefaultTTL,
		MaxTTL:               sessiondb.DefaultMaxTTL,
		MaxPerUser:           sessiondb.DefaultMaxSessionsPerUser,
		LimitPolicy:          sessiondb.PolicyEvictOldest,
		CleanupInterval:      sessiondb.DefaultCleanupInterval,
		KeyPrefix:            redisstore.DefaultPrefix,
		MaxMetadata:          sessiondb.DefaultMaxMetadataBytes,
		EventsMaxLen:         sessiondb.DefaultEventsMaxLen,
		EventsMaxAge:         sessiondb.DefaultEventsMaxAge,
		RevocationMemory:     sessiondb.DefaultRevocationMemory,
	}
}

// maxSeconds bounds the second-valued settings: ten years.
const maxSeconds = 10 * 365 * 24 * 3600

// Settings lists every setting, in the order the documentation shows them.
var Settings = WithDefaults(Default(), []Setting[Config]{
	String("REDIS_URL", "redis-url", "Redis URL (redis://, rediss://, unix://; ?addr=h:p for more nodes, ?master_set=name for Sentinel). Wins over REDIS_HOST and friends", func(c *Config) *string { return &c.RedisURL }),
	String("REDIS_HOST", "redis-host", "Redis host; setting it (or REDIS_URL) selects the Redis store instead of the embedded one", func(c *Config) *string { return &c.RedisHost }),
	Int("REDIS_PORT", "redis-port", "Redis port", 1, 65535, func(c *Config) *int { return &c.RedisPort }),
	String("REDIS_USERNAME", "redis-username", "Redis ACL user name (default: the default user)", func(c *Config) *string { return &c.RedisUsername }),
	Secret("REDIS_PASSWORD", "Redis password (prefer REDIS_PASSWORD_FILE)", func(c *Config) *string { return &c.RedisPassword }),
	String("REDIS_PASSWORD_FILE", "redis-password-file", "file holding the Redis password (a mounted Kubernetes secret); wins over REDIS_PASSWORD", func(c *Config) *string { return &c.RedisPasswordFile }),
	Int("REDIS_DB", "redis-db", "Redis database number (standalone and Sentinel only)", 0, 1<<20, func(c *Config) *int { return &c.RedisDB }),
	Bool("REDIS_TLS", "redis-tls", "connect to Redis with TLS", func(c *Config) *bool { return &c.RedisTLS }),
	String("REDIS_TLS_CA_FILE", "redis-tls-ca-file", "PEM file of the CA that signed Redis's certificate (default: the system roots)", func(c *Config) *string { return &c.RedisTLSCAFile }),
	String("REDIS_SENTINEL_MASTER", "redis-sentinel-master", "Sentinel master set name; REDIS_HOST/REDIS_PORT, or the addresses of REDIS_URL, then name sentinels (the same as REDIS_URL's ?master_set=)", func(c *Config) *string { return &c.RedisSentinelMaster }),
	Millis("REDIS_TIMEOUT_MS", "redis-timeout-ms", "bound on each Redis call, in milliseconds", func(c *Config) *time.Duration { return &c.RedisTimeout }),
	Seconds("REDIS_CLIENT_CACHE_SECONDS", "redis-client-cache-seconds", "serve Validate from a client-side cache kept fresh by Redis invalidations, for at most this long per entry; 0 = off", 0, maxSeconds, func(c *Config) *time.Duration { return &c.RedisCacheTTL }),
	Int("REDIS_WAIT_REPLICAS", "redis-wait-replicas", "acknowledge creates, rotations, refreshes and revocations only once this many replicas confirmed them (WAIT; WAITAOF where Redis has it); 0 = off", 0, 64, func(c *Config) *int { return &c.RedisWaitReplicas }),
	Millis("REDIS_WAIT_TIMEOUT_MS", "redis-wait-timeout-ms", "how long a write waits for REDIS_WAIT_REPLICAS replicas; past it the call fails with 503 unavailable (the write may or may not survive a failover)", func(c *Config) *time.Duration { return &c.RedisWaitTimeout }),
	Int("REDIS_WAIT_CONNECTIONS", "redis-wait-connections", "with REDIS_WAIT_REPLICAS, the most connections per Redis node that writes hold while they wait for replicas (per process; in a cluster, for all primaries together); more concurrent writes wait for one, at most REDIS_WAIT_TIMEOUT_MS, else fail with 503 unavailable, having changed nothing; 0 = no bound but the Redis client's (1,024 per node)", 0, 1<<16, func(c *Config) *int { return &c.RedisWaitConnections }),
	Int("REDIS_READ_BATCH_FROM", "redis-read-batch-from", "while this many validations or more wait on Redis at once, their reads go to Redis together (one write, the replies read together): fewer system calls per validation under load, with no timer, so no wait when the process is idle; 0 = never", 0, 1<<16, func(c *Config) *int { return &c.RedisReadBatchFrom }),
	Seconds("SESSION_TTL_SECONDS", "session-ttl-seconds", "lifetime of a session created without ttl", 1, maxSeconds, func(c *Config) *time.Duration { return &c.SessionTTL }),
	Seconds("SESSION_MAX_TTL_SECONDS", "session-max-ttl-seconds", "largest ttl accepted, and the absolute lifetime of a session from its creation, refreshes included", 1, maxSeconds, func(c *Config) *time.Duration { return &c.MaxTTL }),
	Seconds("SESSION_IDLE_TIMEOUT_SECONDS", "session-idle-timeout-seconds", "end sessions unused for this long; 0 = off", 0, maxSeconds, func(c *Config) *time.Duration { return &c.IdleTimeout }),
	Int("MAX_SESSIONS_PER_USER", "max-sessions-per-user", "live sessions a user may hold; 0 = no limit", 0, 1<<20, func(c *Config) *int { return &c.MaxPerUser }),
	Custom("SESSION_LIMIT_POLICY", "session-limit-policy", "at the limit: evict-oldest (end the oldest session) or reject (refuse the new one)",
		func(c *Config, v string) error {
			p, err := sessiondb.ParsePolicy(v)
			c.LimitPolicy = p
			return err
		},
		func(c *Config) string { return string(c.LimitPolicy) }),
	Seconds("CLEANUP_INTERVAL_SECONDS", "cleanup-interval-seconds", "period of the background cleanup of expired index entries", 1, maxSeconds, func(c *Config) *time.Duration { return &c.CleanupInterval }),
	Custom("SESSION_KEY_PREFIX", "session-key-prefix", "prefix of every Redis key (no '{' or '}'; keep it short: it is in every key)",
		func(c *Config, v string) error {
			if v == "" || redisstore.CheckPrefix(v) != nil {
				return errors.New("must be non-empty, without '{' or '}'")
			}
			c.KeyPrefix = v
			return nil
		},
		func(c *Config) string { return c.KeyPrefix }),
	Int("SESSION_MAX_METADATA_BYTES", "session-max-metadata-bytes", "largest metadata accepted, serialized as JSON", 2, 1<<20, func(c *Config) *int { return &c.MaxMetadata }),
	Bool("SESSION_EVENTS", "session-events", "record an event for every change to sessions (created, rotated, invalidated, ...), in the same atomic step as the change, and remember why sessions ended (docs/events.md); every process that changes sessions must agree", func(c *Config) *bool { return &c.Events }),
	Int("SESSION_EVENTS_MAX_LEN", "session-events-max-len", "most event log entries kept, in all (each of the 1,024 buckets of users keeps this/1024)", sessiondb.Buckets, 1<<30, func(c *Config) *int { return &c.EventsMaxLen }),
	Seconds("SESSION_EVENTS_MAX_AGE_SECONDS", "session-events-max-age-seconds", "events older than this are skipped by readers and removed by cleanup", 1, maxSeconds, func(c *Config) *time.Duration { return &c.EventsMaxAge }),
	Seconds("SESSION_REVOCATION_MEMORY_SECONDS", "session-revocation-memory-seconds", "with SESSION_EVENTS, how long after a session ends validating its token tells why (evicted, revoked, rotated, expired); 0 = never", 0, maxSeconds, func(c *Config) *time.Duration { return &c.RevocationMemory }),
})

// FromEnv reads every setting from getenv, over the defaults. An empty
// variable counts as unset.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Default()
	if err := ApplyEnv(&c, Settings, getenv); err != nil {
		return c, err
	}
	return c, c.Check()
}

// RegisterFlags adds a flag for every non-secret setting to fs. Each flag's
// default is c's current value, so flags override the environment.
func (c *Config) RegisterFlags(fs *flag.FlagSet) { AddFlags(fs, c, Settings) }

// Check reports settings that disagree with each other.
func (c Config) Check() error {
	if c.MaxTTL < c.SessionTTL {
		return fmt.Errorf("SESSION_MAX_TTL_SECONDS (%d) is below SESSION_TTL_SECONDS (%d)", int64(c.MaxTTL/time.Second), int64(c.SessionTTL/time.Second))
	}
	if c.RedisSentinelMaster != "" && c.RedisURL != "" {
		// Parsed here only for the scheme and the query: the parser's
		// errors, which quote the URL and its password, are not shown.
		u, err := url.Parse(c.RedisURL)
		if err != nil {
			return errors.New("REDIS_URL: not a valid redis://, rediss:// or unix:// URL")
		}
		if u.Scheme == "unix" {
			return errors.New("REDIS_SENTINEL_MASTER needs sentinels reached over TCP, not a unix:// REDIS_URL")
		}
		if set := u.Query().Get("master_set"); set != "" && set != c.RedisSentinelMaster {
			return fmt.Errorf("REDIS_SENTINEL_MASTER (%s) and the master_set of REDIS_URL (%s) disagree: give the master set once", c.RedisSentinelMaster, set)
		}
	}
	return nil
}

// sentinelMaster returns the Sentinel master set: REDIS_SENTINEL_MASTER, or
// the master_set of REDIS_URL; "" without Sentinel.
func (c Config) sentinelMaster() string {
	if c.RedisSentinelMaster != "" {
		return c.RedisSentinelMaster
	}
	if u, err := url.Parse(c.RedisURL); err == nil && c.RedisURL != "" {
		return u.Query().Get("master_set")
	}
	return ""
}

// UsesRedis reports whether the configuration names a Redis server.
func (c Config) UsesRedis() bool { return c.RedisURL != "" || c.RedisHost != "" }

// Options returns the Manager options the configuration asks for.
func (c Config) Options() sessiondb.Options {
	max := c.MaxPerUser
	if max == 0 {
		max = sessiondb.NoLimit // a setting's 0 is none; an option's is the default
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
		// REDIS_SENTINEL_MASTER applies to the URL's addresses as to
		// REDIS_HOST: they name sentinels, not cluster nodes.
		if c.RedisSentinelMaster != "" {
			opt.Sentinel.MasterSet = c.RedisSentinelMaster
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
		st, err := memstore.NewWithOptions(memstore.Options{Events: c.EventOptions()})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	opt, err := c.ClientOption()
	if err != nil {
		return nil, err
	}
	return redisstore.Open(opt, c.storeOptions())
}

// storeOptions returns the Redis store's options.
func (c Config) storeOptions() redisstore.Options {
	conns := c.RedisWaitConnections
	if conns == 0 {
		conns = -1 // a setting's 0 is none; an option's is the default
	}
	batch := c.RedisReadBatchFrom
	if batch == 0 {
		batch = -1 // a setting's 0 is never; an option's is the default
	}
	return redisstore.Options{Prefix: c.KeyPrefix, Timeout: c.RedisTimeout, CacheTTL: c.RedisCacheTTL, ReadBatchFrom: batch,
		WaitReplicas: c.RedisWaitReplicas, WaitTimeout: c.RedisWaitTimeout, WaitConnections: conns, Events: c.EventOptions()}
}

// EventOptions returns the event log's options, or nil when SESSION_EVENTS
// is off.
func (c Config) EventOptions() *sessiondb.EventOptions {
	if !c.Events {
		return nil
	}
	o := &sessiondb.EventOptions{MaxLen: c.EventsMaxLen, MaxAge: c.EventsMaxAge, RevocationMemory: c.RevocationMemory}
	if c.RevocationMemory == 0 {
		o.RevocationMemory = -1 // off
	}
	return o
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
		if set := c.sentinelMaster(); set != "" {
			return fmt.Sprintf("redis sentinel %s at %s", set, strings.Join(opt.InitAddress, ","))
		}
		return "redis at " + strings.Join(opt.InitAddress, ",")
	}
	addr := net.JoinHostPort(c.RedisHost, strconv.Itoa(c.RedisPort))
	if c.RedisSentinelMaster != "" {
		return fmt.Sprintf("redis sentinel %s at %s", c.RedisSentinelMaster, addr)
	}
	return fmt.Sprintf("redis at %s db %d", addr, c.RedisDB)
}
