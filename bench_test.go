package sessiondb_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
)

func BenchmarkIDFromToken(b *testing.B) {
	m, _ := sessiondb.New(memstore.New(), sessiondb.Options{})
	s, _ := m.Create(context.Background(), "u", time.Hour, nil)
	tok := string(s.Token)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sessiondb.IDFromToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateMemory(b *testing.B) {
	m, _ := sessiondb.New(memstore.New(), sessiondb.Options{})
	s, _ := m.Create(context.Background(), "user-0123456", time.Hour, map[string]string{"ip": "203.0.113.195", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"})
	tok := string(s.Token)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Validate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateMemory(b *testing.B) {
	m, _ := sessiondb.New(memstore.New(), sessiondb.Options{MaxSessionsPerUser: -1})
	ctx := context.Background()
	md := map[string]string{"ip": "203.0.113.195", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Create(ctx, "user-0123456", time.Hour, md); err != nil {
			b.Fatal(err)
		}
	}
}
