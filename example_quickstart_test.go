package sessiondb_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

// Example is the library quick start of docs/integration.md: the session
// calls of a login service, on the embedded store.
func Example() {
	ctx := context.Background()
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Store().Close()

	// Log in: create a session and hand its token to the client, once.
	s, err := m.Create(ctx, "user123", time.Hour, map[string]string{"ip": "192.0.2.1"})
	if err != nil {
		log.Fatal(err)
	}
	token := string(s.Token)

	// Every request: validate the token it brings.
	got, err := m.Validate(ctx, token)
	switch {
	case errors.Is(err, sessiondb.ErrNotFound):
		fmt.Println("not logged in") // unknown, expired, revoked or malformed
	case err != nil:
		fmt.Println("retry later:", err) // the store is unavailable
	default:
		fmt.Println("hello", got.UserID, "from", got.Metadata["ip"])
	}

	// Log out.
	if err := m.Invalidate(ctx, token); err != nil {
		log.Fatal(err)
	}
	_, err = m.Validate(ctx, token)
	fmt.Println("after logout:", errors.Is(err, sessiondb.ErrNotFound))
	// Output:
	// hello user123 from 192.0.2.1
	// after logout: true
}
