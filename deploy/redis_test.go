package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
	"github.com/sessiondb/sessiondb/storetest"
)

// The development passwords whose hashes deploy/redis/users.acl holds. They
// are public: deploy/make-secrets.sh replaces them for any real deployment.
var devPasswords = map[string]string{
	"sessiond": "sessiond-dev-password",
	"operator": "operator-dev-password",
	"probe":    "probe-dev-password",
}

// repo returns the path of a file of the repository, from deploy/.
func repo(parts ...string) string { return filepath.Join(append([]string{".."}, parts...)...) }

// confServer is a redis-server started from deploy/redis/redis.conf, with
// only its port, bind address, directory, ACL file and log file overridden.
type confServer struct {
	*redistest.Server
	dir  string
	port int
}

// startConf copies redis.conf and the ACL file at aclPath into a temporary
// directory and starts redis-server on them.
func startConf(t testing.TB, aclPath string, extra ...string) *confServer {
	t.Helper()
	return startConfIn(t, t.TempDir(), aclPath, extra...)
}

// startConfIn is startConf with a data directory the caller prepared.
func startConfIn(t testing.TB, dir, aclPath string, extra ...string) *confServer {
	t.Helper()
	copyFile(t, repo("deploy", "redis", "redis.conf"), filepath.Join(dir, "redis.conf"))
	copyFile(t, aclPath, filepath.Join(dir, "users.acl"))
	srv := redistest.StartFromConf(t, filepath.Join(dir, "redis.conf"), dir,
		append([]string{"--aclfile", filepath.Join(dir, "users.acl")}, extra...)...)
	return &confServer{Server: srv, dir: dir, port: srv.Port}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (s *confServer) addr() string { return s.Addr() }

// kill stops the server with SIGKILL: nothing is flushed on the way out.
func (s *confServer) kill() { s.Stop() }

// start runs it again after kill, on the same port and directory.
func (s *confServer) start() { s.Restart() }

// client connects as user with a plain single-node client (no cluster
// discovery, no client-side cache), for raw commands.
func (s *confServer) client(t testing.TB, user, password string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{s.addr()}, Username: user, Password: password,
		ForceSingleClient: true, DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo,
	})
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(c.Close)
	return c
}

// env is the environment sessiond or sessionctl would get to reach s as user.
func (s *confServer) env(t testing.TB, user, password string, more ...string) func(string) string {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(s.port),
		"REDIS_USERNAME": user, "REDIS_PASSWORD_FILE": pwFile,
	}
	for i := 0; i+1 < len(more); i += 2 {
		vars[more[i]] = more[i+1]
	}
	return func(k string) string { return vars[k] }
}

// openStore opens the store exactly as the binaries do, from the environment.
func openStore(t testing.TB, getenv func(string) string) *redisstore.Store {
	t.Helper()
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cfg.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, ok := st.(*redisstore.Store)
	if !ok {
		t.Fatalf("config opened %T, want *redisstore.Store", st)
	}
	if err := rs.Ping(context.Background()); err != nil {
		t.Fatalf("Ping as %s: %v", getenv("REDIS_USERNAME"), err)
	}
	return rs
}

func do(c rueidis.Client, args ...string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args...).Build())
}

// aclLog returns Redis's ACL LOG, one line per entry, read as the operator.
func aclLog(t testing.TB, op rueidis.Client) []string {
	t.Helper()
	entries, err := do(op, "ACL", "LOG", "1000").ToArray()
	if err != nil {
		t.Fatalf("ACL LOG: %v", err)
	}
	var out []string
	for _, e := range entries {
		m, err := e.AsStrMap()
		if err != nil {
			t.Fatalf("ACL LOG entry: %v", err)
		}
		out = append(out, fmt.Sprintf("user=%s reason=%s context=%s object=%s",
			m["username"], m["reason"], m["context"], m["object"]))
	}
	return out
}

