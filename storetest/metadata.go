package storetest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

// testUpdateMetadata: a change applies to the live session, counts as
// activity, keeps everything else, and a refused or invalid change writes
// nothing.
func testUpdateMetadata(e *env) {
	s := e.create("md", time.Hour, map[string]string{"ip": "198.51.100.7", "theme": "dark"})
	e.clock.Advance(2 * time.Minute)
	got, err := e.m.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["cart"] = "3 items"
		delete(md, "theme")
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateMetadata: %v", err)
	}
	want := map[string]string{"ip": "198.51.100.7", "cart": "3 items"}
	if !maps.Equal(got.Metadata, want) || got.Token != "" {
		e.t.Fatalf("UpdateMetadata = %v (token %q), want %v and no token", got.Metadata, got.Token, want)
	}
	if !got.LastSeenAt.Equal(e.clock.Now()) || !got.ExpiresAt.Equal(s.ExpiresAt) || !got.CreatedAt.Equal(s.CreatedAt) || got.ID != s.ID {
		e.t.Fatalf("UpdateMetadata = %+v, want the same session with LastSeenAt = now", got.Record)
	}
	if v := e.valid(s.Token); !maps.Equal(v.Metadata, want) {
		e.t.Fatalf("Validate after update: metadata %v, want %v", v.Metadata, want)
	}

	// By id, down to no metadata at all.
	got, err = e.m.UpdateMetadataByID(e.ctx, s.ID, func(md map[string]string) error {
		clear(md)
		return nil
	})
	if err != nil || len(got.Metadata) != 0 {
		e.t.Fatalf("UpdateMetadataByID(clear) = %v, %v; want no metadata", got, err)
	}
	if g, err := e.m.Get(e.ctx, s.ID); err != nil || len(g.Metadata) != 0 {
		e.t.Fatalf("Get after clearing = %v, %v; want no metadata", g, err)
	}

	// Refused and invalid changes write nothing.
	e.clock.Advance(2 * time.Minute)
	before := e.valid(s.Token)
	refusal := errors.New("not today")
	if _, err := e.m.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["half"] = "written"
		return refusal
	}); err != refusal {
		e.t.Fatalf("UpdateMetadata with a refusing change = %v, want the change's own error", err)
	}
	for name, change := range map[string]func(map[string]string) error{
		"empty key": func(md map[string]string) error { md[""] = "x"; return nil },
		"too large": func(md map[string]string) error { md["big"] = strings.Repeat("x", 5000); return nil },
		"bad utf-8": func(md map[string]string) error { md["k"] = "\xff"; return nil },
	} {
		var inv *sessiondb.InvalidArgumentError
		if _, err := e.m.UpdateMetadata(e.ctx, string(s.Token), change); !errors.As(err, &inv) || inv.Field != "metadata" {
			e.t.Fatalf("UpdateMetadata(%s) = %v, want an invalid metadata error", name, err)
		}
	}
	if _, err := e.m.UpdateMetadata(e.ctx, string(s.Token), nil); !errors.Is(err, sessiondb.ErrInvalidArgument) {
		e.t.Fatalf("UpdateMetadata(nil change) = %v, want ErrInvalidArgument", err)
	}
	if after, err := e.m.Get(e.ctx, s.ID); err != nil || !after.Record.Equal(&before.Record) {
		e.t.Fatalf("after refused changes: %+v, %v; want unchanged %+v", after, err, before.Record)
	}

	// Gone, expired and malformed sessions are not found, and nothing is created.
	other := e.create("md", time.Minute, nil)
	if err := e.m.Invalidate(e.ctx, string(other.Token)); err != nil {
		e.t.Fatal(err)
	}
	noop := func(md map[string]string) error { md["k"] = "v"; return nil }
	for _, tok := range []string{string(other.Token), "sdb_nope", ""} {
		if _, err := e.m.UpdateMetadata(e.ctx, tok, noop); !errors.Is(err, sessiondb.ErrNotFound) {
			e.t.Fatalf("UpdateMetadata(gone or malformed token) = %v, want ErrNotFound", err)
		}
	}
	if _, err := e.m.UpdateMetadataByID(e.ctx, "not-an-id", noop); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("UpdateMetadataByID(malformed) = %v, want ErrNotFound", err)
	}
	e.clock.Advance(2 * time.Hour)
	if _, err := e.m.UpdateMetadata(e.ctx, string(s.Token), noop); !errors.Is(err, sessiondb.ErrNotFound) {
		e.t.Fatalf("UpdateMetadata(expired) = %v, want ErrNotFound", err)
	}
	e.wantStats(sessiondb.Stats{Total: 1, Expired: 1, Users: 1, Created: 2, Invalidated: 1})
}

// testUpdateMetadataConcurrent: concurrent updates of different keys all
// survive (compare-and-swap with retries), and validations racing them
// never undo one.
func testUpdateMetadataConcurrent(e *env) {
	s := e.create("mdrace", time.Hour, map[string]string{"ip": "192.0.2.1"})
	const writers = 12
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			_, err := e.m.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
				md[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
				return nil
			})
			if err != nil {
				e.t.Errorf("UpdateMetadata(k%02d): %v", i, err)
			}
		})
		wg.Go(func() {
			e.clock.Advance(time.Minute) // makes validations write their touch
			if _, err := e.m.Validate(e.ctx, string(s.Token)); err != nil {
				e.t.Errorf("Validate: %v", err)
			}
		})
	}
	wg.Wait()
	got := e.valid(s.Token).Metadata
	if len(got) != writers+1 || got["ip"] != "192.0.2.1" {
		e.t.Fatalf("after %d concurrent updates: %v, want every key", writers, got)
	}
	for i := range writers {
		if k := fmt.Sprintf("k%02d", i); got[k] != fmt.Sprint(i) {
			e.t.Fatalf("key %s = %q after concurrent updates, want %q (lost update)", k, got[k], fmt.Sprint(i))
		}
	}
}
