package main

import (
	"strings"
	"testing"
)

// The demo table's hashes are those of the passwords the login page shows.
func TestDemoUsers(t *testing.T) {
	d := newDirectory(demoUsers)
	for _, u := range demoUsers {
		if !strings.HasPrefix(u.Hash, "pbkdf2-sha256$600000$") {
			t.Errorf("%s: hash %q is not PBKDF2-SHA256 with 600,000 iterations", u.ID, u.Hash)
		}
		if got, ok := d.check(u.ID, u.Password); !ok || got.ID != u.ID {
			t.Errorf("%s: the shown password does not match the hash", u.ID)
		}
	}
}

func TestPasswords(t *testing.T) {
	h := hashPassword("s3cret", 1000)
	if !verifyPassword(h, "s3cret") {
		t.Fatal("a password does not match its own hash")
	}
	if h2 := hashPassword("s3cret", 1000); h2 == h {
		t.Error("two hashes of one password share a salt")
	}
	for _, bad := range []string{"S3cret", "s3cret ", "", "s3cre"} {
		if verifyPassword(h, bad) {
			t.Errorf("%q matches the hash of s3cret", bad)
		}
	}
	for _, enc := range []string{"", "s3cret", "pbkdf2-sha256$0$AAAA$AAAA", "pbkdf2-sha256$x$AAAA$AAAA",
		"pbkdf2-sha1$1000$AAAA$AAAA", "pbkdf2-sha256$1000$!!$AAAA", "pbkdf2-sha256$1000$AAAA$", strings.Replace(h, "$", "$$", 1)} {
		if verifyPassword(enc, "s3cret") {
			t.Errorf("malformed hash %q matched", enc)
		}
	}
	d := newDirectory([]user{{ID: "alice", Hash: h}})
	if _, ok := d.check("mallory", "s3cret"); ok {
		t.Error("an unknown user got in with another user's password")
	}
	if _, ok := d.check("alice", "s3cret"); !ok {
		t.Error("alice was refused")
	}
}
