package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The console's sign-in. An operator signs in with an admin API key; the
// console then keeps, in a cookie, a token that proves it without holding
// the key:
//
//	v1.<payload>.<mac>
//	payload = base64url(expiry as 8-byte Unix seconds || 16 random bytes)
//	mac     = base64url(HMAC-SHA256(secret, "sessiond console v1." + payload))
//	secret  = HMAC-SHA256(admin API key, "sessiond console cookie v1")
//
// Every replica that has the same admin keys checks the token alone, so a
// sign-in holds across replicas behind a load balancer without shared state
// or sticky sessions. The token expires an hour after sign-in; removing the
// admin key it was made with ends it at once. Signing out clears the cookie
// and refuses its token on this replica; other replicas accept a copy of it
// until it expires (the cookie is HttpOnly, so a script cannot have copied
// it).
const (
	consoleCookie      = "__Host-sessiond-console"
	consoleLifetime    = time.Hour
	consoleTokenPrefix = "v1."
	consoleMACLabel    = "sessiond console v1."
	consoleSecretLabel = "sessiond console cookie v1"
	consoleNonceBytes  = 16
	consolePayloadLen  = 8 + consoleNonceBytes
)

// consoleSecret derives a key's secret for console tokens. It is one-way: a
// token, or the secret, tells nothing of the key, and the SHA-256 of the key
// that KeySet keeps for API calls does not give the secret either.
func consoleSecret(key string) [sha256.Size]byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(consoleSecretLabel))
	var out [sha256.Size]byte
	mac.Sum(out[:0])
	return out
}

func consoleMAC(secret *[sha256.Size]byte, payload string) []byte {
	mac := hmac.New(sha256.New, secret[:])
	mac.Write([]byte(consoleMACLabel))
	mac.Write([]byte(payload))
	return mac.Sum(nil)
}

// newConsoleToken makes a token for the admin key key, valid until exp.
func newConsoleToken(key string, exp time.Time) string {
	var p [consolePayloadLen]byte
	binary.BigEndian.PutUint64(p[:8], uint64(exp.Unix()))
	rand.Read(p[8:])
	payload := base64.RawURLEncoding.EncodeToString(p[:])
	secret := consoleSecret(key)
	return consoleTokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(consoleMAC(&secret, payload))
}

// consoleToken is a token that checked out.
type consoleToken struct {
	nonce string // the payload's random part, to refuse the token after sign-out
	exp   time.Time
	name  string // the name of the admin key it was made with: the actor of its changes
}

// checkConsoleToken checks a token against every admin key, in constant time
// per key, and its expiry against now.
func (ks *KeySet) checkConsoleToken(tok string, now time.Time) (consoleToken, bool) {
	rest, ok := strings.CutPrefix(tok, consoleTokenPrefix)
	if !ok || ks.Len() == 0 {
		return consoleToken{}, false
	}
	payload, macText, ok := strings.Cut(rest, ".")
	if !ok {
		return consoleToken{}, false
	}
	p, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(p) != consolePayloadLen {
		return consoleToken{}, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(macText)
	if err != nil || len(mac) != sha256.Size {
		return consoleToken{}, false
	}
	found, name := false, ""
	for i := range ks.keys {
		k := &ks.keys[i]
		if k.role == RoleAdmin && hmac.Equal(consoleMAC(&k.console, payload), mac) {
			found, name = true, k.name
		}
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(p[:8])), 0)
	// A token never lives longer than consoleLifetime, whatever it says.
	if !found || !now.Before(exp) || exp.Sub(now) > consoleLifetime+time.Minute {
		return consoleToken{}, false
	}
	return consoleToken{nonce: string(p[8:]), exp: exp, name: name}, true
}

// signedOut holds the tokens signed out on this replica until they expire.
type signedOut struct {
	mu     sync.Mutex
	nonces map[string]time.Time
}

func (so *signedOut) add(t consoleToken, now time.Time) {
	so.mu.Lock()
	defer so.mu.Unlock()
	if so.nonces == nil {
		so.nonces = make(map[string]time.Time)
	}
	for n, exp := range so.nonces {
		if !now.Before(exp) {
			delete(so.nonces, n)
		}
	}
	so.nonces[t.nonce] = t.exp
}

func (so *signedOut) has(t consoleToken) bool {
	so.mu.Lock()
	defer so.mu.Unlock()
	_, ok := so.nonces[t.nonce]
	return ok
}

// consoleSignedIn reports whether the request carries a valid console
// token, and whether it carried a console cookie at all.
func (s *Server) consoleSignedIn(r *http.Request) (ok, hadCookie bool) {
	_, ok, hadCookie = s.consoleSigner(r)
	return ok, hadCookie
}

// consoleSigner is consoleSignedIn that also returns the name of the admin
// key the console was signed in with (ActorAnonymous without API keys).
func (s *Server) consoleSigner(r *http.Request) (name string, ok, hadCookie bool) {
	if s.keys.Len() == 0 {
		return ActorAnonymous, true, false // no keys: every local caller is admin, as on the API
	}
	c, err := r.Cookie(consoleCookie)
	if err != nil {
		return "", false, false
	}
	tok, ok := s.keys.checkConsoleToken(c.Value, time.Now())
	if !ok || s.console.signedOut.has(tok) {
		return "", false, true
	}
	return tok.name, true, true
}

// setConsoleCookie sets (or, with an empty value, clears) the console's
// cookie: HttpOnly, Secure, SameSite=Strict, Path=/, no Domain (the __Host-
// prefix makes browsers hold it to all of these). Browsers keep Secure
// cookies of https pages, and of http://127.0.0.1 and http://localhost,
// which they treat as secure contexts.
func setConsoleCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: consoleCookie, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}
