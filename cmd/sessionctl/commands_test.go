package main

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/internal/wire"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := ctl(t, nil, args...).want(t, exitOK)
		for _, s := range []string{"Usage:", "Commands:", "Exit codes:", "Examples:", "--redis-url URL", "REDIS_URL"} {
			if !strings.Contains(r.stdout, s) {
				t.Errorf("%v: help lacks %q\n%s", args, s, r)
			}
		}
	}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {"help", c.name}} {
			r := ctl(t, nil, args...).want(t, exitOK)
			if !strings.HasPrefix(r.stdout, "Usage: sessionctl "+c.name) || !strings.Contains(r.stdout, "Flags:") {
				t.Errorf("%v: bad help\n%s", args, r)
			}
			if c.name != "version" && !strings.Contains(r.stdout, "Examples:\n  sessionctl") {
				t.Errorf("%v: help has no examples\n%s", args, r)
			}
		}
	}
	if r := ctl(t, nil, "help", "monitor"); !strings.Contains(r.stdout, "counts every GET") && !strings.Contains(r.stdout, "every\n                other GET") {
		t.Errorf("monitor help does not say validates/s counts every GET:\n%s", r)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--no-such-flag", "stats"}, "flag provided but not defined"},
		{[]string{"stats", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"stats", "extra"}, `unexpected argument "extra"`},
		{[]string{"list"}, "missing USER"},
		{[]string{"list", "--user", ""}, "missing USER"},
		{[]string{"list", "alice", "bob"}, `unexpected argument "bob"`},
		{[]string{"list", "alice", "--user", "bob"}, `two users given: "alice" and --user "bob"`},
		{[]string{"list", "a\x1bb"}, "control character"},
		{[]string{"list", "--user", "a\x1bb"}, "control character"},
		{[]string{"list", "--user", strings.Repeat("u", 257)}, "longer than 256 bytes"},
		{[]string{"show"}, "missing ID"},
		{[]string{"show", "a", "b"}, `unexpected argument "b"`},
		{[]string{"show", "not-an-id"}, "is not a session id"},
		{[]string{"revoke", "0a3Xq1d9vVb2mWw7tH"}, "is not a session id"},
		{[]string{"revoke-user"}, "missing USER"},
		{[]string{"revoke-user", "u", "--except", "nope"}, "--except nope is not a session id"},
		{[]string{"show", "has space"}, `ID "has space" is not a session id`},
		{[]string{"backup"}, "missing FILE"},
		{[]string{"restore", "--parallel", "0", "f"}, "--parallel must be from 1 to 1024"},
		{[]string{"health", "--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"monitor", "--interval", "1ms"}, "at least 10ms"},
		{[]string{"--redis-port", "99999", "stats"}, "want an integer from 1 to 65535"},
		{[]string{"stats", "--session-key-prefix", "a{b"}, "without '{' or '}'"},
		{[]string{"--redis-timeout-ms", "x", "stats"}, "milliseconds"},
	}
	for _, tt := range tests {
		r := ctl(t, nil, tt.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tt.msg) || r.stdout != "" {
			t.Errorf("sessionctl %q: want exit 2 saying %q on stderr only\n%s", tt.args, tt.msg, r)
		}
	}
}

func TestTokenNeverEchoed(t *testing.T) {
	m := manager(t, nil)
	s := create(t, m, "alice", 0, nil)
	tok := string(s.Token)
	for _, args := range [][]string{{"show", tok}, {"revoke", tok}, {"revoke-user", "alice", "--except", tok}} {
		r := ctl(t, nil, args...).want(t, exitUsage)
		if strings.Contains(r.stdout+r.stderr, tok) || strings.Contains(r.stdout+r.stderr, tok[4:20]) {
			t.Errorf("%s echoes the token:\n%s", args[0], r)
		}
		if !strings.Contains(r.stderr, "looks like a session token") {
			t.Errorf("%s: message does not say it is a token:\n%s", args[0], r)
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		env map[string]string
		msg string
	}{
		{map[string]string{"REDIS_URL": srv.URL(), "REDIS_PORT": "abc"}, "REDIS_PORT"},
		{map[string]string{"REDIS_URL": srv.URL(), "SESSION_KEY_PREFIX": "x{"}, "SESSION_KEY_PREFIX"},
		{map[string]string{"REDIS_URL": srv.URL(), "SESSION_TTL_SECONDS": "100", "SESSION_MAX_TTL_SECONDS": "10"}, "SESSION_MAX_TTL_SECONDS"},
		{map[string]string{"REDIS_URL": "http://" + srv.Addr()}, "REDIS_URL: not a valid"},
		{map[string]string{"REDIS_URL": "redis://user:hunter2secret@" + srv.Addr() + "/x"}, "REDIS_URL: not a valid"},
		{map[string]string{"REDIS_URL": srv.URL(), "REDIS_PASSWORD_FILE": filepath.Join(t.TempDir(), "missing")}, "REDIS_PASSWORD_FILE"},
	}
	for _, tt := range tests {
		for _, cmd := range []string{"stats", "health"} {
			r := ctl(t, tt.env, cmd)
			if r.code != exitUsage || !strings.Contains(r.stdout+r.stderr, tt.msg) {
				t.Errorf("%s with %v: want exit 2 mentioning %s\n%s", cmd, tt.env, tt.msg, r)
			}
			if strings.Contains(r.stdout+r.stderr, "hunter2secret") {
				t.Errorf("%s prints the password of REDIS_URL:\n%s", cmd, r)
			}
		}
	}
}

func TestConfigurationSources(t *testing.T) {
	srv := redistest.Start(t)
	other := redistest.Start(t)
	m := manager(t, redisEnv(srv))
	create(t, m, "alice", 0, nil)
	create(t, m, "alice", 0, nil)
	dead := "redis://127.0.0.1:" + itoa(redistest.FreePort(t))
	active := func(r result) int64 {
		t.Helper()
		var st statsJSON
		r.want(t, exitOK).decode(t, &st)
		return st.ActiveSessions
	}
	// Flags win over the environment, before and after the command.
	if n := active(ctl(t, map[string]string{"REDIS_URL": dead}, "--redis-url", srv.URL(), "stats", "--json")); n != 2 {
		t.Errorf("global flag: %d active, want 2", n)
	}
	if n := active(ctl(t, map[string]string{"REDIS_URL": dead}, "stats", "--json", "--redis-url="+srv.URL())); n != 2 {
		t.Errorf("flag after the command: %d active, want 2", n)
	}
	if n := active(ctl(t, redisEnv(srv), "--redis-url", other.URL(), "stats", "--json")); n != 0 {
		t.Errorf("flag naming another server: %d active, want 0", n)
	}
	// The key prefix selects another keyspace.
	if n := active(ctl(t, redisEnv(srv), "stats", "--json", "--session-key-prefix", "other:")); n != 0 {
		t.Errorf("other prefix: %d active, want 0", n)
	}
	// .env fills what the environment lacks; the environment wins over it.
	dir := t.TempDir()
	envFile := filepath.Join(dir, "prod.env")
	os.WriteFile(envFile, []byte("# test\nREDIS_URL="+srv.URL()+"\nSESSION_KEY_PREFIX=sdb:\n"), 0o600)
	if n := active(ctl(t, nil, "--env-file", envFile, "stats", "--json")); n != 2 {
		t.Errorf(".env: %d active, want 2", n)
	}
	if n := active(ctl(t, map[string]string{"REDIS_URL": other.URL()}, "--env-file", envFile, "stats", "--json")); n != 0 {
		t.Errorf("environment over .env: %d active, want 0", n)
	}
	ctl(t, nil, "--env-file", filepath.Join(dir, "missing.env"), "stats").want(t, exitUsage)
	// The default .env is read from the current directory.
	t.Chdir(dir)
	os.WriteFile(".env", []byte("REDIS_URL="+srv.URL()+"\n"), 0o600)
	if n := active(ctl(t, nil, "stats", "--json")); n != 2 {
		t.Errorf("./.env: %d active, want 2", n)
	}
	// ./sessionctl.env comes first (sessiond never reads it), then ./.env;
	// --env-file names the only file read.
	os.WriteFile("sessionctl.env", []byte("REDIS_URL="+other.URL()+"\n"), 0o600)
	if n := active(ctl(t, nil, "stats", "--json")); n != 0 {
		t.Errorf("./sessionctl.env over ./.env: %d active, want 0 (the other server)", n)
	}
	os.WriteFile("sessionctl.env", []byte("SESSION_KEY_PREFIX=other:\n"), 0o600)
	if n := active(ctl(t, nil, "stats", "--json")); n != 0 {
		t.Errorf("./sessionctl.env and ./.env together: %d active, want 0 (the other prefix)", n)
	}
	if n := active(ctl(t, nil, "--env-file", envFile, "stats", "--json")); n != 2 {
		t.Errorf("--env-file with ./sessionctl.env present: %d active, want 2", n)
	}
}

func TestSessionCommands(t *testing.T) {
	srv := redistest.Start(t)
	env := redisEnv(srv)
	m := manager(t, env)
	ctx := context.Background()
	a1 := create(t, m, "alice", time.Hour, map[string]string{"ip": "192.168.1.1", "user_agent": "Mozilla/5.0 (X11)"})
	time.Sleep(2 * time.Millisecond) // distinct creation times, for the order
	a2 := create(t, m, "alice", 2*time.Hour, map[string]string{"evil": "\x1b[2Jcleared", "long": strings.Repeat("x", 100)})
	time.Sleep(2 * time.Millisecond)
	a3 := create(t, m, "alice", 0, nil)
	b1 := create(t, m, "bob smith", 0, map[string]string{"device": "phone"})
	tokens := []string{string(a1.Token), string(a2.Token), string(a3.Token), string(b1.Token)}
	noTokens := func(r result) {
		t.Helper()
		for _, tok := range tokens {
			if strings.Contains(r.stdout+r.stderr, tok) {
				t.Fatalf("output holds a token:\n%s", r)
			}
		}
	}

	// stats, table and JSON.
	r := ctl(t, env, "stats").want(t, exitOK)
	f := table(r.stdout)
	for k, v := range map[string]string{"active sessions": "4", "total sessions": "4", "users": "2", "created": "4", "store": "redis at " + srv.Addr(), "memory max": "none"} {
		if f[k] != v {
			t.Errorf("stats table: %s = %q, want %q\n%s", k, f[k], v, r)
		}
	}
	var st statsJSON
	ctl(t, env, "stats", "--json").want(t, exitOK).decode(t, &st)
	if st.TotalSessions != 4 || st.ActiveSessions != 4 || st.Users != 2 || st.Created != 4 || st.MemoryUsedBytes <= 0 {
		t.Errorf("stats --json = %+v", st)
	}

	// list: newest first, table and JSON, flags anywhere.
	r = ctl(t, env, "list", "--user", "alice").want(t, exitOK)
	noTokens(r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], a3.ID) ||
		!strings.HasPrefix(lines[2], a2.ID) || !strings.HasPrefix(lines[3], a1.ID) || lines[4] != "3 live session(s) of user alice" {
		t.Errorf("list table: want a3, a2, a1\n%s", r)
	}
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, `evil="\x1b[2Jcleared"`) {
		t.Errorf("list prints metadata unescaped:\n%q", r.stdout)
	}
	if !strings.Contains(r.stdout, "long=xxxxxxxxx") || strings.Contains(r.stdout, strings.Repeat("x", 100)) {
		t.Errorf("list table does not cut long values:\n%s", r)
	}
	var list wire.SessionList
	ctl(t, env, "list", "--json", "--user", "alice").want(t, exitOK).decode(t, &list)
	if len(list.Sessions) != 3 || list.Sessions[0].ID != a3.ID || list.Sessions[2].ID != a1.ID {
		t.Fatalf("list --json = %+v", list)
	}
	ms := func(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
	if g := list.Sessions[1]; g.UserID != "alice" || g.Metadata["long"] != strings.Repeat("x", 100) ||
		!g.ExpiresAt.Equal(ms(a2.EffectiveExpiry())) || !g.CreatedAt.Equal(ms(a2.CreatedAt)) || !g.LastSeenAt.Equal(ms(a2.LastSeenAt)) {
		t.Errorf("list --json session = %+v, want %+v", g, a2.Record)
	}
	// The user may also be the argument, before or after the flags.
	for _, args := range [][]string{{"list", "alice", "--json"}, {"list", "--json", "alice"}, {"list", "alice", "--user", "alice", "--json"}} {
		var pos wire.SessionList
		ctl(t, env, args...).want(t, exitOK).decode(t, &pos)
		if len(pos.Sessions) != 3 || pos.Sessions[0].ID != a3.ID || pos.Sessions[2].ID != a1.ID {
			t.Errorf("%v = %+v, want the sessions of --user alice", args, pos)
		}
	}
	ctl(t, env, "list", "--user", "bob smith", "--json").want(t, exitOK).decode(t, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].Metadata["device"] != "phone" {
		t.Errorf("list bob = %+v", list)
	}
	r = ctl(t, env, "list", "--user", "nobody").want(t, exitOK)
	if r.stdout != "user nobody has no live sessions\n" {
		t.Errorf("list nobody:\n%s", r)
	}
	ctl(t, env, "list", "--user", "nobody", "--json").want(t, exitOK).decode(t, &list)
	if list.Sessions == nil || len(list.Sessions) != 0 {
		t.Errorf(`list --json of nobody = %+v, want {"sessions": []}`, list)
	}

	// show.
	r = ctl(t, env, "show", a1.ID).want(t, exitOK)
	noTokens(r)
	f = table(r.stdout)
	for k, v := range map[string]string{"id": a1.ID, "user": "alice", "ttl": "1h", "idle timeout": "none", "ip": "192.168.1.1", "user_agent": `"Mozilla/5.0 (X11)"`} {
		if f[k] != v {
			t.Errorf("show: %s = %q, want %q\n%s", k, f[k], v, r)
		}
	}
	var one wire.Session
	r = ctl(t, env, "show", "--json", a2.ID).want(t, exitOK)
	r.decode(t, &one)
	if one.ID != a2.ID || one.Metadata["evil"] != "\x1b[2Jcleared" || !one.ExpiresAt.Equal(ms(a2.EffectiveExpiry())) {
		t.Errorf("show --json = %+v", one)
	}
	var fields map[string]any
	r.decode(t, &fields)
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, slices.Sorted(slices.Values(wire.Fields))) {
		t.Errorf("show --json fields = %v, want the API's %v", got, wire.Fields)
	}
	unknown := sessiondb.UserShard("alice").Tag() + "AAAAAAAAAAAAAAAA"
	r = ctl(t, env, "show", unknown).want(t, exitNotFound)
	if !strings.Contains(r.stderr, "no live session "+unknown) {
		t.Errorf("show unknown:\n%s", r)
	}

	// revoke: the token stops working; a second revoke finds nothing.
	ctl(t, env, "revoke", a1.ID).want(t, exitOK)
	if _, err := m.Validate(ctx, string(a1.Token)); !errors.Is(err, sessiondb.ErrNotFound) {
		t.Errorf("Validate after revoke = %v, want ErrNotFound", err)
	}
	ctl(t, env, "revoke", a1.ID).want(t, exitNotFound)
	ctl(t, env, "show", a1.ID).want(t, exitNotFound)

	// revoke-user with --except (before or after the user), then all.
	var inv struct{ Invalidated int }
	ctl(t, env, "revoke-user", "alice", "--except", a3.ID, "--json").want(t, exitOK).decode(t, &inv)
	if inv.Invalidated != 1 {
		t.Errorf("revoke-user --except: %d invalidated, want 1", inv.Invalidated)
	}
	if _, err := m.Validate(ctx, string(a3.Token)); err != nil {
		t.Errorf("the kept session: Validate = %v", err)
	}
	r = ctl(t, env, "revoke-user", "--except", a3.ID, "alice").want(t, exitOK)
	if r.stdout != "revoked 0 session(s) of user alice\n" {
		t.Errorf("revoke-user again:\n%s", r)
	}
	r = ctl(t, env, "revoke-user", "bob smith").want(t, exitOK)
	if r.stdout != `revoked 1 session(s) of user "bob smith"`+"\n" {
		t.Errorf("revoke-user bob:\n%s", r)
	}
	ctl(t, env, "stats", "--json").want(t, exitOK).decode(t, &st)
	if st.ActiveSessions != 1 || st.Invalidated != 3 || st.Users != 1 {
		t.Errorf("stats after revocations = %+v", st)
	}

	// cleanup removes expired sessions from the indexes.
	create(t, m, "carol", time.Second, nil)
	create(t, m, "carol", time.Second, nil)
	time.Sleep(1100 * time.Millisecond)
	var cl struct{ Cleaned int }
	ctl(t, env, "cleanup", "--json").want(t, exitOK).decode(t, &cl)
	if cl.Cleaned != 2 {
		t.Errorf("cleanup cleaned %d, want 2", cl.Cleaned)
	}
	r = ctl(t, env, "cleanup").want(t, exitOK)
	if !strings.HasPrefix(r.stdout, "removed 0 expired session(s) in ") {
		t.Errorf("cleanup again:\n%s", r)
	}
	ctl(t, env, "stats", "--json").want(t, exitOK).decode(t, &st)
	if st.TotalSessions != 1 || st.ExpiredSessions != 0 || st.Users != 1 {
		t.Errorf("stats after cleanup = %+v", st)
	}
	consistent(t, m)
}

