package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/redisstore"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.UsesRedis() || c.Describe() != "embedded memory store" {
		t.Fatalf("no Redis configured, got %q", c.Describe())
	}
	o := c.Options()
	if o.TTL != time.Hour || o.MaxSessionsPerUser != 5 || o.LimitPolicy != sessiondb.PolicyEvictOldest || o.CleanupInterval != 5*time.Minute || o.MaxTTL != 30*24*time.Hour || o.IdleTimeout != 0 {
		t.Fatalf("default options = %+v", o)
	}
	st, err := c.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

func TestFromEnv(t *testing.T) {
	c, err := FromEnv(env(map[string]string{
		"REDIS_HOST": "redis.internal", "REDIS_PORT": "6380", "REDIS_DB": "2", "REDIS_PASSWORD": "pw",
		"SESSION_TTL_SECONDS": "600", "MAX_SESSIONS_PER_USER": "0", "SESSION_LIMIT_POLICY": "reject",
		"SESSION_IDLE_TIMEOUT_SECONDS": "900", "SESSION_MAX_TTL_SECONDS": "86400", "CLEANUP_INTERVAL_SECONDS": "60",
		"SESSION_KEY_PREFIX": "app:", "REDIS_TIMEOUT_MS": "1500",
	}))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.TTL != 10*time.Minute || o.MaxSessionsPerUser != -1 || o.LimitPolicy != sessiondb.PolicyReject || o.IdleTimeout != 15*time.Minute || o.MaxTTL != 24*time.Hour || o.CleanupInterval != time.Minute {
		t.Fatalf("options = %+v", o)
	}
	opt, err := c.ClientOption()
	if err != nil {
		t.Fatal(err)
	}
	if opt.InitAddress[0] != "redis.internal:6380" || opt.SelectDB != 2 || opt.Password != "pw" {
		t.Fatalf("client option = %+v", opt)
	}
	if d := c.Describe(); strings.Contains(d, "pw") || !strings.Contains(d, "redis.internal:6380") {
		t.Fatalf("Describe = %q", d)
	}
}

func TestRedisURLWins(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"REDIS_URL": "redis://:secret@10.0.0.5:7000/3", "REDIS_HOST": "ignored"}))
	if err != nil {
		t.Fatal(err)
	}
	opt, err := c.ClientOption()
	if err != nil {
		t.Fatal(err)
	}
	if opt.InitAddress[0] != "10.0.0.5:7000" || opt.SelectDB != 3 || opt.Password != "secret" {
		t.Fatalf("client option = %+v", opt)
	}
	if strings.Contains(c.Describe(), "secret") {
		t.Fatal("Describe leaks the password")
	}
	c.RedisURL = "redis://user:hunter2@[bad"
	if _, err := c.ClientOption(); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("bad URL error = %v: want an error without the password", err)
	}
}

func TestPasswordFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(p, []byte("s3cret\n"), 0o600)
	c, err := FromEnv(env(map[string]string{"REDIS_HOST": "h", "REDIS_PASSWORD": "other", "REDIS_PASSWORD_FILE": p}))
	if err != nil {
		t.Fatal(err)
	}
	if opt, err := c.ClientOption(); err != nil || opt.Password != "s3cret" {
		t.Fatalf("password from file = %q, %v", opt.Password, err)
	}
	c.RedisPasswordFile = filepath.Join(t.TempDir(), "missing")
	if _, err := c.ClientOption(); err == nil {
		t.Fatal("a missing password file was accepted")
	}
}

func TestBadValues(t *testing.T) {
	for k, v := range map[string]string{
		"REDIS_PORT": "70000", "REDIS_DB": "-1", "SESSION_TTL_SECONDS": "0", "SESSION_TTL_SECONDS ": "x",
		"MAX_SESSIONS_PER_USER": "many", "SESSION_LIMIT_POLICY": "lru", "SESSION_KEY_PREFIX": "a{b}",
		"REDIS_TLS": "maybe", "CLEANUP_INTERVAL_SECONDS": "-5", "SESSION_IDLE_TIMEOUT_SECONDS": "1.5",
	} {
		if _, err := FromEnv(env(map[string]string{strings.TrimSpace(k): v})); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(k)) {
			t.Errorf("%s=%q: error %v, want one naming the variable", k, v, err)
		}
	}
	if _, err := FromEnv(env(map[string]string{"SESSION_TTL_SECONDS": "7200", "SESSION_MAX_TTL_SECONDS": "3600"})); err == nil {
		t.Error("TTL above the maximum TTL accepted")
	}
}