func infoField(t testing.TB, c rueidis.Client, section, field string) string {
	t.Helper()
	info, err := do(c, "INFO", section).ToString()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// TestRedisConf starts Redis from the shipped files and checks the settings
// that matter: memory, eviction, persistence, and who may connect.
func TestRedisConf(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	op := s.client(t, "operator", devPasswords["operator"])

	for _, c := range []struct{ section, field, want string }{
		{"memory", "maxmemory", strconv.Itoa(256 << 20)},
		{"memory", "maxmemory_policy", "noeviction"},
		{"persistence", "aof_enabled", "1"},
		{"persistence", "aof_last_write_status", "ok"},
	} {
		if got := infoField(t, op, c.section, c.field); got != c.want {
			t.Errorf("INFO %s: %s = %q, want %q", c.section, c.field, got, c.want)
		}
	}
	if got := infoField(t, op, "server", "config_file"); !strings.HasSuffix(got, "redis.conf") {
		t.Errorf("config_file = %q, want the copied redis.conf", got)
	}

	// Nobody gets in without a password: the default user is off.
	if _, err := redistest.Do(s.addr(), "PING"); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("PING without AUTH: %v, want NOAUTH", err)
	}
	for _, args := range [][]string{{"AUTH", ""}, {"AUTH", "default", ""}, {"AUTH", "default", "x"}} {
		if _, err := redistest.Do(s.addr(), args...); err == nil {
			t.Errorf("%q succeeded: the default user must be off", args)
		}
	}
	for user := range devPasswords {
		_, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.addr()}, Username: user,
			Password: "wrong", ForceSingleClient: true, DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo})
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("AUTH %s with a wrong password: %v, want WRONGPASS", user, err)
		}
	}

	// The probe user can PING and do nothing else.
	probe := s.client(t, "probe", devPasswords["probe"])
	if got, err := do(probe, "PING").ToString(); err != nil || got != "PONG" {
		t.Errorf("PING as probe = %q, %v", got, err)
	}
	for _, args := range [][]string{{"GET", "sdb:x"}, {"INFO"}, {"SCAN", "0"}} {
		if err := do(probe, args...).Error(); !isNoPerm(err) {
			t.Errorf("%q as probe: %v, want NOPERM", args, err)
		}
	}
}

// isNoPerm reports an ACL refusal, at the top level or inside a script.
func isNoPerm(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "NOPERM") || strings.Contains(msg, "The user executing the script can't")
}

// TestSessiondUserRunsLibrary drives every library operation through a
// Manager configured from the environment, as sessiond is, logged in as the
// sessiond ACL user, and checks that Redis refused nothing (ACL LOG empty).
func TestSessiondUserRunsLibrary(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	op := s.client(t, "operator", devPasswords["operator"])

	for _, c := range []struct{ cache, events string }{{"0", "false"}, {"30", "false"}, {"0", "true"}} {
		t.Run("client_cache_"+c.cache+"_events_"+c.events, func(t *testing.T) {
			getenv := s.env(t, "sessiond", devPasswords["sessiond"],
				"REDIS_CLIENT_CACHE_SECONDS", c.cache, "SESSION_EVENTS", c.events,
				"SESSION_KEY_PREFIX", "sdb:cache"+c.cache+c.events+":")
			exerciseLibrary(t, openStore(t, getenv))
			if log := aclLog(t, op); len(log) != 0 {
				t.Fatalf("Redis refused commands of the library to the sessiond user (add them to users.acl and deploy/redis/README.md):\n%s",
					strings.Join(log, "\n"))
			}
		})
	}
}

