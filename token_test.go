package sessiondb

import (
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestTokenForm(t *testing.T) {
	const n = 200_000
	seen := make(map[Token]bool, n)
	var counts [256]int
	for i := range n {
		tok, id := newToken(i % Buckets)
		if seen[tok] {
			t.Fatalf("duplicate token after %d", i)
		}
		seen[tok] = true
		s := string(tok)
		if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
			t.Fatalf("token %d chars, want %d with prefix %q", len(s), tokenLen, TokenPrefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(s[len(TokenPrefix):])
		if err != nil {
			t.Fatalf("token body is not base64url: %v", err)
		}
		for _, c := range raw[2 : 2+tokenRandomBytes] {
			counts[c]++
		}
		got, err := IDFromToken(s)
		if err != nil || got != id {
			t.Fatalf("IDFromToken = %q, %v; want %q", got, err, id)
		}
		if b, err := ParseID(id); err != nil || b != i%Buckets {
			t.Fatalf("ParseID(%q) = %d, %v; want bucket %d", id, b, err, i%Buckets)
		}
	}
	// The random bytes are uniform: chi-square over 255 degrees of freedom.
	expected := float64(n*tokenRandomBytes) / 256
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - expected
		chi += d * d / expected
	}
	// For 255 degrees of freedom, p < 1e-6 is chi > 377 and p > 1 - 1e-6 is
	// chi < 161 (Wilson-Hilferty). A narrower band fails a good generator too
	// often: at 0.001..0.999 one CI run in 500 would be red by chance.
	if chi > 377 || chi < 161 {
		t.Errorf("chi-square of token bytes = %.1f, outside the 1e-6..1-1e-6 band", chi)
	}
	if math.IsNaN(chi) {
		t.Fatal("chi-square is NaN")
	}
}

func TestMalformedTokens(t *testing.T) {
	good, _ := newToken(7)
	s := string(good)
	flip := func(i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	bad := []string{
		"", "sdb_", s[:len(s)-1], s + "A", "xyz_" + s[4:], strings.ToUpper(s[:4]) + s[4:],
		flip(10), flip(30), flip(len(s) - 1), // the checksum catches typos anywhere
		"sdb_" + strings.Repeat("=", 51), "sdb_" + strings.Repeat("+", 51), "sdb_" + strings.Repeat("/", 51),
		s[:20] + "\x00" + s[21:], s[:20] + "é" + s[22:],
	}
	for _, tok := range bad {
		if _, err := IDFromToken(tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("IDFromToken(%q) = %v, want ErrNotFound", tok, err)
		}
	}
	// A well-formed token whose bucket is out of range.
	forged, _ := newToken(Buckets + 5)
	if _, err := IDFromToken(string(forged)); !errors.Is(err, ErrNotFound) {
		t.Errorf("IDFromToken(bucket out of range) = %v, want ErrNotFound", err)
	}
}

func TestTokenRedacted(t *testing.T) {
	tok, _ := newToken(1)
	for _, s := range []string{tok.String(), tok.LogValue().String()} {
		if strings.Contains(s, string(tok)[4:]) {
			t.Fatalf("redacted form %q carries the secret", s)
		}
	}
}

func TestParseID(t *testing.T) {
	_, id := newToken(0x3ff)
	if !strings.HasPrefix(id, "3ff") || len(id) != idLen {
		t.Fatalf("id %q: want 3ff prefix and %d chars", id, idLen)
	}
	for _, bad := range []string{"", id[:idLen-1], id + "A", "400" + id[3:], "3FF" + id[3:], "-01" + id[3:], "3ff" + strings.Repeat("=", 16), "3ff" + strings.Repeat("A", 15) + "/"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("ParseID(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

func TestUserShard(t *testing.T) {
	seen := make(map[int]bool)
	for i := range 20_000 {
		s := UserShard(strings.Repeat("u", i%7) + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
		if s.Bucket < 0 || s.Bucket >= Buckets || s.Sub < 0 || s.Sub >= SubBuckets {
			t.Fatalf("shard %+v out of range", s)
		}
		seen[s.Bucket] = true
	}
	if len(seen) < Buckets*9/10 {
		t.Fatalf("20000 users fell in %d of %d buckets", len(seen), Buckets)
	}
	a, b := "alice", string([]byte("alice"))
	if UserShard(a) != UserShard(b) {
		t.Fatal("UserShard is not a function of the id")
	}
}
