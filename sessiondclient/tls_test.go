package sessiondclient_test

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
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/sessiondtest"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// testPKI is a private CA and a certificate it signed for 127.0.0.1, in PEM
// files.
type testPKI struct {
	CAFile, CertFile, KeyFile string
	Pool                      *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sessiondclient test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "sessiond"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := testPKI{
		CAFile:   writeFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))),
		CertFile: writeFile(t, dir, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))),
		KeyFile:  writeFile(t, dir, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))),
		Pool:     x509.NewCertPool(),
	}
	p.Pool.AddCert(caCert)
	return p
}

// TestHTTPS: a sessiond serving HTTPS with a certificate from a private CA,
// trusted with CAFile, TLSConfig or a caller's own HTTPClient; without the CA
// the call fails with a hint, and is not retried.
func TestHTTPS(t *testing.T) {
	pki := newTestPKI(t)
	d := sessiondtest.StartWithKeys(t, map[string]string{
		"SESSIOND_TLS_CERT_FILE": pki.CertFile,
		"SESSIOND_TLS_KEY_FILE":  pki.KeyFile,
	})
	if !strings.HasPrefix(d.URL, "https://") {
		t.Fatalf("sessiond URL = %s, want https", d.URL)
	}
	ctx := context.Background()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pki.Pool}
	for name, opt := range map[string]sessiondclient.Options{
		"CAFile":     {CAFile: pki.CAFile},
		"TLSConfig":  {TLSConfig: &tls.Config{RootCAs: pki.Pool, MinVersion: tls.VersionTLS13}},
		"HTTPClient": {HTTPClient: &http.Client{Transport: tr}},
	} {
		opt.APIKey = d.AppKey
		c := mustNew(t, d.URL, opt)
		s, err := c.Create(ctx, "u", 0, nil)
		if err != nil {
			t.Errorf("%s: Create over https: %v", name, err)
			continue
		}
		if _, err := c.Validate(ctx, string(s.Token)); err != nil {
			t.Errorf("%s: Validate over https: %v", name, err)
		}
	}

	if _, err := sessiondclient.New(d.URL, sessiondclient.Options{CAFile: pki.CAFile, TLSConfig: &tls.Config{RootCAs: pki.Pool}}); err == nil {
		t.Errorf("New with CAFile and TLSConfig.RootCAs: no error, want one")
	}

	untrusting := mustNew(t, d.URL, sessiondclient.Options{APIKey: d.AppKey})
	_, err := untrusting.Create(ctx, "u", 0, nil)
	if !errors.Is(err, sessiondb.ErrUnavailable) || !strings.Contains(err.Error(), "Options.CAFile") {
		t.Errorf("Create without the CA = %v, want ErrUnavailable with a hint at Options.CAFile", err)
	}

	plain := mustNew(t, strings.Replace(d.URL, "https://", "http://", 1), sessiondclient.Options{APIKey: d.AppKey})
	_, err = plain.Validate(ctx, wellFormedToken(t))
	if err == nil || errors.Is(err, sessiondb.ErrNotFound) || !strings.Contains(err.Error(), "right scheme") {
		t.Errorf("Validate with http:// against https = %v, want an error about the scheme", err)
	}
}

// TestCertificateErrorNotRetried: a certificate that does not verify fails
// the same way on every try, so a call that may repeat is tried once.
func TestCertificateErrorNotRetried(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := mustNew(t, srv.URL, sessiondclient.Options{Retries: 3})
	_, err := c.Validate(context.Background(), wellFormedToken(t))
	if !errors.Is(err, sessiondb.ErrUnavailable) {
		t.Errorf("Validate against an unknown CA = %v, want ErrUnavailable", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: a certificate error is not retried", n)
	}
}
