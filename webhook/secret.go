package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts the text form of a signing secret: "whsec_" followed
// by the secret's bytes in standard base64.
const SecretPrefix = "whsec_"

// Bounds of the secrets NewSecret makes and CheckSecret accepts, from the
// specification: at least 24 random bytes, at most 64.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Secret is an HMAC-SHA256 signing key. Its String and LogValue never show
// the key. The zero value holds no key and signs nothing.
type Secret struct {
	key []byte
}

// ParseSecret reads a secret in its text form, "whsec_<base64>"; the base64
// alone is accepted too, as the specification's libraries do. Padding is
// optional. Its errors match ErrSecret and never quote the text.
func ParseSecret(s string) (Secret, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("%w: want %s followed by standard base64", ErrSecret, SecretPrefix)
	}
	if len(key) == 0 {
		return Secret{}, fmt.Errorf("%w: empty", ErrSecret)
	}
	return Secret{key: key}, nil
}

// CheckSecret is ParseSecret for a sender's secret: it must have the
// "whsec_" prefix and hold MinSecretBytes to MaxSecretBytes bytes.
func CheckSecret(s string) (Secret, error) {
	if !strings.HasPrefix(strings.TrimSpace(s), SecretPrefix) {
		return Secret{}, fmt.Errorf("%w: want %s followed by the base64 of %d to %d random bytes", ErrSecret, SecretPrefix, MinSecretBytes, MaxSecretBytes)
	}
	sec, err := ParseSecret(s)
	if err != nil {
		return Secret{}, err
	}
	if n := len(sec.key); n < MinSecretBytes || n > MaxSecretBytes {
		return Secret{}, fmt.Errorf("%w: %d bytes, want %d to %d", ErrSecret, n, MinSecretBytes, MaxSecretBytes)
	}
	return sec, nil
}

// NewSecret returns a new random secret of 32 bytes in its text form,
// "whsec_<base64>".
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// IsZero reports whether s holds no key.
func (s Secret) IsZero() bool { return len(s.key) == 0 }

// String hides the key.
func (s Secret) String() string { return SecretPrefix + "[redacted]" }

// LogValue hides the key from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Sign returns the signature of a message, "v1,<base64 of HMAC-SHA256 of
// id.timestamp.body>", for the webhook-signature header. id must not be
// empty nor contain '.' or a space (the signed content separates its parts
// with '.'), and s must hold a key; Sign returns ErrSecret or
// ErrInvalidID otherwise.
func (s Secret) Sign(id string, ts time.Time, body []byte) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	if s.IsZero() {
		return "", fmt.Errorf("%w: empty", ErrSecret)
	}
	return "v1," + base64.StdEncoding.EncodeToString(s.mac(id, strconv.FormatInt(ts.Unix(), 10), body)), nil
}

// mac is HMAC-SHA256 over "id.timestamp.body".
func (s Secret) mac(id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

func checkID(id string) error {
	if id == "" || strings.ContainsAny(id, ". \t\r\n") {
		return ErrInvalidID
	}
	return nil
}
