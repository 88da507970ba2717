// Command basic walks through the session lifecycle of the original
// description: create, validate, list a user's sessions, invalidate,
// statistics and cleanup. It uses the embedded store, or Redis when
// REDIS_URL (or REDIS_HOST) is set.
//
//	go run ./examples/basic
//	REDIS_URL=redis://127.0.0.1:6379 go run ./examples/basic
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sessiondb/sessiondb/config"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "basic:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	getenv, err := config.Getenv(os.Getenv, ".env")
	if err != nil {
		return err
	}
	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	m, err := cfg.Open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	fmt.Println("store:", cfg.Describe())

	// Log in twice: a laptop and a phone.
	laptop, err := m.Create(ctx, "user123", time.Hour, map[string]string{
		"ip": "192.168.1.1", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0",
	})
	if err != nil {
		return err
	}
	phone, err := m.Create(ctx, "user123", 2*time.Second, map[string]string{"ip": "192.168.1.2", "user_agent": "ExampleApp/2.1 (Android 16)"})
	if err != nil {
		return err
	}
	fmt.Printf("created session %s for %s; its token is shown once: %s…\n", laptop.ID, laptop.UserID, string(laptop.Token)[:12])

	// Every request validates its token.
	s, err := m.Validate(ctx, string(laptop.Token))
	if err != nil {
		return err
	}
	fmt.Printf("validated: user %s from %s, expires %s\n", s.UserID, s.Metadata["ip"], s.ExpiresAt.Format(time.RFC3339))

	list, err := m.UserSessions(ctx, "user123")
	if err != nil {
		return err
	}
	fmt.Printf("user123 has %d sessions:\n", len(list))
	for _, s := range list {
		fmt.Printf("  %s  %-13s  created %s\n", s.ID, s.Metadata["ip"], s.CreatedAt.Format(time.RFC3339))
	}

	// Log out of the laptop; the phone's session runs out by itself.
	if err := m.Invalidate(ctx, string(laptop.Token)); err != nil {
		return err
	}
	if _, err := m.Validate(ctx, string(laptop.Token)); err != nil {
		fmt.Println("after logout the laptop's token is refused:", err)
	}
	time.Sleep(2100 * time.Millisecond)
	if _, err := m.Validate(ctx, string(phone.Token)); err != nil {
		fmt.Println("two seconds later the phone's session has expired:", err)
	}

	st, err := m.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("stats: total=%d active=%d expired=%d users=%d created=%d invalidated=%d\n",
		st.Total, st.Active, st.Expired, st.Users, st.Created, st.Invalidated)
	n, err := m.Cleanup(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("cleanup removed %d expired session(s)\n", n)
	return nil
}
