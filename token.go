package sessiondb

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"log/slog"
	"strconv"
)

// TokenPrefix starts every token, so that secret scanners can recognise a
// leaked one.
const TokenPrefix = "sdb_"

// Buckets is the number of hash-tag buckets users are spread over. All keys of
// one user live in the bucket of its user id, and so in one Redis Cluster slot.
const Buckets = 1024

// SubBuckets is the number of sub-buckets inside each bucket. Stores use them
// to keep per-bucket structures small (listpack-encoded in Redis).
const SubBuckets = 16

const (
	tokenRandomBytes = 32                                     // 256 bits of entropy
	tokenRawLen      = 2 + tokenRandomBytes + 4               // bucket, random, CRC-32C
	tokenLen         = len(TokenPrefix) + (tokenRawLen*8+5)/6 // 55
	idHashBytes      = 12                                     // 96-bit hash in the id
	idHashLen        = idHashBytes * 4 / 3                    // 16 characters
	idLen            = 3 + idHashLen                          // bucket as 3 hex digits, then the hash
)

var b64 = base64.RawURLEncoding.Strict()

// castagnoli is CRC-32C, which x86-64 and arm64 compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Token is a session's secret bearer token. It is shown once, by Create and
// Rotate, and never stored: stores keep only its one-way hash (the session id).
// Its String and LogValue methods redact it, so that printing or logging a
// Token by mistake does not leak it; convert it with string(tok) to send it.
type Token string

// String returns a redacted form of the token.
func (t Token) String() string {
	if t == "" {
		return ""
	}
	return TokenPrefix + "[redacted]"
}

// LogValue implements slog.LogValuer and redacts the token.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.String()) }

// Shard tells where a user's keys live: a bucket (the Redis hash tag) and a
// sub-bucket inside it.
type Shard struct {
	Bucket int // 0 <= Bucket < Buckets
	Sub    int // 0 <= Sub < SubBuckets
}

// UserShard returns the shard of a user id. It is a pure function of the id.
func UserShard(userID string) Shard {
	h := sha256.Sum256([]byte(userID))
	return Shard{
		Bucket: int(binary.BigEndian.Uint16(h[0:2]) % Buckets),
		Sub:    int(h[2] % SubBuckets),
	}
}

// Tag returns the bucket as the three hex digits used in ids and Redis keys.
func (s Shard) Tag() string { return bucketTag(s.Bucket) }

func bucketTag(b int) string {
	var tag [3]byte
	putBucketTag(tag[:], b)
	return string(tag[:])
}

// putBucketTag writes bucket b as three lowercase hex digits into tag[:3].
func putBucketTag(tag []byte, b int) {
	var four [4]byte
	hex.Encode(four[:], []byte{byte(b >> 8), byte(b)})
	copy(tag[:3], four[1:])
}

// newToken returns a fresh token for a user in the given bucket and its id.
func newToken(bucket int) (Token, string) {
	var raw [tokenRawLen]byte
	binary.BigEndian.PutUint16(raw[0:2], uint16(bucket))
	rand.Read(raw[2 : 2+tokenRandomBytes]) // never fails since Go 1.24
	binary.BigEndian.PutUint32(raw[2+tokenRandomBytes:], crc32.Checksum(raw[:2+tokenRandomBytes], castagnoli))
	buf := make([]byte, tokenLen)
	copy(buf, TokenPrefix)
	b64.Encode(buf[len(TokenPrefix):], raw[:])
	tok := Token(buf)
	return tok, idFromValidToken(string(tok), bucket)
}

// IDFromToken checks a token's form and returns the id of the session it
// names, without any I/O. It returns an error matching ErrNotFound when the
// token is malformed: a token that cannot exist names no session.
func IDFromToken(token string) (string, error) {
	bucket, ok := parseToken(token)
	if !ok {
		return "", errMalformedToken
	}
	return idFromValidToken(token, bucket), nil
}

var errMalformedToken = &notFoundError{"malformed token"}

type notFoundError struct{ reason string }

func (e *notFoundError) Error() string        { return "sessiondb: session not found: " + e.reason }
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func parseToken(token string) (bucket int, ok bool) {
	if len(token) != tokenLen || token[:len(TokenPrefix)] != TokenPrefix {
		return 0, false
	}
	var enc [tokenLen - len(TokenPrefix)]byte // on the stack: no allocation
	copy(enc[:], token[len(TokenPrefix):])
	var raw [tokenRawLen + 2]byte // room for the decoder's trailing partial group
	n, err := b64.Decode(raw[:], enc[:])
	if err != nil || n != tokenRawLen {
		return 0, false
	}
	if crc32.Checksum(raw[:2+tokenRandomBytes], castagnoli) != binary.BigEndian.Uint32(raw[2+tokenRandomBytes:tokenRawLen]) {
		return 0, false
	}
	bucket = int(binary.BigEndian.Uint16(raw[0:2]))
	if bucket >= Buckets {
		return 0, false
	}
	return bucket, true
}

func idFromValidToken(token string, bucket int) string {
	var tb [tokenLen]byte
	copy(tb[:], token)
	sum := sha256.Sum256(tb[:])
	var buf [idLen]byte
	putBucketTag(buf[:3], bucket)
	b64.Encode(buf[3:], sum[:idHashBytes])
	return string(buf[:])
}

// ParseID checks the form of a session id and returns its bucket. It returns
// an error matching ErrNotFound when the id is malformed.
func ParseID(id string) (bucket int, err error) {
	if len(id) != idLen {
		return 0, errMalformedID
	}
	b, err := strconv.ParseUint(id[:3], 16, 16)
	if err != nil || b >= Buckets || id[:3] != bucketTag(int(b)) {
		return 0, errMalformedID
	}
	var enc [idHashLen]byte
	copy(enc[:], id[3:])
	var raw [idHashBytes]byte
	if n, err := b64.Decode(raw[:], enc[:]); err != nil || n != idHashBytes {
		return 0, errMalformedID
	}
	return int(b), nil
}

var errMalformedID = &notFoundError{"malformed id"}

// IDHash returns the hash part of a well-formed id: the part that follows the
// bucket tag. Stores use it as the member of a user's index.
func IDHash(id string) string { return id[3:] }
