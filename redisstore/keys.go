package redisstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// CheckPrefix reports whether prefix may start the store's keys: it must not
// contain '{' or '}', because the key's hash tag follows it.
func CheckPrefix(prefix string) error {
	if strings.ContainsAny(prefix, "{}") {
		return fmt.Errorf("redisstore: key prefix %q must not contain '{' or '}'", prefix)
	}
	return nil
}

// keys names the Redis keys. Every key of a bucket starts with
// prefix + "{" + tag + "}", so a bucket lives in one Redis Cluster slot, and
// the tag comes from a session id (and so from a token) alone.
type keys struct{ prefix string }

func (k keys) bucket(b int) string { return k.prefix + "{" + bucketTag(b) + "}" }

// The kinds of key, the letter after a key's hash tag.
const (
	kindSession  = 's' // a session's value; the id hash follows
	kindUser     = 'u' // a user's index; the user id follows
	kindQueue    = 'q' // a sub-bucket's expiry queue
	kindCleanup  = 'c' // a sub-bucket's cleanup queue
	kindCounters = 'h' // the bucket's counters
)

// session is the key of a session's value.
func (k keys) session(id string) string {
	return k.prefix + "{" + id[:3] + "}s" + sessiondb.IDHash(id)
}

// sessionPrefix + id hash is a session key; the scripts build keys this way.
func (k keys) sessionPrefix(b int) string { return k.bucket(b) + string(kindSession) }
func (k keys) userPrefix(b int) string    { return k.bucket(b) + string(kindUser) }
func (k keys) user(s sessiondb.Shard, userID string) string {
	return k.userPrefix(s.Bucket) + userID
}
func (k keys) queue(b, sub int) string   { return k.bucket(b) + string(kindQueue) + subName(sub) }
func (k keys) cleanup(b, sub int) string { return k.bucket(b) + string(kindCleanup) + subName(sub) }
func (k keys) counters(b int) string     { return k.bucket(b) + string(kindCounters) }

// parse reads a key the builders above made: its bucket, its kind and what
// follows the kind (an id hash, a user id, a sub-bucket). ok is false for
// any other key.
func (k keys) parse(key string) (b int, kind byte, rest string, ok bool) {
	tagged, found := strings.CutPrefix(key, k.prefix)
	// "{" + three hex digits + "}" + kind
	if !found || len(tagged) < 6 || tagged[0] != '{' || tagged[4] != '}' {
		return 0, 0, "", false
	}
	tag := tagged[1:4]
	n, err := strconv.ParseUint(tag, 16, 16)
	if err != nil || n >= sessiondb.Buckets || bucketTag(int(n)) != tag {
		return 0, 0, "", false
	}
	return int(n), tagged[5], tagged[6:], true
}

// sessionID returns the id of the session whose value key holds: the
// bucket's tag and the id hash.
func (k keys) sessionID(key string) (string, bool) {
	b, kind, hash, ok := k.parse(key)
	if !ok || kind != kindSession {
		return "", false
	}
	return bucketTag(b) + hash, true
}

func subName(sub int) string { return strconv.FormatInt(int64(sub), 16) }

func bucketTag(b int) string { return sessiondb.Shard{Bucket: b}.Tag() }

// Members of a user index: the id hash followed by the creation time, the 7
// bytes at offset 1 of the value (see codec.go), so that evicting the oldest
// session needs no read of the values. Entries written by earlier versions
// are the id hash alone; the scripts accept both (docs/redis-layout.md).
const (
	idHashLen = 16
	memberLen = idHashLen + 7
)

// member is the index member of rec.
func member(rec *sessiondb.Record) string { return memberOf(rec.ID, encode(rec)) }

// memberOf is the index member of the session with this id and value.
func memberOf(id string, value []byte) string { return sessiondb.IDHash(id) + string(value[1:8]) }

// ms formats a time as Unix milliseconds, rounded down: scripts compare
// "now" with index scores in milliseconds.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// msCeil formats an expiry as Unix milliseconds, rounded up, so that an
// index entry never counts as expired while its session is still live.
func msCeil(t time.Time) string { return strconv.FormatInt(expiryMillis(t), 10) }

func expiryMillis(t time.Time) int64 {
	m := t.UnixMilli()
	if time.UnixMilli(m).Before(t) {
		m++
	}
	return m
}
