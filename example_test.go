package sessiondb_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

func newManager() *sessiondb.Manager {
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{MaxSessionsPerUser: 2})
	if err != nil {
		panic(err)
	}
	return m
}

func ExampleManager_Create() {
	m := newManager()
	ctx := context.Background()
	s, err := m.Create(ctx, "user123", time.Hour, map[string]string{"ip": "192.168.1.1", "user_agent": "Mozilla/5.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Hand string(s.Token) to the client once; keep s.ID for logs and admin views.
	fmt.Println(s.UserID, s.ExpiresAt.Sub(s.CreatedAt), len(string(s.Token)), len(s.ID))
	fmt.Println(s.Token) // printing a token by mistake does not leak it
	// Output:
	// user123 1h0m0s 55 19
	// sdb_[redacted]
}

func ExampleManager_Validate() {
	m := newManager()
	ctx := context.Background()
	s, _ := m.Create(ctx, "user123", time.Hour, nil)

	got, err := m.Validate(ctx, string(s.Token))
	fmt.Println(got.UserID, err)

	_, err = m.Validate(ctx, "sdb_forged")
	fmt.Println(errors.Is(err, sessiondb.ErrNotFound))
	// Output:
	// user123 <nil>
	// true
}

func ExampleManager_Rotate() {
	m := newManager()
	ctx := context.Background()
	s, _ := m.Create(ctx, "user123", time.Hour, nil)

	r, _ := m.Rotate(ctx, string(s.Token)) // after login or a privilege change
	_, errOld := m.Validate(ctx, string(s.Token))
	_, errNew := m.Validate(ctx, string(r.Token))
	fmt.Println(errors.Is(errOld, sessiondb.ErrNotFound), errNew)
	// Output: true <nil>
}

func ExampleManager_UpdateMetadata() {
	m := newManager()
	ctx := context.Background()
	s, _ := m.Create(ctx, "user123", time.Hour, map[string]string{"ip": "192.168.1.1"})

	// Applied with compare-and-swap: a concurrent change is never lost.
	got, err := m.UpdateMetadata(ctx, string(s.Token), func(md map[string]string) error {
		md["cart"] = "3 items"
		delete(md, "ip")
		return nil
	})
	fmt.Println(got.Metadata, err)
	// Output: map[cart:3 items] <nil>
}

func ExampleManager_InvalidateUser() {
	m := newManager()
	ctx := context.Background()
	current, _ := m.Create(ctx, "user123", time.Hour, map[string]string{"device": "laptop"})
	m.Create(ctx, "user123", time.Hour, map[string]string{"device": "phone"})

	// "Log out other devices".
	n, _ := m.InvalidateUser(ctx, "user123", current.ID)
	list, _ := m.UserSessions(ctx, "user123")
	fmt.Println(n, len(list), list[0].Metadata["device"])
	// Output: 1 1 laptop
}

func ExampleManager_Create_limit() {
	m := newManager() // at most 2 sessions per user, evict-oldest
	ctx := context.Background()
	first, _ := m.Create(ctx, "user123", time.Hour, nil)
	m.Create(ctx, "user123", time.Hour, nil)
	m.Create(ctx, "user123", time.Hour, nil)

	_, err := m.Validate(ctx, string(first.Token))
	st, _ := m.Stats(ctx)
	fmt.Println(errors.Is(err, sessiondb.ErrNotFound), st.Active, st.Evicted)
	// Output: true 2 1
}

func ExampleManager_Stats() {
	m := newManager()
	ctx := context.Background()
	m.Create(ctx, "alice", time.Hour, nil)
	m.Create(ctx, "bob", time.Hour, nil)
	st, _ := m.Stats(ctx)
	fmt.Printf("total=%d active=%d expired=%d users=%d created=%d\n", st.Total, st.Active, st.Expired, st.Users, st.Created)
	// Output: total=2 active=2 expired=0 users=2 created=2
}
