package httpsession_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/httpsession"
)

func TestClientIP(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	cases := []struct {
		name    string
		opt     httpsession.Options
		remote  string
		headers map[string][]string
		want    string
	}{
		{"no proxies: the peer", httpsession.Options{}, "192.0.2.1:5555", nil, "192.0.2.1"},
		{"no proxies: headers ignored", httpsession.Options{}, "192.0.2.1:5555",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"for=203.0.113.9"}}, "192.0.2.1"},
		{"IPv6 peer", httpsession.Options{}, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv4-mapped peer", httpsession.Options{}, "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
		{"untrusted peer sending the header", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "192.0.2.1:1",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "192.0.2.1"},
		{"trusted proxy", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"a spoofed entry left of the real one", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"1.2.3.4, 203.0.113.9"}}, "203.0.113.9"},
		{"two trusted hops", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8", "172.16.0.5"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"1.2.3.4, 203.0.113.9, 172.16.0.5"}}, "203.0.113.9"},
		{"several header lines", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"1.2.3.4", "203.0.113.9, 10.9.9.9"}}, "203.0.113.9"},
		{"every hop trusted: the leftmost", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"10.0.0.7, 10.0.0.8"}}, "10.0.0.7"},
		{"no header from a trusted proxy", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1", nil, "10.1.2.3"},
		{"garbage: the nearest trusted hop", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, unknown, 10.0.0.8"}}, "10.0.0.8"},
		{"IPv6 entry with a port", httpsession.Options{TrustedProxies: []string{"10.0.0.0/8"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"[2001:db8::7]:1234"}}, "2001:db8::7"},
		{"Forwarded", httpsession.Options{TrustedProxies: []string{"::1/128"}, ProxyHeader: "Forwarded"}, "[::1]:1",
			map[string][]string{"Forwarded": {`for=1.2.3.4, for="[2001:db8::7]:4711";proto=https;by=_hidden`}}, "2001:db8::7"},
		{"Forwarded configured, X-Forwarded-For ignored", httpsession.Options{TrustedProxies: []string{"::1"}, ProxyHeader: "forwarded"}, "[::1]:1",
			map[string][]string{"X-Forwarded-For": {"1.2.3.4"}, "Forwarded": {"proto=https;for=192.0.2.60"}}, "192.0.2.60"},
		{"Forwarded obfuscated", httpsession.Options{TrustedProxies: []string{"::1"}, ProxyHeader: "Forwarded"}, "[::1]:1",
			map[string][]string{"Forwarded": {"for=_abc"}}, "::1"},
		{"mapped prefix", httpsession.Options{TrustedProxies: []string{"::ffff:10.0.0.0/104"}}, "10.1.2.3:1",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}, "203.0.113.9"},
		{"not an address", httpsession.Options{}, "pipe", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mw, err := httpsession.New(m, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.headers {
				r.Header[k] = v
			}
			if got := mw.ClientIP(r); got != tc.want {
				t.Errorf("ClientIP = %q, want %q", got, tc.want)
			}
		})
	}
}

