package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redistest"
)

// TestRedisConfTLS switches on the commented TLS block of redis.conf, as
// its comment tells an operator to, with certificates made for the test:
// sessiond's configuration (REDIS_TLS, REDIS_TLS_CA_FILE) then works, and a
// plaintext client gets nothing.
func TestRedisConfTLS(t *testing.T) {
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	writeTestCerts(t, tlsDir)

	conf, err := os.ReadFile(repo("deploy", "redis", "redis.conf"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?m)^# ((port 0|tls-[a-z-]+ .*))$`)
	if n := len(block.FindAll(conf, -1)); n < 5 {
		t.Fatalf("redis.conf has %d commented TLS lines, want the block (port 0, tls-port, certificate, key, CA...)", n)
	}
	on := block.ReplaceAll(conf, []byte("$1"))
	on = []byte(strings.ReplaceAll(string(on), "/usr/local/etc/redis/tls/", tlsDir+"/"))
	if err := os.WriteFile(filepath.Join(dir, "redis.conf"), on, 0o600); err != nil {
		t.Fatal(err)
	}
	copyFile(t, repo("deploy", "redis", "users.acl"), filepath.Join(dir, "users.acl"))

	port := redistest.FreePort(t)
	cmd := exec.Command(redistest.Binary(t, "redis-server"), filepath.Join(dir, "redis.conf"),
		"--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--aclfile", filepath.Join(dir, "users.acl"), "--logfile", filepath.Join(dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	pwFile := filepath.Join(dir, "password")
	if err := os.WriteFile(pwFile, []byte(devPasswords["sessiond"]), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"REDIS_HOST": "127.0.0.1", "REDIS_PORT": strconv.Itoa(port), "REDIS_USERNAME": "sessiond",
		"REDIS_PASSWORD_FILE": pwFile, "REDIS_TLS": "true", "REDIS_TLS_CA_FILE": filepath.Join(tlsDir, "ca.crt"),
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var m *sessiondb.Manager
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err = cfg.Open(); err == nil {
			if err = m.Ping(context.Background()); err == nil {
				break
			}
			m.Store().Close()
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("no TLS connection to redis-server: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer m.Store().Close()
	ctx := context.Background()
	s, err := m.Create(ctx, "alice", time.Hour, nil)
	if err != nil {
		t.Fatalf("Create over TLS: %v", err)
	}
	if _, err := m.Validate(ctx, string(s.Token)); err != nil {
		t.Fatalf("Validate over TLS: %v", err)
	}

	// The TLS port does not speak plaintext ("port 0" leaves no other).
	if _, err := redistest.Do("127.0.0.1:"+strconv.Itoa(port), "PING"); err == nil || strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("plaintext PING on the TLS port: %v, want a failed connection", err)
	}
	// A client that does not trust the CA fails.
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{MinVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Error("a TLS client without the CA connected")
	} else if !errors.As(err, new(*tls.CertificateVerificationError)) && !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS client without the CA: %v, want a certificate error", err)
	}
}

// writeTestCerts writes ca.crt, tls.crt and tls.key (for 127.0.0.1) in dir.
func writeTestCerts(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sessiondb test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.crt":  {Type: "CERTIFICATE", Bytes: caDER},
		"tls.crt": {Type: "CERTIFICATE", Bytes: leafDER},
		"tls.key": {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
