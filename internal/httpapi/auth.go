package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Role is what an API key may do.
type Role int

// The roles, each allowed everything the one before it is.
const (
	RoleNone  Role = iota // no key needed: probes, metrics, the API document
	RoleApp               // every /v1/sessions and /v1/users call
	RoleAdmin             // also /v1/stats and /v1/cleanup
)

// String returns the role's name as used in key lists.
func (r Role) String() string {
	switch r {
	case RoleApp:
		return "app"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// KeySet is a set of API keys, their roles and names. It keeps only the
// keys' SHA-256 hashes. The zero value holds no key. It is safe for
// concurrent use once built.
type KeySet struct {
	keys []apiKey
}

type apiKey struct {
	sum     [sha256.Size]byte
	role    Role
	name    string            // the actor of the key's changes in the event log
	console [sha256.Size]byte // the key's secret for console cookies (consoleSecret)
}

// Len returns the number of keys.
func (ks *KeySet) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// Count returns the number of keys with the given role.
func (ks *KeySet) Count(role Role) int {
	n := 0
	for _, k := range ks.keys {
		if k.role == role {
			n++
		}
	}
	return n
}

// Lookup returns the role of key, or false. It compares the key's hash with
// every key's hash in constant time, so that neither the time it takes nor
// its result's timing tells how much of a key was right, or its length.
func (ks *KeySet) Lookup(key string) (Role, bool) {
	role, _, ok := ks.Identify(key)
	return role, ok
}

// Identify is Lookup that also returns the key's name: the name of a
// name:role:key entry, or the role's name for a role:key entry.
func (ks *KeySet) Identify(key string) (Role, string, bool) {
	sum := sha256.Sum256([]byte(key))
	role, name := RoleNone, ""
	for _, k := range ks.keys {
		if subtle.ConstantTimeCompare(sum[:], k.sum[:]) == 1 {
			role, name = k.role, k.name
		}
	}
	return role, name, role != RoleNone
}

func parseRole(s string) (Role, bool) {
	switch s {
	case "app":
		return RoleApp, true
	case "admin":
		return RoleAdmin, true
	}
	return RoleNone, false
}

// validKeyName reports whether s may name a key: 1 to 64 letters, digits,
// '.', '_' or '-'.
func validKeyName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// add adds one "role:key" or "name:role:key" entry. A role:key entry is
// named after its role. Its errors never quote the entry, which holds a
// secret (or, with role and key swapped by mistake, is one).
func (ks *KeySet) add(entry string) error {
	first, rest, ok := strings.Cut(strings.TrimSpace(entry), ":")
	if !ok || rest == "" {
		return errors.New("want role:key (or name:role:key)")
	}
	name := first
	role, isRole := parseRole(first)
	key := rest
	if !isRole {
		var roleName string
		roleName, key, ok = strings.Cut(rest, ":")
		if role, isRole = parseRole(roleName); !ok || !isRole {
			return errors.New("unknown role (want app or admin, as role:key or name:role:key)")
		}
		if key == "" {
			return errors.New("want name:role:key (or role:key)")
		}
		if !validKeyName(name) {
			return errors.New("the key's name must be 1 to 64 letters, digits, '.', '_' or '-'")
		}
	}
	for _, c := range []byte(key) {
		if c <= ' ' || c >= 0x7f || c == ',' {
			return errors.New("the key must be printable ASCII without spaces or commas")
		}
	}
	if keyBits(key) < minKeyBits {
		return fmt.Errorf("the key is too short: it must hold at least %d random bits, e.g. 22 random letters and digits or 32 hex digits (deploy/make-secrets.sh makes 40 letters and digits)", minKeyBits)
	}
	sum := sha256.Sum256([]byte(key))
	for _, k := range ks.keys {
		if k.sum == sum {
			if k.role != role {
				return errors.New("the same key is given with two roles")
			}
			if k.name != name {
				return errors.New("the same key is given with two names")
			}
			return nil
		}
	}
	ks.keys = append(ks.keys, apiKey{sum: sum, role: role, name: name, console: consoleSecret(key)})
	return nil
}

// minKeyBits is the least strength of an API key: 128 bits, out of reach
// of guessing however many requests an attacker sends.
const minKeyBits = 128

// keyBits is an upper bound of the randomness of key: its length times the
// bits per character of the smallest usual alphabet that spells it (digits,
// hex digits, letters and digits, base64, or any printable ASCII). A key
// made by a random generator in that alphabet has that many bits; one made
// by a person has fewer, which no length check can tell.
func keyBits(key string) float64 {
	alphabets := []struct {
		bits float64
		ok   func(c byte) bool
	}{
		{math.Log2(10), func(c byte) bool { return '0' <= c && c <= '9' }},
		{4, func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }},
		{4, func(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }},
		{math.Log2(62), func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }},
		{6, func(c byte) bool {
			return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte("+/=-_", c) >= 0
		}},
	}
	for _, a := range alphabets {
		all := true
		for i := 0; i < len(key) && all; i++ {
			all = a.ok(key[i])
		}
		if all {
			return float64(len(key)) * a.bits
		}
	}
	return float64(len(key)) * math.Log2(94)
}

// LoadKeys builds the key set from SESSIOND_API_KEYS (list: comma-separated
// role:key or name:role:key entries) and SESSIOND_API_KEYS_FILE (file: one
// entry a line, blank lines and lines starting with # skipped); both may be
// given, and neither. A key's name is the actor of its changes in the event
// log; a role:key entry is named after its role.
// Its errors say where the bad entry is, never what it holds.
func LoadKeys(list, file string) (*KeySet, error) {
	ks := &KeySet{}
	if strings.TrimSpace(list) != "" {
		for i, entry := range strings.Split(list, ",") {
			if err := ks.add(entry); err != nil {
				return nil, fmt.Errorf("SESSIOND_API_KEYS: entry %d: %w", i+1, err)
			}
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("SESSIOND_API_KEYS_FILE: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if err := ks.add(line); err != nil {
				return nil, fmt.Errorf("SESSIOND_API_KEYS_FILE %s: line %d: %w", file, n, err)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("SESSIOND_API_KEYS_FILE %s: %w", file, err)
		}
		if ks.Len() == 0 {
			return nil, fmt.Errorf("SESSIOND_API_KEYS_FILE %s: no key in the file", file)
		}
	}
	return ks, nil
}

// bearer returns the credentials of an "Authorization: Bearer <key>" header.
func bearer(header string) (string, bool) {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimLeft(cred, " ")
	return cred, cred != ""
}
