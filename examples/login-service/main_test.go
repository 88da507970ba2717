package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// syncBuffer is an io.Writer that tests can read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var startRE = regexp.MustCompile(`login-service on (https?://[^ ]+) `)

// runService runs the command as main would, on a free loopback port, and
// returns its URL and start-up line. It stops the service at the end of the
// test and checks that it shut down cleanly.
func runService(t *testing.T, args []string, env map[string]string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not return after cancel")
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := startRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stdout.String()
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before serving: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no start-up line within 15s: %q", stdout.String())
	return "", ""
}

// The command as a newcomer runs it: plain HTTP on loopback, development
// mode, the real demo users.
func TestRunPlainHTTP(t *testing.T) {
	base, line := runService(t, nil, nil)
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(line, "DEVELOPMENT MODE") ||
		!strings.Contains(line, "without Secure") || !strings.Contains(line, "embedded memory store") {
		t.Errorf("start-up line %q: want the URL, the development mode and the store", line)
	}
	c := jarClient(t, nil)
	resp := postForm(t, c, base+"/login", url.Values{"user": {"alice"}, "password": {"wonderland"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(readBody(t, resp), "Signed in as Alice") {
		t.Fatalf("login: %s", resp.Status)
	}
	u, _ := url.Parse(base)
	if ck := c.Jar.Cookies(u); len(ck) != 1 || ck[0].Name != "session" {
		t.Errorf("jar after login: %v, want the development cookie \"session\"", ck)
	}
}

// With a certificate it serves HTTPS and sets the strict __Host- cookie.
func TestRunHTTPS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	base, line := runService(t, []string{"-tls-cert", certFile, "-tls-key", keyFile}, nil)
	if !strings.HasPrefix(base, "https://127.0.0.1:") || strings.Contains(line, "DEVELOPMENT") || !strings.Contains(line, "__Host-session (Secure") {
		t.Errorf("start-up line %q", line)
	}
	c := jarClient(t, pool)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp := postForm(t, c, base+"/login", url.Values{"user": {"bob"}, "password": {"builder"}})
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-session" {
			ck = c
		}
	}
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("Set-Cookie %q: want __Host-session with Secure, HttpOnly, SameSite=Lax, Path=/", resp.Header.Values("Set-Cookie"))
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts == "" {
		t.Error("no Strict-Transport-Security over HTTPS")
	}
	req, _ := http.NewRequest("GET", base+"/devices", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as Bob") || strings.Contains(body, `id="dev-mode"`) {
		t.Errorf("devices over HTTPS: %s", resp.Status)
	}
}

func TestRunRefusesUnsafeSettings(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cases := map[string][]string{
		"plain HTTP on all interfaces": {"-addr", "0.0.0.0:0"},
		"plain HTTP on a host name":    {"-addr", "example.com:0"},
		"certificate without key":      {"-tls-cert", certFile},
		"key without certificate":      {"-tls-key", keyFile},
		"TLS twice":                    {"-tls-cert", certFile, "-tls-key", keyFile, "-behind-tls"},
		"stray argument":               {"serve"},
		"bad proxy":                    {"-behind-tls", "-addr", "0.0.0.0:0", "-trusted-proxies", "proxy.example"},
		"missing certificate file":     {"-tls-cert", filepath.Join(t.TempDir(), "none.pem"), "-tls-key", keyFile},
	}
	for name, args := range cases {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if err == nil {
			t.Errorf("%s: run %q returned nil", name, args)
		}
	}
	// -h prints the flags and succeeds.
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "-behind-tls") {
		t.Errorf("-h: %v %q", err, stdout.String())
	}
}

func jarClient(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) *http.Response {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "login-service test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With SESSIOND_URL and SESSIOND_API_KEY the same command keeps its sessions
// in a remote sessiond.
func TestRunRemote(t *testing.T) {
	d := sessiondtest.StartWithKeys(t, nil)
	base, line := runService(t, nil, map[string]string{"SESSIOND_URL": d.URL, "SESSIOND_API_KEY": d.AppKey})
	if !strings.Contains(line, "sessions: sessiond at "+d.URL+", through the Go client") || strings.Contains(line, d.AppKey) {
		t.Errorf("start-up line %q: want sessiond's URL, without the key", line)
	}
	c := jarClient(t, nil)
	resp := postForm(t, c, base+"/login", url.Values{"user": {"carol"}, "password": {"singing"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as Carol") {
		t.Fatalf("login: %s", resp.Status)
	}
	admin, err := sessiondclient.New(d.URL, sessiondclient.Options{APIKey: d.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := admin.UserSessions(t.Context(), "carol"); err != nil || len(list) != 1 || list[0].Metadata["user_agent"] != "Go-http-client/1.1" {
		t.Errorf("sessiond holds %v (%v), want carol's session from this client", list, err)
	}

	// A wrong key is not a logout: the pages say sessions are unavailable.
	base, _ = runService(t, nil, map[string]string{"SESSIOND_URL": d.URL, "SESSIOND_API_KEY": "wrong"})
	resp = postForm(t, jarClient(t, nil), base+"/login", url.Values{"user": {"carol"}, "password": {"singing"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
		t.Errorf("login with a wrong API key: %s", resp.Status)
	}
}