func TestFlagsOverrideEnv(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"SESSION_TTL_SECONDS": "600", "REDIS_HOST": "envhost"}))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"-session-ttl-seconds", "120", "-redis-tls", "-max-sessions-per-user", "3"}); err != nil {
		t.Fatal(err)
	}
	if c.SessionTTL != 2*time.Minute || !c.RedisTLS || c.MaxPerUser != 3 || c.RedisHost != "envhost" {
		t.Fatalf("after flags: %+v", c)
	}
	if fs.Lookup("redis-password") != nil {
		t.Fatal("the password must not be a flag: ps shows command lines")
	}
	if err := fs.Parse([]string{"-session-limit-policy", "drop"}); err == nil {
		t.Fatal("a bad flag value was accepted")
	}
}

func TestDotEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".env")
	os.WriteFile(p, []byte("# comment\n\nexport REDIS_HOST=fromfile\nSESSION_TTL_SECONDS=\"900\"\nMAX_SESSIONS_PER_USER=7 # trailing\nSESSION_KEY_PREFIX='q:'\n"), 0o600)
	getenv, err := Getenv(env(map[string]string{"SESSION_TTL_SECONDS": "60"}), p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisHost != "fromfile" || c.SessionTTL != time.Minute || c.MaxPerUser != 7 || c.KeyPrefix != "q:" {
		t.Fatalf("config = %+v: the environment must win over .env", c)
	}
	if _, err := Getenv(env(nil), filepath.Join(t.TempDir(), "none")); err != nil {
		t.Fatalf("a missing .env is not an error: %v", err)
	}
	os.WriteFile(p, []byte("NOT A LINE\n"), 0o600)
	if _, err := Getenv(env(nil), p); err == nil {
		t.Fatal("a malformed .env was accepted")
	}
}

// The documentation lists every setting: .env.example and the README.
func TestDocumented(t *testing.T) {
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		if !strings.Contains(string(example), s.Env+"=") && !strings.Contains(string(example), "# "+s.Env+"=") {
			t.Errorf(".env.example does not list %s", s.Env)
		}
		if !strings.Contains(string(readme), "`"+s.Env+"`") {
			t.Errorf("README.md does not document %s", s.Env)
		}
	}
	vars, err := ReadDotEnv("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromEnv(func(k string) string { return vars[k] }); err != nil {
		t.Fatalf(".env.example does not load: %v", err)
	}
}

// TestMaxSessionsSetting: in settings 0 means no limit; package config turns
// it into the options' NoLimit, whose 0 would be the default.
func TestMaxSessionsSetting(t *testing.T) {
	for v, want := range map[string]int{"": sessiondb.DefaultMaxSessionsPerUser, "0": sessiondb.NoLimit, "3": 3} {
		c, err := FromEnv(env(map[string]string{"MAX_SESSIONS_PER_USER": v}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Options().MaxSessionsPerUser; got != want {
			t.Errorf("MAX_SESSIONS_PER_USER=%q: MaxSessionsPerUser %d, want %d", v, got, want)
		}
	}
	if _, err := FromEnv(env(map[string]string{"MAX_SESSIONS_PER_USER": "-1"})); err == nil {
		t.Error("MAX_SESSIONS_PER_USER=-1 accepted; settings have no negative values")
	}
}

// TestWaitConnectionsSetting: REDIS_WAIT_CONNECTIONS=0 is no bound, which
// the store's options say with a negative WaitConnections (their 0 is the
// default), and the flag sets it too.
func TestWaitConnectionsSetting(t *testing.T) {
	for v, want := range map[string]int{"": redisstore.DefaultWaitConnections, "0": -1, "8": 8} {
		c, err := FromEnv(env(map[string]string{"REDIS_WAIT_CONNECTIONS": v}))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.storeOptions().WaitConnections; got != want {
			t.Errorf("REDIS_WAIT_CONNECTIONS=%q: WaitConnections %d, want %d", v, got, want)
		}
	}
	if _, err := FromEnv(env(map[string]string{"REDIS_WAIT_CONNECTIONS": "-1"})); err == nil {
		t.Error("REDIS_WAIT_CONNECTIONS=-1 accepted; settings have no negative values")
	}
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--redis-wait-connections", "16"}); err != nil || c.RedisWaitConnections != 16 {
		t.Errorf("--redis-wait-connections 16: %d, %v", c.RedisWaitConnections, err)
	}
}