func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	env := redisEnv(srv)
	m := manager(t, env)
	s := create(t, m, "alice", 0, nil)
	srv.Stop()
	for _, args := range [][]string{
		{"stats"}, {"list", "--user", "alice"}, {"show", s.ID}, {"revoke", s.ID}, {"revoke-user", "alice"},
		{"cleanup"}, {"backup", filepath.Join(t.TempDir(), "b.jsonl")}, {"snapshot"},
	} {
		start := time.Now()
		r := ctl(t, env, args...)
		if r.code != exitUnavailable || !strings.Contains(r.stderr, "unavailable") || !strings.Contains(r.stderr, srv.Addr()) {
			t.Errorf("%v with Redis stopped: want exit 3 naming the store\n%s", args, r)
		}
		t.Logf("%s with Redis stopped: exit %d in %v", args[0], r.code, time.Since(start).Round(time.Millisecond))
	}
}

// TestNoRedisConfigured: without REDIS_URL or REDIS_HOST every command that
// reads or changes sessions refuses (exit 2) and says how to point
// sessionctl at Redis, instead of acting on an empty in-process store (and
// reporting, say, that a user has no sessions).
func TestNoRedisConfigured(t *testing.T) {
	srv := redistest.Start(t)
	create(t, manager(t, redisEnv(srv)), "alice", 0, nil)
	dir := t.TempDir()
	file := filepath.Join(dir, "b.jsonl")
	ctl(t, redisEnv(srv), "backup", file).want(t, exitOK)
	id := sessiondb.UserShard("alice").Tag() + "AAAAAAAAAAAAAAAA"
	for _, args := range [][]string{
		{"stats"}, {"list", "--user", "alice"}, {"list", "alice"}, {"show", id}, {"revoke", id},
		{"revoke-user", "alice"}, {"cleanup"}, {"backup", filepath.Join(dir, "new.jsonl")}, {"restore", file},
		{"connect"}, {"snapshot"}, {"monitor", "--count", "1"},
	} {
		r := ctl(t, nil, args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "no Redis configured") ||
			!strings.Contains(r.stderr, "REDIS_URL") || !strings.Contains(r.stderr, "--redis-url") {
			t.Errorf("%v without Redis: want exit 2 saying how to configure Redis\n%s", args, r)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup without Redis left a file: %v", err)
	}
	// Checking a backup needs no store.
	r := ctl(t, nil, "restore", "--dry-run", file).want(t, exitOK)
	if !strings.Contains(r.stdout, "is a valid backup: 1 sessions") {
		t.Errorf("restore --dry-run:\n%s", r)
	}
}

// TestAccessDeniedMessages: a login or command Redis refuses is a
// configuration error (exit 2), told in one line that names the user and
// the setting to check.
func TestAccessDeniedMessages(t *testing.T) {
	srv := startShippedRedis(t)
	op := shippedEnv(t, srv, "operator")
	ctl(t, op, "stats").want(t, exitOK)

	wrong := maps.Clone(op)
	wrong["REDIS_PASSWORD_FILE"] = shippedEnv(t, srv, "probe")["REDIS_PASSWORD_FILE"]
	noUser := maps.Clone(op)
	delete(noUser, "REDIS_USERNAME")
	delete(noUser, "REDIS_PASSWORD_FILE")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"wrong password", wrong, []string{"stats"}, []string{`user "operator"`, "WRONGPASS", "REDIS_PASSWORD_FILE (", "REDIS_USERNAME=operator"}},
		{"no user", noUser, []string{"list", "alice"}, []string{`user "default"`, "NOAUTH", "REDIS_USERNAME=operator"}},
		{"sessiond's user cannot SCAN", shippedEnv(t, srv, "sessiond"), []string{"backup", "-"}, []string{`user "sessiond"`, "NOPERM", "'scan'", "REDIS_USERNAME=operator"}},
	} {
		r := ctl(t, tc.env, tc.args...)
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: want exit 2 and one line on stderr\n%s", tc.name, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s: stderr does not say %q\n%s", tc.name, w, r)
			}
		}
		if strings.Contains(r.stderr, "dev-password") {
			t.Errorf("%s: a password is printed\n%s", tc.name, r)
		}
	}
}

func TestVersion(t *testing.T) {
	if r := ctl(t, nil, "version").want(t, exitOK); r.stdout != "sessionctl dev\n" {
		t.Errorf("version:\n%s", r)
	}
}

// table reads "key  value  (note)" lines: the first column is the key,
// the second the value.
func table(out string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		cols := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
		if len(cols) >= 2 {
			f[cols[0]] = cols[1]
		}
	}
	return f
}

func TestDurText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		250 * time.Millisecond:                   "250ms",
		45 * time.Second:                         "45s",
		59*time.Minute + 59*time.Second:          "59m59s",
		time.Hour:                                "1h",
		time.Hour + 30*time.Second:               "1h1m",
		3*time.Hour + 5*time.Minute:              "3h5m",
		52*time.Hour + 10*time.Second:            "2d4h",
		30 * 24 * time.Hour:                      "30d",
		24*time.Hour + time.Minute + time.Second: "1d1m",
	} {
		if got := durText(d); got != want {
			t.Errorf("durText(%v) = %q, want %q", d, got, want)
		}
	}
}
