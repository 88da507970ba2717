package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
	"github.com/sessiondb/sessiondb/redisstore"
)

// TestAccessDenied checks that Redis refusing the credentials or a command
// is reported as sessiondb.ErrStoreAuth, naming the user, and never as
// ErrUnavailable (which callers retry), at connection time and afterwards;
// and that the store recovers by itself once the ACL is fixed.
func TestAccessDenied(t *testing.T) {
	srv := redistest.Start(t)
	for _, cmd := range [][]string{
		{"ACL", "SETUSER", "app", "on", ">app-password", "~*", "+@all"},
		// May log in, but not turn on client-side caching.
		{"ACL", "SETUSER", "pinger", "on", ">pinger-password", "-@all", "+ping", "+cluster|slots"},
		// May connect and read, but not run the scripts.
		{"ACL", "SETUSER", "reader", "on", ">reader-password", "~*", "-@all", "+ping", "+hello", "+client|setname",
			"+client|tracking", "+cluster|slots", "+get"},
	} {
		if _, err := srv.Do(cmd...); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	ctx := context.Background()
	open := func(user, password string) *redisstore.Store {
		t.Helper()
		st, err := redisstore.Open(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, Username: user, Password: password,
			ClientSetInfo: rueidis.DisableClientSetInfo}, redisstore.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	denied := func(what string, err error, want ...string) {
		t.Helper()
		if !errors.Is(err, sessiondb.ErrStoreAuth) || errors.Is(err, sessiondb.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrStoreAuth and not ErrUnavailable", what, err)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", what, err, w)
			}
		}
	}

	denied("wrong password", open("app", "not-the-password").Ping(ctx), `redis user "app"`, "WRONGPASS")
	denied("unknown user", open("nobody", "x").Ping(ctx), `redis user "nobody"`, "WRONGPASS")
	denied("no CLIENT TRACKING", open("pinger", "pinger-password").Ping(ctx), `redis user "pinger"`, "NOPERM", "client|tracking")

	// A command refused after the connection is made.
	reader := newManager(t, open("reader", "reader-password"), sessiondb.Options{})
	if err := reader.Ping(ctx); err != nil {
		t.Fatalf("Ping as reader: %v", err)
	}
	_, err := reader.Create(ctx, "u1", time.Hour, nil)
	denied("a script refused by the ACL", err, "NOPERM")

	// The password changes under a connected store: its reconnection is
	// refused; once Redis accepts the password again the store recovers.
	st := open("app", "app-password")
	m := newManager(t, st, sessiondb.Options{})
	s, err := m.Create(ctx, "u1", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"ACL", "SETUSER", "app", "resetpass", ">other-password"}, {"CLIENT", "KILL", "USER", "app"}} {
		if _, err := srv.Do(cmd...); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	_, err = m.Validate(ctx, string(s.Token))
	denied("password changed, then reconnection", err, "WRONGPASS")

	// Without a login where Redis wants one.
	if _, err := srv.Do("CONFIG", "SET", "requirepass", "default-password"); err != nil {
		t.Fatal(err)
	}
	denied("no login", open("", "").Ping(ctx), `redis user "default"`, "NOAUTH")

	fix := []string{"ACL", "SETUSER", "app", ">app-password"}
	if err := doAuthed(srv.Addr(), "default-password", fix...); err != nil {
		t.Fatalf("%v: %v", fix, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := m.Validate(ctx, string(s.Token))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover once the password was accepted again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// doAuthed runs one command as the default user with password.
func doAuthed(addr, password string, args ...string) error {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, Password: password,
		ForceSingleClient: true, DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args...).Build()).Error()
}
