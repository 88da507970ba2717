package sessiondclient_test

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// TestNoSecretInErrors sends canary tokens and keys down every failure path
// (404, 400, 401, 403, 503, a lost connection, a stopped sessiond, a
// cancelled context) and finds them in no error text, in any format, nor in
// anything written to the standard logger.
func TestNoSecretInErrors(t *testing.T) {
	var logged bytes.Buffer // the standard logger, and slog's default, which writes to it
	prev := log.Writer()
	log.SetOutput(&logged)
	t.Cleanup(func() { log.SetOutput(prev) })

	d := sessiondtest.StartWithKeys(t, nil)
	ctx := context.Background()
	admin := mustNew(t, d.URL, sessiondclient.Options{APIKey: d.AdminKey})
	live, err := admin.Create(ctx, "canary-user", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := admin.Create(ctx, "canary-user", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Invalidate(ctx, string(dead.Token)); err != nil {
		t.Fatal(err)
	}
	const badKey = "app-canary-key-0000000000000000"
	secrets := []string{string(live.Token), string(dead.Token), d.AppKey, d.AdminKey, badKey,
		strings.TrimPrefix(string(live.Token), "sdb_"), strings.TrimPrefix(string(dead.Token), "sdb_")}

	faulty := newProxy(t, d.URL, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n%2 == 0 {
			answer(w, http.StatusServiceUnavailable, "unavailable", "retry later", "0")
		} else {
			hangUp(w)
		}
		return true
	})
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	clients := map[string]*sessiondclient.Client{
		"admin":     admin,
		"app":       mustNew(t, d.URL, sessiondclient.Options{APIKey: d.AppKey}),
		"wrong key": mustNew(t, d.URL, sessiondclient.Options{APIKey: badKey}),
		"faulty":    mustNew(t, faulty.URL, sessiondclient.Options{APIKey: d.AppKey, Retries: -1}),
	}
	stopped := sessiondtest.Start(t, nil)
	clients["stopped"] = mustNew(t, stopped.URL, sessiondclient.Options{APIKey: d.AppKey, Retries: -1})
	stopped.Stop()

	check := func(what string, err error) {
		t.Helper()
		noSecret(t, what, err, secrets...)
	}
	for name, c := range clients {
		for _, cctx := range []context.Context{ctx, cancelled} {
			for _, tok := range []string{string(live.Token), string(dead.Token)} {
				_, err := c.Validate(cctx, tok)
				check(name+" Validate", err)
				_, err = c.Refresh(cctx, tok, time.Hour)
				check(name+" Refresh", err)
				_, err = c.Refresh(cctx, tok, 365*24*time.Hour) // over the maximum
				check(name+" Refresh too long", err)
				_, err = c.UpdateMetadata(cctx, tok, func(md map[string]string) error {
					md["big"] = strings.Repeat("x", 5000)
					return nil
				})
				check(name+" UpdateMetadata", err)
				check(name+" Invalidate", c.Invalidate(cctx, tok))
			}
			_, err := c.Stats(cctx)
			check(name+" Stats", err)
			_, err = c.Create(cctx, "canary-user", 0, map[string]string{"k": strings.Repeat("v", 5000)})
			check(name+" Create", err)
		}
	}
	for name, c := range clients {
		_, err := c.Rotate(ctx, string(dead.Token))
		check(name+" Rotate", err)
	}
	rotated, err := admin.Create(ctx, "canary-user", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := admin.Rotate(ctx, string(rotated.Token))
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, string(rotated.Token), string(r.Token))
	_, err = admin.Rotate(ctx, string(rotated.Token))
	check("Rotate of a rotated token", err)

	for _, s := range secrets {
		if strings.Contains(logged.String(), s) {
			t.Errorf("the standard logger received a secret:\n%s", logged.String())
		}
	}
	if out := d.Log(); strings.Contains(out, string(live.Token)) || strings.Contains(out, d.AppKey) {
		t.Errorf("sessiond's log holds a secret")
	}
}
