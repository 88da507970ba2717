package webhook_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb/webhook"
)

// vectors is testdata/vectors.json, which the Python client's tests read
// too: the specification's published vector and cases built on it, and
// signatures of sessiond-shaped events.
type vectors struct {
	Sign []struct {
		Name, Source, Secret, ID, Body, Signature string
		Timestamp                                 int64
	}
	Verify []struct {
		Name, Source, Body, Error string
		Secrets                   []string
		Headers                   map[string]string
		Now, Tolerance            int64
	}
}

func readVectors(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	spec := 0
	for _, s := range v.Sign {
		if s.Source == "standard-webhooks" {
			spec++
		}
	}
	if len(v.Sign) < 3 || len(v.Verify) < 20 || spec == 0 {
		t.Fatalf("testdata/vectors.json: %d sign and %d verify vectors, %d of the specification", len(v.Sign), len(v.Verify), spec)
	}
	return v
}

func TestSharedVectors(t *testing.T) {
	v := readVectors(t)
	for _, s := range v.Sign {
		got, err := webhook.Sign(s.Secret, s.ID, time.Unix(s.Timestamp, 0), []byte(s.Body))
		if err != nil || got != s.Signature {
			t.Errorf("sign %q: %q, %v; want %q", s.Name, got, err, s.Signature)
		}
	}
	kinds := map[string]error{"": nil, "missing_header": webhook.ErrMissingHeader, "timestamp": webhook.ErrTimestamp, "signature": webhook.ErrSignature}
	for _, c := range v.Verify {
		want, ok := kinds[c.Error]
		if !ok {
			t.Fatalf("verify %q: unknown error kind %q", c.Name, c.Error)
		}
		ver, err := webhook.NewVerifier(c.Secrets...)
		if err != nil {
			t.Fatalf("verify %q: %v", c.Name, err)
		}
		ver.Tolerance = time.Duration(c.Tolerance) * time.Second
		h := http.Header{}
		for k, val := range c.Headers {
			h.Set(k, val)
		}
		err = ver.Verify(h, []byte(c.Body), time.Unix(c.Now, 0))
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("verify %q: %v, want %v", c.Name, err, want)
		}
	}
}
