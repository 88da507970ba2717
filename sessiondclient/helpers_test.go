package sessiondclient_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/sessiondb/sessiondb/sessiondclient"
)

// proxy is a reverse proxy on loopback in front of a sessiond, which records
// every request and lets a test answer some of them itself (fault
// injection).
type proxy struct {
	URL string

	mu    sync.Mutex
	reqs  []recorded
	fault func(w http.ResponseWriter, r *http.Request, n int) bool
}

// recorded is a request as the proxy saw it.
type recorded struct {
	Method, Path, RawPath, RawQuery string
	Header                          http.Header
	Body                            string
}

// newProxy starts a proxy to target. fault, if not nil, sees each request
// with its number (from 0) first and answers it itself by returning true.
func newProxy(t *testing.T, target string, fault func(w http.ResponseWriter, r *http.Request, n int) bool) *proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &proxy{fault: fault}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		n := len(p.reqs)
		p.reqs = append(p.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(),
			RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)})
		fault := p.fault
		p.mu.Unlock()
		if fault != nil && fault(w, r, n) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// requests returns the requests seen so far.
func (p *proxy) requests() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.reqs...)
}

// count returns how many requests for path the proxy saw.
func (p *proxy) count(path string) int {
	n := 0
	for _, r := range p.requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}

// answer writes an error answer in sessiond's shape.
func answer(w http.ResponseWriter, status int, code, message, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"error":{"code":"`+code+`","message":"`+message+`"}}`)
}

// mustNew returns a client or fails the test.
func mustNew(t *testing.T, baseURL string, opt sessiondclient.Options) *sessiondclient.Client {
	t.Helper()
	c, err := sessiondclient.New(baseURL, opt)
	if err != nil {
		t.Fatalf("sessiondclient.New(%q): %v", baseURL, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// noSecret fails the test if any form of err's text holds one of secrets.
func noSecret(t *testing.T, what string, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, text := range []string{err.Error(), sprintAll(err)} {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s: the error's text holds a secret: %s", what, text)
			}
		}
	}
}

// sprintAll formats v every way fmt knows.
func sprintAll(v any) string {
	return fmt.Sprintf("%v|%+v|%#v|%s|%q", v, v, v, v, v)
}
