package sessionstest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/sessiondb/sessiondb"
)

func testUpdateMetadata(e *env) {
	s := e.create("u", 0, map[string]string{"keep": "1", "change": "old", "drop": "x"})
	got, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["change"] = "new"
		md["add"] = "a"
		delete(md, "drop")
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateMetadata: %v", err)
	}
	want := map[string]string{"keep": "1", "change": "new", "add": "a"}
	if !maps.Equal(got.Metadata, want) || got.ID != s.ID || got.Token != "" {
		e.t.Errorf("UpdateMetadata = %v (id %s), want %v (id %s)", got.Metadata, got.ID, want, s.ID)
	}
	if got.LastSeenAt.Before(s.LastSeenAt) || !got.ExpiresAt.Equal(s.ExpiresAt) {
		e.t.Errorf("UpdateMetadata times: last seen %v expires %v, was %v %v", got.LastSeenAt, got.ExpiresAt, s.LastSeenAt, s.ExpiresAt)
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, want) {
		e.t.Errorf("Validate after UpdateMetadata = %v, want %v", v.Metadata, want)
	}

	// The map change gets is a copy that is never nil.
	empty := e.create("u", 0, nil)
	got, err = e.s.UpdateMetadata(e.ctx, string(empty.Token), func(md map[string]string) error {
		if md == nil {
			return errors.New("nil map")
		}
		md["first"] = "1"
		return nil
	})
	if err != nil || !maps.Equal(got.Metadata, map[string]string{"first": "1"}) {
		e.t.Errorf("UpdateMetadata of a session without metadata = %v, %v", got, err)
	}
	// Deleting every key leaves nil metadata.
	got, err = e.s.UpdateMetadata(e.ctx, string(empty.Token), func(md map[string]string) error {
		clear(md)
		return nil
	})
	if err != nil || got.Metadata != nil {
		e.t.Errorf("UpdateMetadata deleting every key = %v, %v; want nil metadata", got, err)
	}
	// A change that changes nothing is fine.
	if _, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(map[string]string) error { return nil }); err != nil {
		e.t.Errorf("UpdateMetadata without a change: %v", err)
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, want) {
		e.t.Errorf("Validate after a no-op update = %v, want %v", v.Metadata, want)
	}
}

func testUpdateMetadataByID(e *env) {
	s := e.create("u", 0, map[string]string{"a": "1"})
	got, err := e.s.UpdateMetadataByID(e.ctx, s.ID, func(md map[string]string) error {
		md["b"] = "2"
		delete(md, "a")
		return nil
	})
	if err != nil {
		e.t.Fatalf("UpdateMetadataByID: %v", err)
	}
	if want := map[string]string{"b": "2"}; !maps.Equal(got.Metadata, want) || got.ID != s.ID {
		e.t.Errorf("UpdateMetadataByID = %v, want %v", got.Metadata, want)
	}
	if v := e.validate(s.Token); v.Metadata["b"] != "2" || len(v.Metadata) != 1 {
		e.t.Errorf("Validate after UpdateMetadataByID = %v", v.Metadata)
	}
	for _, id := range []string{"", "nope", string(s.Token)} {
		_, err := e.s.UpdateMetadataByID(e.ctx, id, func(map[string]string) error { return nil })
		e.wantNotFound(fmt.Sprintf("UpdateMetadataByID(%.24q)", id), err)
	}
	dead := e.deadToken()
	deadID, _ := sessiondb.IDFromToken(string(dead))
	_, err = e.s.UpdateMetadataByID(e.ctx, deadID, func(map[string]string) error { return nil })
	e.wantNotFound("UpdateMetadataByID of an ended session", err)
	_, err = e.s.UpdateMetadataByID(e.ctx, s.ID, nil)
	e.wantInvalid("UpdateMetadataByID(nil)", err, "metadata")
}

func testUpdateMetadataRefused(e *env) {
	orig := map[string]string{"a": "1"}
	s := e.create("u", 0, orig)
	refused := errors.New("refused by the change function")
	_, err := e.s.UpdateMetadata(e.ctx, string(s.Token), func(md map[string]string) error {
		md["a"] = "changed"
		return refused
	})
	if !errors.Is(err, refused) {
		e.t.Errorf("UpdateMetadata with a failing change = %v, want its error", err)
	}
	_, err = e.s.UpdateMetadata(e.ctx, string(s.Token), nil)
	e.wantInvalid("UpdateMetadata(nil)", err, "metadata")
	for name, change := range map[string]func(map[string]string) error{
		"oversized":    func(md map[string]string) error { md["big"] = strings.Repeat("x", 5000); return nil },
		"huge":         func(md map[string]string) error { md["huge"] = strings.Repeat("x", 20000); return nil },
		"empty key":    func(md map[string]string) error { md[""] = "v"; return nil },
		"invalid UTF8": func(md map[string]string) error { md["k"] = "\xff"; return nil },
	} {
		_, err := e.s.UpdateMetadata(e.ctx, string(s.Token), change)
		e.wantInvalid("UpdateMetadata "+name, err, "metadata")
	}
	if v := e.validate(s.Token); !maps.Equal(v.Metadata, orig) {
		e.t.Errorf("refused updates wrote something: metadata %v, want %v", v.Metadata, orig)
	}
}

func testUpdateMetadataConcurrentKeys(e *env) {
	s := e.create("u", 0, map[string]string{"base": "0"})
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			key, val := fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)
			change := func(md map[string]string) error { md[key] = val; return nil }
			var err error
			if i%2 == 0 {
				_, err = e.s.UpdateMetadata(e.ctx, string(s.Token), change)
			} else {
				_, err = e.s.UpdateMetadataByID(e.ctx, s.ID, change)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			e.t.Errorf("concurrent UpdateMetadata: %v", err)
		}
	}
	v := e.validate(s.Token)
	want := map[string]string{"base": "0"}
	for i := range writers {
		want[fmt.Sprintf("k%d", i)] = fmt.Sprintf("v%d", i)
	}
	if !maps.Equal(v.Metadata, want) {
		e.t.Errorf("after concurrent updates of different keys: %v, want every key %v", v.Metadata, want)
	}
}
