package httpsession_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmarks
// measure the handler chain and not a recorder.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// The middleware's cost per request over a bare handler, on the embedded
// store: compare BenchmarkMiddleware/cookie and /bearer with /bare. The
// library's Validate is part of it; /validate-only is a bare handler that
// calls it, so cookie minus validate-only is the middleware's own share (a
// round trip to Redis or sessiond in production dwarfs both).
func BenchmarkMiddleware(b *testing.B) {
	m := newManager(b, sessiondb.Options{})
	s, err := m.Create(context.Background(), "alice", 0, map[string]string{"ip": "192.0.2.1", "user_agent": "Mozilla/5.0"})
	if err != nil {
		b.Fatal(err)
	}
	var seen int
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s, ok := httpsession.FromContext(r.Context()); ok && s.UserID == "alice" {
			seen++
		}
	})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen++ })
	cookieMW, _ := httpsession.New(m, httpsession.Options{})
	bearerMW, _ := httpsession.New(m, httpsession.Options{Source: httpsession.FromBearer})

	get := func() *http.Request {
		r := httptest.NewRequest("GET", "https://example.com/account", nil)
		r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0")
		r.Header.Set("Accept", "text/html")
		return r
	}
	withCookie := get()
	withCookie.Header.Set("Cookie", "theme=dark; __Host-session="+string(s.Token)+"; lang=en")
	withBearer := get()
	withBearer.Header.Set("Authorization", "Bearer "+string(s.Token))
	post := get()
	post.Method = "POST"
	post.Header.Set("Cookie", "__Host-session="+string(s.Token))
	post.Header.Set("Sec-Fetch-Site", "same-origin")
	post.Header.Set("Origin", "https://example.com")

	for _, bc := range []struct {
		name string
		h    http.Handler
		r    *http.Request
	}{
		{"bare", bare, get()},
		{"validate-only", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s, err := m.Validate(r.Context(), string(s.Token)); err == nil && s.UserID == "alice" {
				seen++
			}
		}), get()},
		{"cookie", cookieMW.Require(next), withCookie},
		{"cookie-post", cookieMW.Require(next), post},
		{"bearer", bearerMW.Require(next), withBearer},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := discard{h: make(http.Header)}
			seen = 0
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, bc.r)
			}
			if seen == 0 {
				b.Fatal("the handler never saw the session")
			}
		})
	}
}