// exerciseLibrary runs every Manager operation on st, including the limit
// policies, expiry, idle timeout, cleanup and statistics.
func exerciseLibrary(t *testing.T, st *redisstore.Store) {
	t.Helper()
	ctx := context.Background()
	clock := storetest.NewClock()
	newManager := func(opt sessiondb.Options) *sessiondb.Manager {
		opt.Clock = clock.Now
		m, err := sessiondb.New(st, opt)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := newManager(sessiondb.Options{MaxSessionsPerUser: 3, IdleTimeout: time.Hour, MaxTTL: 48 * time.Hour})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	md := map[string]string{"ip": "192.0.2.7", "user_agent": "test"}
	create := func(user string, ttl time.Duration, md map[string]string) *sessiondb.Session {
		t.Helper()
		clock.Advance(time.Second) // distinct creation times: "oldest" is well defined
		s, err := m.Create(ctx, user, ttl, md)
		must(err)
		return s
	}
	a := create("alice", 0, md)
	b := create("alice", time.Hour, nil)
	c := create("alice", 2*time.Hour, nil)
	// A fourth session evicts the oldest (evict-oldest policy).
	d := create("alice", time.Hour, nil)
	_, err := m.Validate(ctx, string(a.Token))
	if !errors.Is(err, sessiondb.ErrNotFound) {
		t.Fatalf("oldest session after the limit: %v, want ErrNotFound", err)
	}
	var ended *sessiondb.EndedError
	if errors.As(err, &ended) != m.EventsEnabled() || (ended != nil && ended.Reason != sessiondb.EndEvicted) {
		t.Fatalf("oldest session after the limit: %v; events on: %v", err, m.EventsEnabled())
	}
	_, err = m.Validate(ctx, string(b.Token))
	must(err)
	_, err = m.Get(ctx, c.ID)
	must(err)
	clock.Advance(2 * time.Minute) // past the touch interval: Validate writes LastSeenAt
	_, err = m.Validate(ctx, string(d.Token))
	must(err)
	_, err = m.Refresh(ctx, string(b.Token), 3*time.Hour)
	must(err)
	rot, err := m.Rotate(ctx, string(c.Token))
	must(err)
	list, err := m.UserSessions(ctx, "alice")
	must(err)
	if len(list) != 3 {
		t.Fatalf("UserSessions = %d sessions, want 3", len(list))
	}
	must(m.Invalidate(ctx, string(b.Token)))
	must(m.InvalidateByID(ctx, rot.ID))
	if n, err := m.InvalidateUser(ctx, "alice", d.ID); err != nil || n != 0 {
		t.Fatalf("InvalidateUser(alice, except last) = %d, %v; want 0 left to remove", n, err)
	}

	// The reject policy.
	r := newManager(sessiondb.Options{MaxSessionsPerUser: 1, LimitPolicy: sessiondb.PolicyReject})
	_, err = r.Create(ctx, "bob", time.Minute, nil)
	must(err)
	if _, err := r.Create(ctx, "bob", time.Minute, nil); !errors.Is(err, sessiondb.ErrSessionLimit) {
		t.Fatalf("second session under the reject policy: %v, want ErrSessionLimit", err)
	}
	for i := range 20 {
		create(fmt.Sprintf("user-%d", i), time.Duration(i+1)*time.Minute, md)
	}
	if n, err := m.InvalidateUser(ctx, "user-3", ""); err != nil || n != 1 {
		t.Fatalf("InvalidateUser(user-3) = %d, %v; want 1", n, err)
	}

	// Expiry, then cleanup and statistics over every bucket.
	clock.Advance(30 * time.Minute)
	st1, err := m.Stats(ctx)
	must(err)
	if st1.MemoryMax != 256<<20 || st1.MemoryUsed <= 0 {
		t.Errorf("Stats memory = %d of %d, want a use of 256 MiB (maxmemory of redis.conf)", st1.MemoryUsed, st1.MemoryMax)
	}
	removed, err := m.Cleanup(ctx)
	must(err)
	if removed == 0 {
		t.Errorf("Cleanup removed nothing after sessions expired")
	}
	st2, err := m.Stats(ctx)
	must(err)
	if st2.Active == 0 || st2.Created < 25 {
		t.Errorf("Stats after cleanup = %+v", st2)
	}
	must(m.Ping(ctx))
	if !m.EventsEnabled() {
		return
	}
	// The event log: read (after the settle time), counted in the statistics.
	if st2.EventEntries < 25 || st2.EventBytes <= 0 || st2.Revocations == 0 {
		t.Errorf("Stats of the event log = %+v", st2)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := m.ReadEvents(ctx, "", sessiondb.EventFilter{UserID: "alice"}, 100)
		must(err)
		if len(p.Events) > 0 || time.Now().After(deadline) {
			if len(p.Events) == 0 || p.Events[0].Type != sessiondb.EventCreated || p.Events[0].SessionID != a.ID {
				t.Fatalf("alice's first event: %+v", p.Events)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, err := range m.Events(ctx, "", sessiondb.EventFilter{}) {
		must(err)
	}
}

// TestACLDenies checks, with real commands, what the sessiond and operator
// users must not do, and that Redis logs each refusal.
func TestACLDenies(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	op := s.client(t, "operator", devPasswords["operator"])
	app := s.client(t, "sessiond", devPasswords["sessiond"])

	// Some data to lose, were FLUSHALL allowed.
	if err := do(app, "SET", "sdb:canary", "1").Error(); err != nil {
		t.Fatalf("SET sdb:canary as sessiond: %v", err)
	}
	denied := [][]string{
		{"FLUSHALL"}, {"FLUSHDB"}, {"CONFIG", "GET", "*"}, {"CONFIG", "SET", "dir", "/tmp"},
		{"KEYS", "*"}, {"DEBUG", "SLEEP", "0"}, {"SCAN", "0"}, {"SHUTDOWN", "NOSAVE"},
		{"SET", "other:key", "x"}, {"GET", "other:key"}, {"ACL", "SETUSER", "sessiond", "+@all"},
		{"SCRIPT", "FLUSH"}, {"CLIENT", "LIST"}, {"BGSAVE"}, {"SELECT", "1"},
		{"EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "other:key"},
		{"EVAL", "return redis.call('SET', 'other:key', 'x')", "0"},
		{"EVAL", "return redis.call('FLUSHALL')", "0"},
	}
	for _, args := range denied {
		if err := do(app, args...).Error(); err == nil {
			t.Errorf("%q as sessiond succeeded, want it denied", args)
		} else if !isNoPerm(err) && !strings.HasPrefix(args[0], "DEBUG") {
			t.Errorf("%q as sessiond: %v, want NOPERM", args, err)
		}
	}
	for _, args := range [][]string{
		{"FLUSHALL"}, {"CONFIG", "SET", "dir", "/tmp"}, {"CONFIG", "REWRITE"}, {"CONFIG", "RESETSTAT"},
		{"KEYS", "*"}, {"DEBUG", "SLEEP", "0"}, {"SHUTDOWN", "NOSAVE"},
		{"SET", "other:key", "x"}, {"ACL", "SETUSER", "operator", "+@all"}, {"ACL", "SAVE"}, {"MODULE", "LIST"},
	} {
		if err := do(op, args...).Error(); err == nil {
			t.Errorf("%q as operator succeeded, want it denied", args)
		}
	}
	if got, err := do(app, "GET", "sdb:canary").ToString(); err != nil || got != "1" {
		t.Errorf("GET sdb:canary after the attempts = %q, %v; want 1", got, err)
	}
	// What sessionctl does beyond sessiond: backup (SCAN), snapshot (BGSAVE,
	// LASTSAVE, and CONFIG GET for the paths), diagnosis (ACL LOG, SLOWLOG,
	// LATENCY).
	for _, args := range [][]string{{"SCAN", "0", "MATCH", "sdb:*"}, {"DBSIZE"}, {"LASTSAVE"}, {"BGSAVE"},
		{"CONFIG", "GET", "dir"}, {"CONFIG", "GET", "dbfilename"},
		{"SLOWLOG", "GET", "1"}, {"LATENCY", "LATEST"}, {"ACL", "WHOAMI"}} {
		if err := do(op, args...).Error(); err != nil {
			t.Errorf("%q as operator: %v", args, err)
		}
	}

	// The refusals were logged, in the script context too.
	log := strings.Join(aclLog(t, op), "\n")
	for _, want := range []string{"user=sessiond reason=command context=toplevel object=flushall",
		"user=sessiond reason=key context=toplevel object=other:key",
		"user=sessiond reason=key context=lua object=other:key",
		"user=operator reason=command context=toplevel object=flushall"} {
		if !strings.Contains(log, want) {
			t.Errorf("ACL LOG lacks %q:\n%s", want, log)
		}
	}
}

// TestACLMatrix asks Redis (ACL DRYRUN) whether each user may run each
// command, against the rules of users.acl. A test-only admin user, appended
// to a copy of the file, asks.
func TestACLMatrix(t *testing.T) {
	acl, err := os.ReadFile(repo("deploy", "redis", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	withAdmin := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(withAdmin, append(acl, []byte("\nuser testadmin on >testadmin ~* &* +@all\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startConf(t, withAdmin)
	admin := s.client(t, "testadmin", "testadmin")

	type row struct {
		cmd     string
		allowed []string // users allowed; the others are denied
	}
	app := []string{"sessiond", "operator"}
	rows := []row{
		{"PING", []string{"sessiond", "operator", "probe"}},
		{"GET sdb:{abc}sX", app}, {"SET sdb:{abc}sX v PX 1000", app}, {"DEL sdb:{abc}sX", app},
		{"ZADD sdb:{abc}ualice 1 m", app}, {"HINCRBY sdb:{abc}h total 1", app}, {"HGETALL sdb:{abc}h", app},
		{"EVALSHA 0123456789012345678901234567890123456789 1 sdb:{abc}sX", app},
		{"EVAL return 1 sdb:{abc}sX", app}, {"INFO memory", app}, {"CLUSTER SLOTS", app},
		{"CLIENT TRACKING ON OPTIN", app}, {"CLIENT CACHING YES", app}, {"MULTI", app}, {"PTTL sdb:{abc}sX", app},
		{"SCAN 0 MATCH sdb:*", []string{"operator"}}, {"BGSAVE", []string{"operator"}},
		{"LASTSAVE", []string{"operator"}}, {"ACL LOG", []string{"operator"}}, {"ACL LOAD", []string{"operator"}},
		{"GET other:key", nil}, {"SET other:key v", nil}, {"EVAL return 1 other:key", nil},
		{"FLUSHALL", nil}, {"FLUSHDB", nil}, {"KEYS *", nil}, {"CONFIG GET dir", []string{"operator"}},
		{"CONFIG SET dir /tmp", nil}, {"CONFIG REWRITE", nil}, {"CONFIG RESETSTAT", nil},
		{"DEBUG SLEEP 0", nil}, {"SHUTDOWN", nil}, {"MONITOR", nil}, {"ACL SETUSER x on", nil}, {"ACL SAVE", nil},
		{"ACL GETUSER sessiond", nil}, {"SCRIPT FLUSH", nil}, {"SCRIPT LOAD return", app}, {"FUNCTION FLUSH", nil},
		{"CLIENT LIST", nil}, {"CLIENT KILL ID 1", nil}, {"REPLICAOF 127.0.0.1 1", nil}, {"MODULE LIST", nil},
		{"SWAPDB 0 1", nil}, {"SELECT 1", nil}, {"MIGRATE 127.0.0.1 1 sdb:x 0 1", nil}, {"SUBSCRIBE ch", nil},
		{"PUBLISH ch m", nil}, {"OBJECT ENCODING sdb:x", nil}, {"RENAME sdb:a sdb:b", nil}, {"UNLINK sdb:a", nil},
		// The event log: exactly the stream commands the scripts and the
		// readers issue (docs/events.md), and TIME and MEMORY USAGE beside
		// them; no other stream command.
		{"XADD sdb:{abc}e MAXLEN ~ 1024 * a x", app}, {"XTRIM sdb:{abc}e MINID 0", app},
		{"XRANGE sdb:{abc}e - +", app}, {"XLEN sdb:{abc}e", app}, {"TIME", app}, {"MEMORY USAGE sdb:{abc}e", app},
		{"XREVRANGE sdb:{abc}e + -", nil}, {"XREAD STREAMS sdb:{abc}e 0", nil}, {"XINFO STREAM sdb:{abc}e", nil},
		{"XDEL sdb:{abc}e 1-0", nil}, {"XSETID sdb:{abc}e 1-0", nil}, {"XGROUP CREATE sdb:{abc}e g $", nil},
		{"XREADGROUP GROUP g c STREAMS sdb:{abc}e >", nil}, {"XACK sdb:{abc}e g 1-0", nil},
		{"XADD other:e * a x", nil}, {"XRANGE other:e - +", nil},
	}
	for _, r := range rows {
		for _, user := range []string{"sessiond", "operator", "probe"} {
			want := false
			for _, u := range r.allowed {
				want = want || u == user
			}
			args := append([]string{"ACL", "DRYRUN", user}, strings.Fields(r.cmd)...)
			reply, err := do(admin, args...).ToString()
			if err != nil {
				t.Errorf("ACL DRYRUN %s %s: %v", user, r.cmd, err)
				continue
			}
			if got := reply == "OK"; got != want {
				t.Errorf("ACL DRYRUN %s %s = %q, want allowed=%v", user, r.cmd, reply, want)
			}
		}
	}
	// default is off: it may not even authenticate.
	flags, err := do(admin, "ACL", "GETUSER", "default").ToAny()
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := flags.(map[string]any); fmt.Sprint(m["flags"]) != "[off]" {
		t.Errorf("ACL GETUSER default flags = %v, want [off] (and no nopass)", m["flags"])
	}
}

// TestOperatorUserConformance runs the whole store conformance suite, backup
// walk and restore included, as the operator user: everything sessionctl
// does through the library.
func TestOperatorUserConformance(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	op := s.client(t, "operator", devPasswords["operator"])
	lib, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.addr()},
		Username: "operator", Password: devPasswords["operator"], ClientSetInfo: rueidis.DisableClientSetInfo})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lib.Close)
	var n atomic.Int64
	storetest.Run(t, func(tb testing.TB) sessiondb.Store {
		st, err := redisstore.New(lib, redisstore.Options{Prefix: fmt.Sprintf("sdb:op%d:", n.Add(1))})
		if err != nil {
			tb.Fatal(err)
		}
		return st
	})
	storetest.RunEvents(t, func(tb testing.TB, opt sessiondb.EventOptions) sessiondb.Store {
		st, err := redisstore.New(lib, redisstore.Options{Prefix: fmt.Sprintf("sdb:op%d:", n.Add(1)),
			Events: &opt, EventSettle: time.Millisecond})
		if err != nil {
			tb.Fatal(err)
		}
		return st
	})
	if log := aclLog(t, op); len(log) != 0 {
		t.Fatalf("Redis refused commands to the operator user:\n%s", strings.Join(log, "\n"))
	}
}

// TestOperatorReadsEvents runs sessionctl events, built from the
// repository, as the operator user of the shipped ACL, on the events
// sessiond's user made with SESSION_EVENTS=true: the table, --json, and
// --follow until SIGINT and until SIGTERM (exit 0 both times). Redis
// refuses nothing (ACL LOG empty).
func TestOperatorReadsEvents(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	op := s.client(t, "operator", devPasswords["operator"])
	ctx := sessiondb.WithActor(context.Background(), "frontend")
	m, err := sessiondb.New(openStore(t, s.env(t, "sessiond", devPasswords["sessiond"], "SESSION_EVENTS", "true")),
		sessiondb.Options{MaxSessionsPerUser: 2})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := m.Create(ctx, "alice", time.Hour, map[string]string{"ip": "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	bin := sessionctlBinary(t)
	env := envList(s.env(t, "operator", devPasswords["operator"], "SESSION_EVENTS", "true"),
		"REDIS_HOST", "REDIS_PORT", "REDIS_USERNAME", "REDIS_PASSWORD_FILE", "SESSION_EVENTS")
	sessionctl := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = env, t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sessionctl %v as operator: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The events are final a second after the change (the settle time).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(sessionctl("events"), "4 event(s)") {
		if time.Now().After(deadline) {
			t.Fatalf("sessionctl events as operator:\n%s", sessionctl("events"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := sessionctl("events", "--json", "--type", "evicted"); strings.Count(out, "\n") != 1 || !strings.Contains(out, `"type":"evicted"`) {
		t.Errorf("sessionctl events --json --type evicted as operator:\n%s", out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd := exec.Command(bin, "events", "--follow", "--json", "--since", "0")
		cmd.Env, cmd.Dir = env, t.TempDir()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // it reads the log, then polls
		cmd.Process.Signal(sig)
		if err := cmd.Wait(); err != nil {
			t.Errorf("sessionctl events --follow ended by %v: %v\n%s", sig, err, out.String())
		}
		if n := strings.Count(out.String(), `"user_id":"alice"`); n != 4 {
			t.Errorf("sessionctl events --follow --since 0 printed %d of alice's 4 events before %v:\n%s", n, sig, out.String())
		}
	}
	if log := aclLog(t, op); len(log) != 0 {
		t.Fatalf("Redis refused commands of sessionctl events to the operator user:\n%s", strings.Join(log, "\n"))
	}
}

// TestDefaultClientConnects connects as sessiond with rueidis's defaults,
// which send CLIENT SETINFO: Redis 7.0 does not know the command, and 7.2
// would refuse it to this user; neither may break the connection.
func TestDefaultClientConnects(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.addr()},
		Username: "sessiond", Password: devPasswords["sessiond"]})
	if err != nil {
		t.Fatalf("connect with rueidis defaults: %v", err)
	}
	defer c.Close()
	if got, err := do(c, "PING").ToString(); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v", got, err)
	}
}

// TestAOFKeepsSessions kills Redis with SIGKILL right after sessions were
// acknowledged and starts it again from the same directory: the append-only
// file of redis.conf brings every one of them back.
func TestAOFKeepsSessions(t *testing.T) {
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	getenv := s.env(t, "sessiond", devPasswords["sessiond"])
	ctx := context.Background()
	m, err := sessiondb.New(openStore(t, getenv), sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	tokens := make([]string, 0, n)
	for i := range n {
		sess, err := m.Create(ctx, fmt.Sprintf("u%d", i%40), time.Hour, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(sess.Token))
	}
	s.kill()
	s.start()

	m2, err := sessiondb.New(openStore(t, getenv), sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, tok := range tokens {
		if _, err := m2.Validate(ctx, tok); err != nil {
			if lost == 0 {
				t.Errorf("Validate after restart: %v", err)
			}
			lost++
		}
	}
	t.Logf("after kill -9 and restart: %d of %d acknowledged sessions lost", lost, n)
	if lost != 0 {
		t.Fatalf("%d of %d acknowledged sessions lost after kill -9 with appendonly yes", lost, n)
	}
	st, err := m2.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Active != n {
		t.Fatalf("Stats.Active after restart = %d, want %d", st.Active, n)
	}
}

// TestACLDocumented: every command users.acl grants is explained in
// deploy/redis/README.md, for the same users, and nothing more.
func TestACLDocumented(t *testing.T) {
	acl, err := os.ReadFile(repo("deploy", "redis", "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(repo("deploy", "redis", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The table: | `+cmd` `+cmd` | sessiond | operator | probe | why |
	documented := map[string]map[string]bool{}
	users := []string{"sessiond", "operator", "probe"}
	for line := range strings.SplitSeq(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 6 || !strings.Contains(cells[1], "`+") {
			continue
		}
		// A cell may hold an escaped pipe (client\|setname): rejoin.
		row := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
		for _, cmd := range strings.Fields(strings.NewReplacer("`", "", "\x00", "|").Replace(row[1])) {
			documented[cmd] = map[string]bool{}
			for i, u := range users {
				documented[cmd][u] = strings.TrimSpace(row[2+i]) == "yes"
			}
		}
	}
	granted := map[string]map[string]bool{}
	for line := range strings.SplitSeq(string(acl), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "user" || f[1] == "default" {
			continue
		}
		for _, rule := range f[2:] {
			if strings.HasPrefix(rule, "+") {
				if granted[rule] == nil {
					granted[rule] = map[string]bool{}
				}
				granted[rule][f[1]] = true
			}
		}
	}
	if len(granted) == 0 || len(documented) == 0 {
		t.Fatalf("found %d granted and %d documented commands", len(granted), len(documented))
	}
	for cmd, who := range granted {
		for _, u := range users {
			if who[u] != documented[cmd][u] {
				t.Errorf("%s for %s: granted %v, README.md says %v", cmd, u, who[u], documented[cmd][u])
			}
		}
	}
	for cmd := range documented {
		if granted[cmd] == nil {
			t.Errorf("README.md documents %s, which users.acl does not grant", cmd)
		}
	}
}

// TestRestoreSnapshot follows "Restore an RDB snapshot" of
// docs/operations.md as written: sessionctl snapshot as the operator, the
// snapshot copied out from the path it prints, then the document's own shell
// commands, run in an empty data directory, and Redis started there. Every
// session comes back and the server keeps writing. On the way it shows the
// trap the procedure avoids: a bare dump.rdb with appendonly yes is ignored.
func TestRestoreSnapshot(t *testing.T) {
	steps := docBlock(t, repo("docs", "operations.md"), "### Restore an RDB snapshot")
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	ctx := context.Background()
	m, err := sessiondb.New(openStore(t, s.env(t, "sessiond", devPasswords["sessiond"])), sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i := range 50 {
		sess, err := m.Create(ctx, fmt.Sprintf("u%d", i%7), time.Hour, map[string]string{"n": strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, string(sess.Token))
	}

	// sessionctl snapshot, as the operator, prints where dump.rdb is.
	cmd := exec.Command(sessionctlBinary(t), "snapshot")
	cmd.Env = envList(s.env(t, "operator", devPasswords["operator"]), "REDIS_HOST", "REDIS_PORT", "REDIS_USERNAME", "REDIS_PASSWORD_FILE")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sessionctl snapshot as operator: %v\n%s", err, out)
	}
	match := regexp.MustCompile(`: RDB (\S+), AOF in `).FindSubmatch(out)
	if match == nil {
		t.Fatalf("sessionctl snapshot does not print the RDB path:\n%s", out)
	}
	rdb, err := os.ReadFile(string(match[1]))
	if err != nil {
		t.Fatal(err)
	}
	s.kill()

	// The trap: a bare dump.rdb is ignored when appendonly is yes.
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, "dump.rdb"), rdb, 0o600); err != nil {
		t.Fatal(err)
	}
	sb := startConfIn(t, bare, repo("deploy", "redis", "users.acl"))
	if n, err := do(sb.client(t, "operator", devPasswords["operator"]), "DBSIZE").AsInt64(); err != nil || n != 0 {
		t.Logf("a bare dump.rdb with appendonly yes: DBSIZE %d, %v (Redis loaded it after all)", n, err)
	}
	sb.kill()

	// The documented procedure: the snapshot copied in as dump.rdb, the
	// document's commands run in the empty data directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dump.rdb"), rdb, 0o600); err != nil {
		t.Fatal(err)
	}
	sh := exec.Command("sh", "-e", "-c", steps)
	sh.Dir = dir
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the steps of docs/operations.md failed: %v\n%s\n%s", err, steps, out)
	}
	s2 := startConfIn(t, dir, repo("deploy", "redis", "users.acl"))
	m2, err := sessiondb.New(openStore(t, s2.env(t, "sessiond", devPasswords["sessiond"])), sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range tokens {
		if _, err := m2.Validate(ctx, tok); err != nil {
			logs, _ := os.ReadFile(filepath.Join(s2.dir, "redis.log"))
			n, _ := do(s2.client(t, "operator", devPasswords["operator"]), "DBSIZE").AsInt64()
			t.Fatalf("session missing after restoring the snapshot: %v (dbsize %d, rdb %d bytes)\n%s", err, n, len(rdb), logs)
		}
	}
	// And the restored server keeps writing its AOF.
	if _, err := m2.Create(ctx, "after-restore", time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if err := openStore(t, s2.env(t, "operator", devPasswords["operator"])).CheckConsistency(ctx, time.Now()); err != nil {
		t.Fatalf("restored data inconsistent: %v", err)
	}
}

// docBlock returns the first ```sh block of a Markdown section, without
// its indentation.
func docBlock(t *testing.T, path, heading string) string {
	t.Helper()
	blocks := docBlocks(t, path, heading)
	if len(blocks) == 0 {
		t.Fatalf("%s: no sh block under %q", path, heading)
	}
	return strings.Join(blocks[0], "\n") + "\n"
}

// sessionctlBinary builds sessionctl from the repository and returns its path.
func sessionctlBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessionctl")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sessionctl")
	cmd.Dir = repo()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sessionctl: %v\n%s", err, out)
	}
	return bin
}

// envList turns the named variables of getenv into a process environment,
// with PATH and HOME.
func envList(getenv func(string) string, names ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, n := range names {
		env = append(env, n+"="+getenv(n))
	}
	return env
}

// TestRedisProbeCommands runs the health checks of k8s/ and
// docker-compose.yml, as written, against Redis started from redis.conf (only
// the port and the password file's path changed): liveness passes whenever
// Redis answers, readiness only with the probe password, and both fail once
// Redis is gone.
func TestRedisProbeCommands(t *testing.T) {
	cli := redistest.Binary(t, "redis-cli")
	s := startConf(t, repo("deploy", "redis", "users.acl"))
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte(devPasswords["probe"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := redisContainer(t, render(t))
	compose := loadCompose(t)
	redis, err := compose.GetService("redis")
	if err != nil {
		t.Fatal(err)
	}
	probes := map[string]string{
		"k8s liveness":  c.LivenessProbe.Exec.Command[2],
		"k8s readiness": c.ReadinessProbe.Exec.Command[2],
		"compose":       redis.HealthCheck.Test[1],
	}
	if c.LivenessProbe.Exec.Command[0] != "sh" || c.ReadinessProbe.Exec.Command[0] != "sh" || redis.HealthCheck.Test[0] != "CMD-SHELL" {
		t.Fatal("the probes are not the sh -c commands this test runs")
	}
	run := func(script, pwFile string) error {
		script = strings.ReplaceAll(script, "-p 6379", "-p "+strconv.Itoa(s.port))
		script = strings.ReplaceAll(script, "/usr/local/etc/redis/probe-password", pwFile)
		script = strings.ReplaceAll(script, "/run/secrets/redis_probe_password", pwFile)
		cmd := exec.Command("sh", "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(cli)+string(os.PathListSeparator)+os.Getenv("PATH"))
		return cmd.Run()
	}
	for name, script := range probes {
		if err := run(script, good); err != nil {
			t.Errorf("%s probe fails against a healthy Redis: %v\n%s", name, err, script)
		}
		readiness := name != "k8s liveness"
		if err := run(script, bad); (err == nil) == readiness {
			t.Errorf("%s probe with a wrong probe password: %v; want failure only for readiness checks", name, err)
		}
	}
	s.kill()
	for name, script := range probes {
		if err := run(script, good); err == nil {
			t.Errorf("%s probe passes with Redis stopped", name)
		}
	}
}
