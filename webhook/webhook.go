// Package webhook signs and verifies webhooks in the format of the Standard
// Webhooks specification (https://www.standardwebhooks.com), the format in
// which sessiond delivers session events (docs/webhooks.md).
//
// A webhook is an HTTP POST whose headers carry its id (webhook-id), the
// time it was sent in Unix seconds (webhook-timestamp) and its signatures
// (webhook-signature): a space-separated list of "v1,<base64>", each the
// HMAC-SHA256 of "<id>.<timestamp>.<body>" under a secret shared by sender
// and receiver. Secrets are written "whsec_<base64>". A sender signs with
// several secrets while it rotates them; a receiver accepts a request when
// one of the signatures matches one of its secrets, in constant time, and
// refuses a timestamp more than a tolerance (five minutes by default) away
// from its clock, so that a captured request cannot be replayed later.
//
// A receiver:
//
//	body, _ := io.ReadAll(r.Body)
//	if err := webhook.Verify(secret, r.Header, body, time.Now()); err != nil {
//		http.Error(w, "bad signature", http.StatusUnauthorized)
//		return
//	}
//	// body is the event; r.Header.Get("webhook-id") is its idempotency key
//
// The package uses the standard library only.
package webhook

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a webhook, as the specification names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify and Sign. Match them with errors.Is. Their texts never
// hold a secret or a signature.
var (
	// ErrMissingHeader: the request lacks webhook-id, webhook-timestamp or
	// webhook-signature.
	ErrMissingHeader = errors.New("webhook: missing header")
	// ErrTimestamp: webhook-timestamp is not a whole number of seconds, or
	// is further from the receiver's clock than the tolerance.
	ErrTimestamp = errors.New("webhook: bad timestamp")
	// ErrSignature: no signature of the request matches a secret.
	ErrSignature = errors.New("webhook: no matching signature")
	// ErrSecret: a secret is not "whsec_" followed by standard base64, or
	// is empty (or, for a sender, of the wrong size).
	ErrSecret = errors.New("webhook: invalid secret")
	// ErrInvalidID: a webhook id to sign is empty or holds '.' or a space.
	ErrInvalidID = errors.New("webhook: invalid id (empty, or with '.' or a space)")
)

// Sign returns the webhook-signature value of a message under secret (in
// its text form, "whsec_<base64>"): "v1,<base64>".
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	s, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return s.Sign(id, ts, body)
}

// Verify checks a webhook against one secret (its text form) with the
// default tolerance: the headers h (of the request; names in any case), the
// body exactly as received, and now, the receiver's clock. It returns nil
// when one of the request's v1 signatures matches, and otherwise an error
// matching ErrMissingHeader, ErrTimestamp, ErrSignature or ErrSecret.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	v, err := NewVerifier(secret)
	if err != nil {
		return err
	}
	return v.Verify(h, body, now)
}

// Verifier checks webhooks against one or more secrets: during a rotation a
// receiver accepts the old secret and the new one. It is safe for
// concurrent use.
type Verifier struct {
	// Secrets are the secrets accepted.
	Secrets []Secret
	// Tolerance is how far the timestamp may be from the clock, either way.
	// Zero means DefaultTolerance; negative means no check (for replaying
	// stored requests in tests, never for live traffic).
	Tolerance time.Duration
}

// NewVerifier returns a Verifier of the given secrets (text forms), with
// the default tolerance. Its error matches ErrSecret.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: none given", ErrSecret)
	}
	v := &Verifier{}
	for i, s := range secrets {
		sec, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		v.Secrets = append(v.Secrets, sec)
	}
	return v, nil
}

// Verify checks a webhook: see the package function Verify.
func (v *Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := header(h, HeaderID), header(h, HeaderTimestamp), header(h, HeaderSignature)
	switch {
	case id == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderID)
	case ts == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderTimestamp)
	case sigs == "":
		return fmt.Errorf("%w: %s", ErrMissingHeader, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a whole number of seconds since 1970", ErrTimestamp, HeaderTimestamp)
	}
	tol := v.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	if tol > 0 {
		d := now.Sub(time.Unix(sec, 0))
		switch {
		case d > tol:
			return fmt.Errorf("%w: too old (sent %s before now; tolerance %s)", ErrTimestamp, d.Round(time.Second), tol)
		case d < -tol:
			return fmt.Errorf("%w: too new (sent %s after now; tolerance %s)", ErrTimestamp, (-d).Round(time.Second), tol)
		}
	}
	if len(v.Secrets) == 0 {
		return fmt.Errorf("%w: none given", ErrSecret)
	}
	want := make([][]byte, 0, len(v.Secrets))
	for _, s := range v.Secrets {
		if !s.IsZero() {
			want = append(want, s.mac(id, ts, body))
		}
	}
	ok := false
	for _, f := range strings.Fields(sigs) {
		version, b64, found := strings.Cut(f, ",")
		if !found || version != "v1" {
			continue // another scheme (v1a: asymmetric), or not a signature
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			continue
		}
		for _, w := range want {
			// Every comparison runs: the time taken does not tell which
			// signature or secret matched.
			if hmac.Equal(got, w) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// header returns the first value of the header name: by its canonical key
// (as net/http stores received headers) or as written (a map built by hand
// with lower-case keys).
func header(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}