// Over real HTTP from loopback, with and without a trusted proxy in front.
func TestLoginRecordsClientIP(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	for _, tc := range []struct {
		trusted []string
		want    string
	}{{nil, "127.0.0.1"}, {[]string{"127.0.0.0/8"}, "203.0.113.9"}} {
		a := newApp(t, m, httpsession.Options{TrustedProxies: tc.trusted}, false)
		resp, body := a.do(a.client(), "POST", "/login", url.Values{"user": {"alice"}}, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
		expect(t, "login", resp, body, http.StatusOK, "")
		s, err := m.Validate(context.Background(), setCookie(t, resp, "__Host-session").Value)
		if err != nil || s.Metadata["ip"] != tc.want {
			t.Errorf("trusted %v: ip = %q (%v), want %q", tc.trusted, s.Metadata["ip"], err, tc.want)
		}
	}
}

func TestInsecureLoopbackHTTP(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	a := newApp(t, m, httpsession.Options{InsecureLoopbackHTTP: true}, true)
	c := a.client() // Go's jar sends a Secure cookie only over https
	s := a.login(c, "alice")
	resp, _ := a.do(a.client(), "POST", "/login", url.Values{"user": {"bob"}}, nil)
	ck := setCookie(t, resp, "session")
	if ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("development cookie = %+v, want HttpOnly, SameSite=Lax, Path=/, without Secure", ck)
	}
	resp, body := a.do(c, "GET", "/me", nil, nil)
	expect(t, "over plain HTTP", resp, body, http.StatusOK, "session="+s.ID)
	resp, body = a.do(c, "POST", "/me", nil, http.Header{"Origin": {"http://evil.example"}})
	expect(t, "cross-origin over plain HTTP", resp, body, http.StatusForbidden, "permission_denied")

	// A request that did not arrive at a loopback address gets no cookie.
	r := httptest.NewRequest("POST", "http://192.0.2.10/login", nil)
	r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 80}))
	w := httptest.NewRecorder()
	if _, err := a.mw.Login(w, r, "alice", nil); err != httpsession.ErrInsecureCookie || len(w.Header().Values("Set-Cookie")) != 0 {
		t.Errorf("Login off loopback: %v, Set-Cookie %q; want ErrInsecureCookie and none", err, w.Header().Values("Set-Cookie"))
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	m := newManager(t, sessiondb.Options{})
	bad := map[string]httpsession.Options{
		"unknown source":              {Source: 7},
		"cookie name with a space":    {CookieName: "my session"},
		"__Host- without Secure":      {InsecureLoopbackHTTP: true, CookieName: "__Host-sid"},
		"__Secure- without Secure":    {InsecureLoopbackHTTP: true, CookieName: "__secure-sid"},
		"SameSite=None":               {SameSite: http.SameSiteNoneMode},
		"negative TTL":                {TTL: -1},
		"proxy not an address":        {TrustedProxies: []string{"proxy.example"}},
		"proxy prefix out of range":   {TrustedProxies: []string{"10.0.0.0/33"}},
		"unknown proxy header":        {ProxyHeader: "X-Real-IP"},
		"origin with a path":          {TrustedOrigins: []string{"https://a.example/path"}},
		"bad bypass pattern":          {InsecureBypassPatterns: []string{"POST /{bad"}},
		"conflicting bypass patterns": {InsecureBypassPatterns: []string{"POST /a/{x}", "POST /a/{y}"}},
		"bypass with the check off":   {DisableCrossOriginCheck: true, InsecureBypassPatterns: []string{"POST /a"}},
		"line break in LoginURL":      {LoginURL: "/login\r\nX: y"},
	}
	for name, opt := range bad {
		if _, err := httpsession.New(m, opt); err == nil {
			t.Errorf("%s: New accepted %+v", name, opt)
		}
	}
	if _, err := httpsession.New(nil, httpsession.Options{}); err == nil {
		t.Error("New accepted nil Sessions")
	}
	mw, err := httpsession.New(m, httpsession.Options{})
	if err != nil || mw.CookieName() != "__Host-session" {
		t.Errorf("zero Options: %v, cookie %q", err, mw.CookieName())
	}
}

// ClientIP never panics and returns an address or "", whatever the headers.
func FuzzClientIP(f *testing.F) {
	m := newManager(f, sessiondb.Options{})
	xff, _ := httpsession.New(m, httpsession.Options{TrustedProxies: []string{"10.0.0.0/8", "::1"}})
	fwd, _ := httpsession.New(m, httpsession.Options{TrustedProxies: []string{"10.0.0.0/8", "::1"}, ProxyHeader: "Forwarded"})
	f.Add("10.0.0.1:80", "203.0.113.9, 10.0.0.2")
	f.Add("[::1]:1", `for="[2001:db8::7]:4711";proto=https, for=unknown`)
	f.Add("10.0.0.1:80", ",,;;==\"[")
	f.Fuzz(func(t *testing.T, remote, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", header)
		r.Header.Set("Forwarded", header)
		for _, mw := range []*httpsession.Middleware{xff, fwd} {
			if got := mw.ClientIP(r); got != "" && net.ParseIP(got) == nil {
				t.Errorf("ClientIP(%q, %q) = %q: not an address", remote, header, got)
			}
		}
	})
}
