package main

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
)

// A user of the demo. A real service keeps its users in a database; the
// session layer needs only a stable user id.
type user struct {
	ID       string // the session's user id
	Name     string // shown on the pages
	Password string // shown on the login page, because this is a demo; never checked against
	Hash     string // what is checked: PBKDF2-HMAC-SHA256, as hashPassword makes it
}

// demoUsers are the accounts of the demo, with 600,000 PBKDF2-HMAC-SHA256
// iterations as OWASP's Password Storage Cheat Sheet recommends.
var demoUsers = []user{
	{ID: "alice", Name: "Alice", Password: "wonderland", Hash: "pbkdf2-sha256$600000$aIY7sMS3m3Vw6hFfGKqjow$1tLRLykWpsizDObcbSWKR39C19AN/b5g/BQqeG3nlPA"},
	{ID: "bob", Name: "Bob", Password: "builder", Hash: "pbkdf2-sha256$600000$7gkfmfer4P3ey8mBfliLng$eBsljCqzn6VYfRZZkS6tBOVjnxJMI5hPN/23xAJR4js"},
	{ID: "carol", Name: "Carol", Password: "singing", Hash: "pbkdf2-sha256$600000$UzQNPhmSCCX1JE6CKxqLGA$fyYn/BmWTLrOwGSYfa/EckPHhgQktuD2Cg10hxXWeFI"},
}

// hashPassword returns "pbkdf2-sha256$<iterations>$<salt>$<key>" for a new
// random salt (base64, no padding).
func hashPassword(password string, iterations int) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		panic(err) // only for out-of-range parameters, which callers do not pass
	}
	enc := base64.RawStdEncoding
	return "pbkdf2-sha256$" + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
}

// verifyPassword reports whether password matches an encoded hash, comparing
// in constant time. A malformed hash matches nothing.
func verifyPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations < 1 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iterations, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// directory finds users by id and checks their passwords.
type directory struct {
	byID  map[string]user
	list  []user
	dummy string // a hash to check unknown users against, so they take as long
}

func newDirectory(users []user) *directory {
	d := &directory{byID: make(map[string]user, len(users)), list: users}
	for _, u := range users {
		d.byID[u.ID] = u
		d.dummy = u.Hash
	}
	return d
}

// check returns the user whose id and password these are. An unknown id
// costs the same hash as a known one, so timing does not tell which ids
// exist.
func (d *directory) check(id, password string) (user, bool) {
	u, ok := d.byID[id]
	if !ok {
		verifyPassword(d.dummy, password)
		return user{}, false
	}
	return u, verifyPassword(u.Hash, password)
}
