package sessiondclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

func TestSmoke(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, nil)
	c, err := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := c.Create(ctx, "u1", time.Hour, map[string]string{"a": "1"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Validate(ctx, string(s.Token))
	if err != nil || v.ID != s.ID || v.Metadata["a"] != "1" || v.Token != "" {
		t.Fatalf("Validate = %+v, %v", v, err)
	}
	u, err := c.UpdateMetadata(ctx, string(s.Token), func(md map[string]string) error { delete(md, "a"); md["b"] = "2"; return nil })
	if err != nil || len(u.Metadata) != 1 || u.Metadata["b"] != "2" {
		t.Fatalf("UpdateMetadata = %+v, %v", u, err)
	}
	list, err := c.UserSessions(ctx, "u1")
	if err != nil || len(list) != 1 {
		t.Fatalf("UserSessions = %v, %v", list, err)
	}
	st, err := c.Stats(ctx)
	if err != nil || st.Active != 1 {
		t.Fatalf("Stats = %+v, %v", st, err)
	}
	if err := c.Invalidate(ctx, string(s.Token)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate(ctx, string(s.Token))
	if !errors.Is(err, sessiondb.ErrNotFound) {
		t.Fatalf("Validate after invalidate = %v", err)
	}
	t.Log(err)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	app, _ := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AppKey})
	_, err = app.Stats(ctx)
	t.Log(err)
	if !errors.Is(err, sessiondclient.ErrForbidden) {
		t.Fatalf("Stats with app key = %v", err)
	}
	none, _ := sessiondclient.New(d.URL, sessiondclient.Options{})
	_, err = none.Create(ctx, "u", 0, nil)
	t.Log(err)
	if !errors.Is(err, sessiondclient.ErrUnauthorized) {
		t.Fatalf("Create without key = %v", err)
	}
	_, err = c.Create(ctx, "u", 1000000*time.Hour, nil)
	t.Log(err)
	var inv *sessiondb.InvalidArgumentError
	if !errors.As(err, &inv) || inv.Field != "ttl_seconds" {
		t.Fatalf("Create with a long TTL = %v", err)
	}
}
