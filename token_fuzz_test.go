package sessiondb

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// FuzzParseToken gives IDFromToken and ParseID the same arbitrary string and
// checks what each accepts: a token is accepted only in its exact form
// (prefix, length, base64url, CRC-32C, bucket in range) and names an id that
// ParseID accepts with the token's bucket; an id is accepted only in its
// exact form; everything else is ErrNotFound, never a panic.
func FuzzParseToken(f *testing.F) {
	for _, b := range []int{0, 1, 511, Buckets - 1} {
		tok, id := newToken(b)
		f.Add(string(tok))
		f.Add(id)
	}
	tok, id := newToken(7)
	for _, s := range []string{
		"", TokenPrefix, "sdb", strings.ToUpper(string(tok)), string(tok)[:tokenLen-1], string(tok) + "A",
		string(tok[:10]) + "+" + string(tok[11:]), string(tok[:10]) + "=" + string(tok[11:]),
		"sdb_" + strings.Repeat("A", tokenLen-4), "sdb_" + strings.Repeat("_", tokenLen-4),
		"sdb_" + strings.Repeat("\xff", tokenLen-4), strings.Repeat("\x00", tokenLen),
		"fff" + id[3:], "400" + id[3:], "3FF" + id[3:], "-01" + id[3:], "+01" + id[3:], "0x1" + id[3:],
		id[:3] + strings.Repeat("=", idHashLen), id[:len(id)-1], id + "A", id[:3] + "\x00" + id[4:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := IDFromToken(s); err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("IDFromToken(%q): error %v does not match ErrNotFound", s, err)
			}
			if id != "" {
				t.Fatalf("IDFromToken(%q) = %q with an error", s, id)
			}
		} else {
			if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
				t.Fatalf("IDFromToken accepted %q, not of the token form", s)
			}
			raw, err := b64.DecodeString(s[len(TokenPrefix):])
			if err != nil || len(raw) != tokenRawLen {
				t.Fatalf("IDFromToken accepted %q, whose body does not decode: %v", s, err)
			}
			bucket := int(binary.BigEndian.Uint16(raw))
			b, err := ParseID(id)
			if err != nil || b != bucket {
				t.Fatalf("IDFromToken(%q) = %q, which ParseID reads as bucket %d, %v; the token's bucket is %d", s, id, b, err, bucket)
			}
			if again, _ := IDFromToken(s); again != id {
				t.Fatalf("IDFromToken(%q) = %q, then %q", s, id, again)
			}
		}
		if b, err := ParseID(s); err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("ParseID(%q): error %v does not match ErrNotFound", s, err)
			}
		} else {
			if len(s) != idLen || b < 0 || b >= Buckets || s[:3] != bucketTag(b) {
				t.Fatalf("ParseID(%q) = bucket %d, not of the id form", s, b)
			}
			if raw, err := b64.DecodeString(IDHash(s)); err != nil || len(raw) != idHashBytes {
				t.Fatalf("ParseID accepted %q, whose hash does not decode: %v", s, err)
			}
		}
	})
}
