package sessiondclient_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// The package documentation's quick start, against a sessiond started with
// go run ./cmd/sessiond. Examples that need a running sessiond are compiled
// but not run.
func Example() {
	ctx := context.Background()
	if err := quickStart(ctx); err != nil {
		log.Fatal(err)
	}
}

func quickStart(ctx context.Context) error {
	c, err := sessiondclient.New("http://127.0.0.1:8080", sessiondclient.Options{})
	if err != nil {
		return err
	}
	s, err := c.Create(ctx, "user123", time.Hour, map[string]string{"ip": "192.0.2.1"})
	if err != nil {
		return err
	}
	token := string(s.Token) // give it to the user's client, once

	s, err = c.Validate(ctx, token) // on every request
	if errors.Is(err, sessiondb.ErrNotFound) {
		// not logged in: unknown, expired or revoked
	}
	if err != nil {
		return err
	}
	fmt.Println(s.UserID, s.Metadata["ip"])
	return nil
}

// A service written against sessiondb.Sessions runs on the embedded library
// or on a remote sessiond; the choice is one constructor.
func Example_switching() {
	sessions, err := openSessions()
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	s, err := sessions.Create(ctx, "user123", 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	list, err := sessions.UserSessions(ctx, s.UserID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(list), "session(s)")
}

func openSessions() (sessiondb.Sessions, error) {
	if url := os.Getenv("SESSIOND_URL"); url != "" {
		return sessiondclient.New(url, sessiondclient.Options{APIKey: os.Getenv("SESSIOND_API_KEY")})
	}
	return sessiondb.New(memstore.New(), sessiondb.Options{})
}

// A sessiond that serves HTTPS with a certificate of a private CA, behind
// API keys.
func ExampleNew_https() {
	c, err := sessiondclient.New("https://sessiond.internal:8443", sessiondclient.Options{
		APIKey:  os.Getenv("SESSIOND_API_KEY"),
		CAFile:  "/etc/sessiond/ca.pem",
		Timeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// Errors match the library's sentinels; an *Error tells the status and
// how long sessiond asked to wait.
func ExampleError() {
	c, err := sessiondclient.New("http://127.0.0.1:8080", sessiondclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Create(context.Background(), "user123", 0, nil)
	var e *sessiondclient.Error
	switch {
	case err == nil:
	case errors.Is(err, sessiondb.ErrSessionLimit):
		fmt.Println("too many sessions: log out another device first")
	case errors.Is(err, sessiondb.ErrUnavailable) && errors.As(err, &e) && e.RetryAfter > 0:
		fmt.Println("sessiond is unavailable; retry in", e.RetryAfter)
	case errors.Is(err, sessiondclient.ErrUnauthorized):
		log.Fatal("configure the API key: ", err)
	default:
		log.Fatal(err)
	}
}

// Set a key in the session's data and delete another; concurrent updates of
// other keys are kept.
func ExampleClient_UpdateMetadata() {
	c, err := sessiondclient.New("http://127.0.0.1:8080", sessiondclient.Options{})
	if err != nil {
		log.Fatal(err)
	}
	token := os.Getenv("SESSION_TOKEN")
	s, err := c.UpdateMetadata(context.Background(), token, func(md map[string]string) error {
		md["theme"] = "dark"
		delete(md, "cart")
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Metadata["theme"])
}
