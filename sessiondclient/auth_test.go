package sessiondclient_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestAPIKeysAndRoles: sessiond's 401 and 403 are ErrUnauthorized and
// ErrForbidden, with messages that say what to do and hold no key.
func TestAPIKeysAndRoles(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, nil)
	ctx := context.Background()
	admin := mustNew(t, d.URL, sessiondclient.Options{APIKey: d.AdminKey})
	s, err := admin.Create(ctx, "u", 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	app := mustNew(t, d.URL, sessiondclient.Options{APIKey: d.AppKey})
	if _, err := app.Validate(ctx, string(s.Token)); err != nil {
		t.Errorf("Validate with an app key: %v", err)
	}
	if _, err := app.UserSessions(ctx, "u"); err != nil {
		t.Errorf("UserSessions with an app key: %v", err)
	}
	_, err = app.Stats(ctx)
	checkAuthErr(t, "Stats with an app key", err, sessiondclient.ErrForbidden, 403, d)
	_, err = app.Cleanup(ctx)
	checkAuthErr(t, "Cleanup with an app key", err, sessiondclient.ErrForbidden, 403, d)
	if _, err := admin.Stats(ctx); err != nil {
		t.Errorf("Stats with an admin key: %v", err)
	}

	for name, key := range map[string]string{"no key": "", "an unknown key": "app-" + strings.Repeat("0", 32)} {
		c := mustNew(t, d.URL, sessiondclient.Options{APIKey: key})
		_, err := c.Validate(ctx, string(s.Token))
		checkAuthErr(t, "Validate with "+name, err, sessiondclient.ErrUnauthorized, 401, d)
		_, err = c.Create(ctx, "u", 0, nil)
		checkAuthErr(t, "Create with "+name, err, sessiondclient.ErrUnauthorized, 401, d)
		if !strings.Contains(err.Error(), "Options.APIKey") {
			t.Errorf("Create with %s = %v, want a hint at Options.APIKey", name, err)
		}
		// The readiness probe needs no key.
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping with %s: %v", name, err)
		}
	}
	if _, err := admin.Validate(ctx, string(s.Token)); err != nil {
		t.Errorf("the session suffered from refused calls: %v", err)
	}
}

func checkAuthErr(t *testing.T, what string, err, want error, status int, d *sessiondtest.Daemon) {
	t.Helper()
	var e *sessiondclient.Error
	switch {
	case !errors.Is(err, want):
		t.Errorf("%s = %v, want %v", what, err, want)
	case !errors.As(err, &e) || e.Status != status:
		t.Errorf("%s = %#v, want an *Error with status %d", what, err, status)
	case errors.Is(err, sessiondb.ErrNotFound), errors.Is(err, sessiondb.ErrUnavailable), errors.Is(err, sessiondb.ErrInvalidArgument):
		t.Errorf("%s = %v, also matches a library sentinel", what, err)
	}
	noSecret(t, what, err, d.AppKey, d.AdminKey)
}
