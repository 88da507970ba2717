package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

func BenchmarkEncode(b *testing.B) {
	r := sampleRecord()
	b.ReportAllocs()
	for b.Loop() {
		encode(r)
	}
}

func BenchmarkDecode(b *testing.B) {
	r := sampleRecord()
	v := string(encode(r))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decode(r.ID, v); err != nil {
			b.Fatal(err)
		}
	}
}

func benchManager(b *testing.B, opt Options) (*sessiondb.Manager, context.Context) {
	srv := redistest.Start(b)
	st, err := New(DialTest(b, srv.Addr()), opt)
	if err != nil {
		b.Fatal(err)
	}
	m, err := sessiondb.New(st, sessiondb.Options{MaxSessionsPerUser: -1})
	if err != nil {
		b.Fatal(err)
	}
	return m, context.Background()
}

var benchMeta = map[string]string{"ip": "203.0.113.195", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"}

// BenchmarkValidate runs validations in parallel against a local
// redis-server: the figure includes the network round trip.
func BenchmarkValidate(b *testing.B) { benchValidate(b, Options{}) }

// BenchmarkValidateCached is BenchmarkValidate with client-side caching.
func BenchmarkValidateCached(b *testing.B) { benchValidate(b, Options{CacheTTL: time.Minute}) }

func benchValidate(b *testing.B, opt Options) {
	m, ctx := benchManager(b, opt)
	s, err := m.Create(ctx, "user-0123456", time.Hour, benchMeta)
	if err != nil {
		b.Fatal(err)
	}
	tok := string(s.Token)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Validate(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCreate(b *testing.B) {
	m, ctx := benchManager(b, Options{})
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Create(ctx, "user-0123456", time.Hour, benchMeta); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
