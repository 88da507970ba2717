// Package webhooktest is a receiver of webhooks for tests: a real HTTP
// server on a loopback port that verifies each request's signature with
// package webhook, records the ids it took (and how often), and answers as
// the test tells it: 2xx, an error status, a redirect, a hang past the
// sender's timeout, or a cut connection.
package webhooktest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/webhook"
)

// Answer is what the receiver does with one request it verified.
type Answer struct {
	// Status answers the request; 0 means 204 (taken). A 2xx status takes
	// the event; any other status does not.
	Status int
	// Location is the Location header of a redirect.
	Location string
	// Hang waits this long before answering (past the sender's timeout:
	// the request fails as a timeout).
	Hang time.Duration
	// Cut closes the connection without an answer.
	Cut bool
}

// Receiver is a webhook endpoint on loopback. It is safe for concurrent use.
type Receiver struct {
	// URL is the endpoint's URL.
	URL string
	// Secret is its signing secret, "whsec_...".
	Secret string

	srv *http.Server
	ln  net.Listener

	// check, when set, is a second verification of each request (an
	// independent implementation of the specification, in tests).
	check func(h http.Header, body []byte) error

	mu       sync.Mutex
	decide   func(id string, n int) Answer
	taken    map[string]int    // id -> requests answered 2xx
	tries    map[string]int    // id -> requests that verified
	bodies   map[string][]byte // id -> the body last taken
	order    []string          // ids in the order first taken
	requests int
	bad      []string // why requests were refused
}

// Start runs a receiver with a new secret that takes every request, until
// the test ends.
func Start(tb testing.TB) *Receiver {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{
		Secret: webhook.NewSecret(),
		URL:    "http://" + ln.Addr().String() + "/hooks/sessions",
		ln:     ln,
		taken:  map[string]int{}, tries: map[string]int{}, bodies: map[string][]byte{},
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	tb.Cleanup(func() { r.srv.Close() })
	return r
}

// Decide sets how the receiver answers the n-th (from 1) verified request
// of an event id; nil takes every request.
func (r *Receiver) Decide(f func(id string, n int) Answer) {
	r.mu.Lock()
	r.decide = f
	r.mu.Unlock()
}

// Check adds a second verification of each request, after package
// webhook's: a request it refuses is refused (counted in Refused).
func (r *Receiver) Check(f func(h http.Header, body []byte) error) {
	r.mu.Lock()
	r.check = f
	r.mu.Unlock()
}

// ServeHTTP verifies and records a request, then answers as decided.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	id := req.Header.Get(webhook.HeaderID)
	r.mu.Lock()
	r.requests++
	err = webhook.Verify(r.Secret, req.Header, body, time.Now())
	if err == nil && r.check != nil {
		err = r.check(req.Header, body)
	}
	if err != nil {
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != id || req.Method != http.MethodPost ||
		req.Header.Get("Content-Type") != "application/json" {
		r.bad = append(r.bad, "not a POST of a JSON event whose id is the webhook-id")
		r.mu.Unlock()
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.tries[id]++
	a := Answer{}
	if r.decide != nil {
		a = r.decide(id, r.tries[id])
	}
	if a.Status == 0 || a.Status/100 == 2 {
		if r.taken[id] == 0 {
			r.order = append(r.order, id)
		}
		r.taken[id]++
		r.bodies[id] = body
	}
	r.mu.Unlock()
	switch {
	case a.Cut:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	case a.Hang > 0:
		select {
		case <-time.After(a.Hang):
		case <-req.Context().Done():
		}
	}
	if a.Location != "" {
		w.Header().Set("Location", a.Location)
	}
	if a.Status == 0 {
		a.Status = http.StatusNoContent
	}
	w.WriteHeader(a.Status)
}

// Taken returns how many times each event id was taken (answered 2xx).
func (r *Receiver) Taken() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.taken))
	for k, v := range r.taken {
		out[k] = v
	}
	return out
}

// Order returns the ids taken, in the order first taken.
func (r *Receiver) Order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.order)
}

// Body returns the body of the event id last taken.
func (r *Receiver) Body(id string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id]
}

// Requests returns the number of requests received, verified or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Refused returns why requests were refused (bad signature, not an event).
func (r *Receiver) Refused() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bad)
}

// WaitTaken waits until every id in ids was taken, or fails the test after
// timeout saying how many are missing.
func (r *Receiver) WaitTaken(tb testing.TB, ids []string, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		taken := r.Taken()
		missing := 0
		first := ""
		for _, id := range ids {
			if taken[id] == 0 {
				if missing == 0 {
					first = id
				}
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("webhooktest: %d of %d events not taken within %v (first: %s); %d requests, refused: %v",
				missing, len(ids), timeout, first, r.Requests(), r.Refused())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
