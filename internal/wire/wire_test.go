package wire_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/wire"
	"github.com/sessiondb/sessiondb/internal/wire/wiretest"
)

// decodeObject decodes a JSON object into generic values, for comparisons
// that do not depend on layout or key order.
func decodeObject(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatalf("%s: %v", b, err)
	}
	return m
}

// TestGolden holds the wire form to the golden file that the other
// programs' tests read too.
func TestGolden(t *testing.T) {
	golden := decodeObject(t, wiretest.Golden)
	if got := slices.Sorted(maps.Keys(golden)); !slices.Equal(got, slices.Sorted(slices.Values(wire.Fields))) {
		t.Fatalf("golden keys = %v, want wire.Fields %v", got, wire.Fields)
	}
	b, err := json.Marshal(wire.FromSession(wiretest.Session(), false))
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeObject(t, b); !reflect.DeepEqual(got, golden) {
		t.Errorf("FromSession = %s\nwant %s", b, wiretest.Golden)
	}
}

// TestFields checks that Fields names the struct's fields, in order.
func TestFields(t *testing.T) {
	var names []string
	for f := range reflect.TypeFor[wire.Session]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	if want := append(slices.Clone(wire.Fields), "token"); !slices.Equal(names, want) {
		t.Errorf("wire.Session fields = %v, want %v", names, want)
	}
}

func TestToken(t *testing.T) {
	s := wiretest.Session()
	b, _ := json.Marshal(wire.FromSession(s, true))
	if got := decodeObject(t, b)["token"]; got != string(s.Token) {
		t.Errorf("FromSession(withToken) token = %v, want %q", got, s.Token)
	}
	b, _ = json.Marshal(wire.FromSession(s, false))
	if strings.Contains(string(b), "token") {
		t.Errorf("FromSession without token = %s", b)
	}
}

// TestRoundTrip: what a client reads back is the session with its
// effective end as ExpiresAt, times cut to milliseconds.
func TestRoundTrip(t *testing.T) {
	s := wiretest.Session()
	var w wire.Session
	if err := json.Unmarshal(wiretest.Golden, &w); err != nil {
		t.Fatal(err)
	}
	got := w.Session()
	ms := func(t time.Time) time.Time { return t.Truncate(time.Millisecond) }
	if got.ID != s.ID || got.UserID != s.UserID || !got.CreatedAt.Equal(ms(s.CreatedAt)) ||
		!got.ExpiresAt.Equal(ms(s.EffectiveExpiry())) || !got.LastSeenAt.Equal(ms(s.LastSeenAt)) ||
		!maps.Equal(got.Metadata, s.Metadata) || got.Token != "" || got.CreatedAt.Location() != time.UTC {
		t.Errorf("Session() = %+v, want %+v with times cut to milliseconds", got, s)
	}
	if !got.EffectiveExpiry().Equal(got.ExpiresAt) {
		t.Errorf("EffectiveExpiry = %v, want ExpiresAt %v", got.EffectiveExpiry(), got.ExpiresAt)
	}
	empty := wire.Session{Metadata: map[string]string{}}
	if md := empty.Session().Metadata; md != nil {
		t.Errorf("empty metadata reads as %v, want nil", md)
	}
}

func TestTime(t *testing.T) {
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), `"2026-01-02T03:04:05.000Z"`},
		{time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC), `"2026-01-02T03:04:05.999Z"`},
		{time.Date(2026, 1, 2, 4, 4, 5, 600_000_000, time.FixedZone("X", 3600)), `"2026-01-02T03:04:05.600Z"`},
	} {
		b, err := json.Marshal(wire.Time{tt.in})
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestNoMetadata(t *testing.T) {
	s := wiretest.Session()
	s.Metadata = nil
	b, err := json.Marshal(wire.FromSession(s, false))
	if err != nil || !strings.Contains(string(b), `"metadata":{}`) {
		t.Errorf("FromSession without metadata = %s, %v; want metadata {}", b, err)
	}
}

// TestEscapes: the metadata is escaped as encoding/json escapes a plain
// map, with or without HTML escaping.
func TestEscapes(t *testing.T) {
	md := map[string]string{"a<": "&>\u2028"}
	for _, html := range []bool{true, false} {
		var got, want strings.Builder
		for out, v := range map[*strings.Builder]any{&got: wire.Metadata(md), &want: md} {
			enc := json.NewEncoder(out)
			enc.SetEscapeHTML(html)
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != want.String() {
			t.Errorf("escapeHTML %v: Metadata encodes as %s, a map as %s", html, got.String(), want.String())
		}
	}
}
