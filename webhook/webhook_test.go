package webhook_test

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/webhook"
)

// The test vector of the Standard Webhooks specification's libraries: this
// secret, id, time and body sign to this signature.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// A well-formed signature that matches nothing.
	otherSignature = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

func TestSpecVector(t *testing.T) {
	got, err := webhook.Sign(specSecret, specID, time.Unix(specTimestamp, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSignature {
		t.Errorf("Sign(spec vector) = %q, want %q", got, specSignature)
	}
	// Without the prefix, as the libraries accept it.
	got, err = webhook.Sign(strings.TrimPrefix(specSecret, "whsec_"), specID, time.Unix(specTimestamp, 0), []byte(specBody))
	if err != nil || got != specSignature {
		t.Errorf("Sign(unprefixed secret) = %q, %v; want %q", got, err, specSignature)
	}
}

func specHeaders(sig string, ts int64) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, specID)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	at := time.Unix(specTimestamp, 0)
	now := at.Add(30 * time.Second)
	tol := webhook.DefaultTolerance
	tests := []struct {
		name   string
		header func() http.Header
		body   string
		now    time.Time
		want   error
	}{
		{"spec vector", func() http.Header { return specHeaders(specSignature, specTimestamp) }, specBody, now, nil},
		{"several signatures, one valid", func() http.Header {
			return specHeaders(strings.Join([]string{otherSignature, "v2," + strings.TrimPrefix(otherSignature, "v1,"), specSignature, otherSignature}, " "), specTimestamp)
		}, specBody, now, nil},
		{"asymmetric signature ignored", func() http.Header {
			return specHeaders("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== "+specSignature, specTimestamp)
		}, specBody, now, nil},
		{"lower-case keys set by hand", func() http.Header {
			return http.Header{"webhook-id": {specID}, "webhook-timestamp": {strconv.Itoa(specTimestamp)}, "webhook-signature": {specSignature}}
		}, specBody, now, nil},
		{"invalid signature", func() http.Header { return specHeaders(otherSignature, specTimestamp) }, specBody, now, webhook.ErrSignature},
		{"last byte changed", func() http.Header {
			return specHeaders("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", specTimestamp)
		}, specBody, now, webhook.ErrSignature},
		{"body changed", func() http.Header { return specHeaders(specSignature, specTimestamp) }, `{"test": 2432232315}`, now, webhook.ErrSignature},
		{"body re-serialized", func() http.Header { return specHeaders(specSignature, specTimestamp) }, `{"test":2432232314}`, now, webhook.ErrSignature},
		{"signature of another time", func() http.Header { return specHeaders(specSignature, specTimestamp+1) }, specBody, now, webhook.ErrSignature},
		{"not base64", func() http.Header { return specHeaders("v1,!!!", specTimestamp) }, specBody, now, webhook.ErrSignature},
		{"missing id", func() http.Header {
			h := specHeaders(specSignature, specTimestamp)
			h.Del(webhook.HeaderID)
			return h
		}, specBody, now, webhook.ErrMissingHeader},
		{"missing timestamp", func() http.Header {
			h := specHeaders(specSignature, specTimestamp)
			h.Del(webhook.HeaderTimestamp)
			return h
		}, specBody, now, webhook.ErrMissingHeader},
		{"missing signature", func() http.Header {
			h := specHeaders(specSignature, specTimestamp)
			h.Del(webhook.HeaderSignature)
			return h
		}, specBody, now, webhook.ErrMissingHeader},
		{"timestamp not a number", func() http.Header {
			h := specHeaders(specSignature, specTimestamp)
			h.Set(webhook.HeaderTimestamp, "hello")
			return h
		}, specBody, now, webhook.ErrTimestamp},
		{"too old", func() http.Header { return specHeaders(specSignature, specTimestamp) }, specBody, at.Add(tol + time.Second), webhook.ErrTimestamp},
		{"too new", func() http.Header { return specHeaders(specSignature, specTimestamp) }, specBody, at.Add(-tol - time.Second), webhook.ErrTimestamp},
		{"at the tolerance", func() http.Header { return specHeaders(specSignature, specTimestamp) }, specBody, at.Add(tol), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(specSecret, tt.header(), []byte(tt.body), tt.now)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "MfKQ9r8") || strings.Contains(err.Error(), "g0hM9SsE")) {
				t.Errorf("error %q quotes the secret or the signature", err)
			}
		})
	}
}

