package redisstore

import (
	"strconv"

	"github.com/sessiondb/sessiondb"
)

// keys names the Redis keys. Every key of a bucket starts with
// prefix + "{" + tag + "}", so a bucket lives in one Redis Cluster slot, and
// the tag comes from a session id (and so from a token) alone.
type keys struct{ prefix string }

func (k keys) bucket(b int) string { return k.prefix + "{" + bucketTag(b) + "}" }

// session is the key of a session's value.
func (k keys) session(id string) string {
	return k.prefix + "{" + id[:3] + "}s" + sessiondb.IDHash(id)
}

// sessionPrefix + id hash is a session key; the scripts build keys this way.
func (k keys) sessionPrefix(b int) string { return k.bucket(b) + "s" }
func (k keys) userPrefix(b int) string    { return k.bucket(b) + "u" }
func (k keys) user(s sessiondb.Shard, userID string) string {
	return k.userPrefix(s.Bucket) + userID
}
func (k keys) queue(b, sub int) string   { return k.bucket(b) + "q" + subName(sub) }
func (k keys) cleanup(b, sub int) string { return k.bucket(b) + "c" + subName(sub) }
func (k keys) counters(b int) string     { return k.bucket(b) + "h" }

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
