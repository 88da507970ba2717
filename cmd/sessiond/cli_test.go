package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/config"
)

// runCLI runs a non-serving command line (help, version, healthcheck) and
// returns its stdout and error.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errw bytes.Buffer
	err := run(ctx, args, func(k string) string { return env[k] }, &out, &errw)
	if strings.Contains(errw.String(), "listening") {
		t.Fatalf("%v started a server", args)
	}
	return out.String(), err
}

// TestHelp checks that -h documents every setting: each flag names its
// environment variable, and secrets are listed as environment only.
func TestHelp(t *testing.T) {
	out, err := runCLI(t, nil, "-h")
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	var envs []string
	for _, s := range config.Settings {
		envs = append(envs, s.Env)
	}
	for _, s := range serverSettings {
		envs = append(envs, s.Env)
	}
	for _, env := range envs {
		if !strings.Contains(out, env) {
			t.Errorf("-h does not mention %s", env)
		}
	}
	for _, want := range []string{"-addr", "-healthcheck", "-log-format", "-max-body-bytes", "-shutdown-grace-seconds", "-redis-url", "-version", "default 127.0.0.1:8080", "default 16384"} {
		if !strings.Contains(out, want) {
			t.Errorf("-h lacks %q", want)
		}
	}
	for _, secret := range []string{"-api-keys ", "-redis-password "} {
		if strings.Contains(out, secret) {
			t.Errorf("-h offers the secret flag %q", secret)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := runCLI(t, nil, "-version")
	if err != nil || out != "sessiond dev\n" {
		t.Fatalf("-version = %q, %v", out, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"serve"}, {"-addr"}, {"-log-format", "yaml"}, {"-max-body-bytes", "1"}} {
		_, err := runCLI(t, nil, args...)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	// Flags are checked like the environment.
	_, err := runCLI(t, nil, "-session-ttl-seconds", "100", "-session-max-ttl-seconds", "10")
	if err == nil || !strings.Contains(err.Error(), "SESSION_MAX_TTL_SECONDS") {
		t.Errorf("max ttl below ttl: %v", err)
	}
}

// TestFlagsOverrideEnv: a flag wins over its environment variable.
func TestFlagsOverrideEnv(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	d := startDaemon(t, map[string]string{"SESSIOND_ADDR": busy.Addr().String(), "SESSIOND_MAX_BODY_BYTES": "100000"},
		"-addr", "127.0.0.1:0", "-max-body-bytes", "1024", "-session-ttl-seconds", "77")
	if d.Addr == busy.Addr().String() {
		t.Fatal("the flag did not override SESSIOND_ADDR")
	}
	d.do("POST", "/v1/sessions", `{"user_id":"`+strings.Repeat("u", 1100)+`"}`).wantError(t, 413, "too_large", "")
	s := d.create(t, "u", "")
	if got := s.ExpiresAt.Sub(s.CreatedAt); got != 77*time.Second {
		t.Errorf("-session-ttl-seconds 77 gave a ttl of %v", got)
	}
}

// TestDotEnv: settings are also read from ./.env, the environment winning.
func TestDotEnv(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := os.WriteFile(".env", []byte("SESSION_TTL_SECONDS=88\nSESSIOND_MAX_BODY_BYTES=999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, map[string]string{"SESSIOND_MAX_BODY_BYTES": "20000"})
	s := d.create(t, "u", "")
	if got := s.ExpiresAt.Sub(s.CreatedAt); got != 88*time.Second {
		t.Errorf("SESSION_TTL_SECONDS=88 in .env gave a ttl of %v", got)
	}
	d.create(t, "u", `,"metadata":{"k":"`+strings.Repeat("v", 1500)+`"}`) // the environment's 20000 wins over 999
}

// TestEnvFileNamed: sessiond's listening line names the .env file it read,
// or none; it never reads sessionctl.env, where the operator's settings for
// sessionctl go (docs/operations.md).
func TestEnvFileNamed(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	listening := func(d *daemon) map[string]any {
		t.Helper()
		for _, l := range logLines(t, d.Logs.String()) {
			if l["msg"] == "listening" {
				return l
			}
		}
		t.Fatalf("no listening line:\n%s", d.Logs)
		return nil
	}
	if got := listening(startDaemon(t, nil))["env_file"]; got != "none" {
		t.Errorf("without .env: env_file = %v, want none", got)
	}
	if err := os.WriteFile("sessionctl.env", []byte("REDIS_HOST=127.0.0.1\nREDIS_USERNAME=operator\nSESSION_TTL_SECONDS=99\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(".env", []byte("SESSION_TTL_SECONDS=88\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, nil)
	l := listening(d)
	if want := filepath.Join(dir, ".env"); l["env_file"] != want {
		t.Errorf("env_file = %v, want %s", l["env_file"], want)
	}
	if l["store"] != "embedded memory store" || l["redis_user"] != nil {
		t.Errorf("sessiond took settings from sessionctl.env: %v", l)
	}
	s := d.create(t, "u", "")
	if got := s.ExpiresAt.Sub(s.CreatedAt); got != 88*time.Second {
		t.Errorf("ttl %v, want the 88s of .env", got)
	}
}

func TestHealthcheck(t *testing.T) {
	d := startDaemon(t, nil)
	out, err := runCLI(t, map[string]string{"SESSIOND_ADDR": d.Addr}, "-healthcheck")
	if err != nil || out != "ok\n" {
		t.Fatalf("-healthcheck against a running sessiond = %q, %v", out, err)
	}
	_, port, _ := net.SplitHostPort(d.Addr)
	if _, err := runCLI(t, nil, "-healthcheck", "-addr", "0.0.0.0:"+port); err != nil {
		t.Fatalf("-healthcheck on 0.0.0.0 (probing 127.0.0.1) = %v", err)
	}

	// Nothing listens on a closed port: exit 1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := runCLI(t, map[string]string{"SESSIOND_ADDR": closed}, "-healthcheck"); err == nil {
		t.Fatal("-healthcheck with nothing listening succeeded")
	}

	// Something that is not sessiond answers 404: exit 1.
	notSessiond, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer notSessiond.Close()
	go func() { _ = http.Serve(notSessiond, http.NotFoundHandler()) }()
	if _, err := runCLI(t, nil, "-healthcheck", "-addr", notSessiond.Addr().String()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("-healthcheck against a 404 = %v, want an error", err)
	}
}

func TestHealthcheckURL(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080/healthz"},
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080/healthz"},
		{":9000", false, "http://127.0.0.1:9000/healthz"},
		{"[::]:9000", true, "https://127.0.0.1:9000/healthz"},
		{"[::1]:9000", false, "http://[::1]:9000/healthz"},
		{"sessiond.internal:443", true, "https://sessiond.internal:443/healthz"},
	} {
		sc := defaultServerConfig()
		sc.Addr = tc.addr
		if tc.tls {
			sc.TLSCertFile, sc.TLSKeyFile = "c", "k"
		}
		if got, err := healthcheckURL(sc); err != nil || got != tc.want {
			t.Errorf("healthcheckURL(%s, tls %v) = %q, %v; want %q", tc.addr, tc.tls, got, err, tc.want)
		}
	}
}

// TestTLS serves HTTPS with a self-signed certificate: the API works over
// it, and -healthcheck probes it with https.
func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	env := map[string]string{"SESSIOND_TLS_CERT_FILE": cert, "SESSIOND_TLS_KEY_FILE": key, "SESSIOND_API_KEYS": "admin:tls-admin-key-0123456789"}
	d := startDaemon(t, env)
	if !strings.HasPrefix(d.URL, "https://") {
		t.Fatalf("URL %s is not https", d.URL)
	}
	d.Key = "tls-admin-key-0123456789"
	s := d.create(t, "u", "")
	d.do("POST", "/v1/sessions/validate", `{"token":"`+s.Token+`"}`).want(t, 200)
	env["SESSIOND_ADDR"] = d.Addr
	if out, err := runCLI(t, env, "-healthcheck"); err != nil || out != "ok\n" {
		t.Fatalf("-healthcheck over TLS = %q, %v", out, err)
	}
	delete(env, "SESSIOND_TLS_CERT_FILE")
	delete(env, "SESSIOND_TLS_KEY_FILE")
	if _, err := runCLI(t, env, "-healthcheck"); err == nil {
		t.Fatal("a plain-HTTP probe of the TLS listener succeeded")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and localhost
// and its key, and returns their paths.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sessiond test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
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
	return certFile, keyFile
}