func TestVerifierRotationAndTolerance(t *testing.T) {
	old, current := webhook.NewSecret(), webhook.NewSecret()
	if old == current || !strings.HasPrefix(old, "whsec_") {
		t.Fatalf("NewSecret = %q, %q", old, current)
	}
	now := time.Now()
	body := []byte(`{"id":"1-0-000-0"}`)
	sig, err := webhook.Sign(old, "1-0-000-0", now, body)
	if err != nil {
		t.Fatal(err)
	}
	h := specHeaders(sig, now.Unix())
	h.Set(webhook.HeaderID, "1-0-000-0")
	v, err := webhook.NewVerifier(current, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(h, body, now); err != nil {
		t.Errorf("verifier of the new and the old secret refuses the old one's signature: %v", err)
	}
	if err := webhook.Verify(current, h, body, now); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("Verify with the new secret only = %v, want ErrSignature", err)
	}
	// A stored request replayed a day later: refused, unless the tolerance
	// is turned off.
	if err := v.Verify(h, body, now.Add(24*time.Hour)); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("a day later: %v, want ErrTimestamp", err)
	}
	v.Tolerance = -1
	if err := v.Verify(h, body, now.Add(24*time.Hour)); err != nil {
		t.Errorf("a day later without tolerance: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	for _, bad := range []string{"", "whsec_", "whsec_***", "whsec_" + strings.Repeat("A", 5)} {
		if _, err := webhook.ParseSecret(bad); !errors.Is(err, webhook.ErrSecret) {
			t.Errorf("ParseSecret(%q) = %v, want ErrSecret", bad, err)
		}
	}
	if _, err := webhook.CheckSecret(strings.TrimPrefix(specSecret, "whsec_")); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("CheckSecret without the prefix = %v, want ErrSecret", err)
	}
	if _, err := webhook.CheckSecret("whsec_AAAA"); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("CheckSecret of 3 bytes = %v, want ErrSecret", err)
	}
	s, err := webhook.CheckSecret(specSecret)
	if err != nil {
		t.Fatalf("CheckSecret(spec secret): %v", err)
	}
	if strings.Contains(s.String(), "MfKQ") {
		t.Errorf("String() = %q shows the key", s.String())
	}
	if s.LogValue().String() != s.String() {
		t.Errorf("LogValue() = %q", s.LogValue())
	}
	for _, id := range []string{"", "a.b", "a b"} {
		if _, err := s.Sign(id, time.Now(), nil); !errors.Is(err, webhook.ErrInvalidID) {
			t.Errorf("Sign(id %q) = %v, want ErrInvalidID", id, err)
		}
	}
	if _, err := (webhook.Secret{}).Sign("x", time.Now(), nil); !errors.Is(err, webhook.ErrSecret) {
		t.Errorf("zero Secret signs: %v", err)
	}
}

// TestPythonHMACVerifiesGo: Python's hmac, hashlib and base64, following
// the specification's text, verify what Go signs, byte for byte: another
// implementation than the package's.
func TestPythonHMACVerifiesGo(t *testing.T) {
	python := pythonForTests(t)
	secret := webhook.NewSecret()
	id := "1764405438617-0-3d8-1"
	body := []byte(`{"id":"1764405438617-0-3d8-1","type":"created","metadata":{"ua":"Mozilla/5.0 <é>"}}`)
	now := time.Now()
	sig, err := webhook.Sign(secret, id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	const script = `
import base64, hashlib, hmac, os, sys
secret = base64.b64decode(os.environ["SECRET"][len("whsec_"):])
body = sys.stdin.buffer.read()
signed = os.environ["ID"].encode() + b"." + os.environ["TS"].encode() + b"." + body
want = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
got = [s.split(",", 1)[1] for s in os.environ["SIG"].split(" ") if s.startswith("v1,")]
sys.exit(0 if any(hmac.compare_digest(want, g) for g in got) else 1)
`
	run := func(sig string) error {
		cmd := exec.Command(python, "-c", script)
		cmd.Env = []string{"SECRET=" + secret, "ID=" + id, "TS=" + strconv.FormatInt(now.Unix(), 10), "SIG=" + sig}
		cmd.Stdin = strings.NewReader(string(body))
		out, err := cmd.CombinedOutput()
		if err != nil && len(out) > 0 {
			t.Logf("python: %s", out)
		}
		return err
	}
	if err := run(sig); err != nil {
		t.Errorf("Python refuses Go's signature: %v", err)
	}
	if err := run(otherSignature); err == nil {
		t.Error("Python accepts a signature that matches nothing: the check checks nothing")
	}
}

// pythonForTests returns Debian's python3 (the Python the project's checks
// use). SESSIONDB_SKIP_PYTHON=1 skips the test, as it skips the Python
// stage of scripts/test.sh.
func pythonForTests(t *testing.T) string {
	t.Helper()
	if os.Getenv("SESSIONDB_SKIP_PYTHON") == "1" {
		t.Skip("SESSIONDB_SKIP_PYTHON=1")
	}
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("python3 is needed to check signatures with another implementation: apt-get install python3 (or set SESSIONDB_SKIP_PYTHON=1)")
	return ""
}
