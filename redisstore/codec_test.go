package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

func sampleRecord() *sessiondb.Record {
	now := time.Date(2026, 11, 26, 12, 0, 0, 123456000, time.UTC)
	return &sessiondb.Record{
		ID: "1a2" + strings.Repeat("Q", 16), UserID: "user-0123456",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeenAt: now,
		TTL: time.Hour,
		Metadata: map[string]string{
			"ip":         "203.0.113.195",
			"user_agent": strings.Repeat("M", 70),
		},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	recs := []*sessiondb.Record{sampleRecord()}
	r := sampleRecord()
	r.Metadata = nil
	r.IdleTimeout = 30 * time.Minute
	r.LastSeenAt = r.LastSeenAt.Add(90 * time.Second)
	recs = append(recs, r)
	r = sampleRecord()
	r.Metadata = map[string]string{"custom key": "välue", "device": "", "z": strings.Repeat("x", 300)}
	r.ExpiresAt = r.CreatedAt.Add(30 * 24 * time.Hour)
	recs = append(recs, r)
	for _, want := range recs {
		b := encode(want)
		got, err := decode(want.ID, string(b))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", want, err)
		}
		if !got.Equal(want) {
			t.Fatalf("round trip = %+v, want %+v", got, want)
		}
		if string(encode(got)) != string(b) {
			t.Fatal("encoding is not deterministic")
		}
	}
}

// The memory budget (docs/redis-layout.md) counts on a session with an ip
// and a 70-byte user agent fitting Redis's 128-byte allocation class: at
// most 124 bytes of value.
func TestCodecSize(t *testing.T) {
	if n := len(encode(sampleRecord())); n > 124 {
		t.Fatalf("typical session encodes to %d bytes, want at most 124", n)
	}
}

func TestDecodeRejectsCorruption(t *testing.T) {
	b := encode(sampleRecord())
	for i := range len(b) {
		if _, err := decode("x", string(b[:i])); err == nil {
			t.Fatalf("decode of a %d-byte prefix succeeded", i)
		}
	}
	bad := append([]byte{}, b...)
	bad[0] = 9
	if _, err := decode("x", string(bad)); err == nil {
		t.Fatal("decode accepted an unknown version")
	}
	if _, err := decode("x", string(append(b, 0))); err == nil {
		t.Fatal("decode accepted trailing bytes")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(sampleRecord()))
	r := sampleRecord()
	r.Metadata = map[string]string{"k": "v"}
	f.Add(encode(r))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decode("id", string(b))
		if err != nil {
			return
		}
		if got, err := decode("id", string(encode(rec))); err != nil || !got.Equal(rec) {
			t.Fatalf("re-encoding a decoded value does not round-trip: %v", err)
		}
	})
}
