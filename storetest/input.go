package storetest

// Bad input: rejected with ErrInvalidArgument or ErrNotFound, and nothing written.

import (
	"errors"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testBadInput(e *env) {
	long := strings.Repeat("x", sessiondb.MaxUserIDBytes+1)
	badUsers := []string{"", long, "bad\xffutf8", "tab\there", "nul\x00", "newline\n", "del\x7f", "c1\u0085"}
	for _, u := range badUsers {
		if _, err := e.m.Create(e.ctx, u, time.Hour, nil); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("Create(user %q) = %v, want ErrInvalidArgument", u, err)
		}
		if _, err := e.m.UserSessions(e.ctx, u); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("UserSessions(%q) = %v, want ErrInvalidArgument", u, err)
		}
		if _, err := e.m.InvalidateUser(e.ctx, u, ""); !errors.Is(err, sessiondb.ErrInvalidArgument) {
			e.t.Errorf("InvalidateUser(%q) = %v, want ErrInvalidArgument", u, err)
		}
	}
	var ia *sessiondb.InvalidArgumentError
	if _, err := e.m.Create(e.ctx, "", time.Hour, nil); !errors.As(err, &ia) || ia.Field != "user_id" {
		e.t.Errorf("Create(empty user) = %v, want an InvalidArgumentError on user_id", err)
	}
	// The longest accepted user id, and unicode.
	e.create(strings.Repeat("x", sessiondb.MaxUserIDBytes), time.Hour, nil)
	e.create("josé@例え.jp {tag} *", time.Hour, nil)

	for _, ttl := range []time.Duration{-time.Second, sessiondb.DefaultMaxTTL + time.Second} {
		if _, err := e.m.Create(e.ctx, "u", ttl, nil); !errors.As(err, &ia) || ia.Field != "ttl_seconds" {
			e.t.Errorf("Create(ttl %v) = %v, want an InvalidArgumentError on ttl_seconds", ttl, err)
		}
	}
	big := map[string]string{"blob": strings.Repeat("y", sessiondb.DefaultMaxMetadataBytes)}
	quoted := map[string]string{"q": strings.Repeat("\"", sessiondb.DefaultMaxMetadataBytes/2)}
	for _, md := range []map[string]string{big, quoted, {"": "empty key"}, {"k": "bad\xff"}} {
		if _, err := e.m.Create(e.ctx, "u", time.Hour, md); !errors.As(err, &ia) || ia.Field != "metadata" {
			e.t.Errorf("Create(metadata of %d keys) = %v, want an InvalidArgumentError on metadata", len(md), err)
		}
	}
	for _, tok := range []string{"", "sdb_", "Bearer x", strings.Repeat("a", 55), "sdb_" + strings.Repeat("A", 51), "sdb_" + strings.Repeat("_", 200)} {
		if _, err := e.m.Validate(e.ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			e.t.Errorf("Validate(%q) = %v, want ErrNotFound", tok, err)
		}
	}
	// Nothing was written by the rejected calls.
	e.wantStats(sessiondb.Stats{Total: 2, Active: 2, Users: 2, Created: 2})
}
