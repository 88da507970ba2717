package redisstore

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/sessiondb/sessiondb"
)

// A session's value in Redis is packed binary, to keep a session with an ip
// and a 70-byte user agent under the 124 bytes that fit Redis's 128-byte
// allocation class (see docs/redis-layout.md):
//
//	byte 0      format version (1)
//	bytes 1..7  CreatedAt, Unix microseconds, big-endian (read by insert.lua
//	            to find the oldest session; microseconds order logins made
//	            within one millisecond)
//	uvarint     ExpiresAt - CreatedAt, µs
//	uvarint     LastSeenAt - CreatedAt, µs
//	uvarint     TTL, ms
//	uvarint     IdleTimeout, ms
//	uvarint+    UserID (length, then bytes)
//	uvarint     number of metadata pairs, then each pair:
//	              key:   one byte naming a common key (1 ip, 2 user_agent, ...),
//	                     or 0 followed by uvarint length and bytes
//	              value: uvarint length and bytes
//
// Pairs are sorted by key, so equal records encode to equal bytes: the
// compare-and-swap scripts compare encodings.

const formatVersion = 1

// commonKeys get one-byte codes. Append only: codes are stored.
var commonKeys = []string{1: "ip", 2: "user_agent", 3: "device", 4: "location", 5: "client_id", 6: "auth_method"}

var errCorrupt = errors.New("redisstore: corrupt session value")

// maxMicros bounds every time field: 2^52 µs is about 142 years.
const maxMicros = 1 << 52

func keyCode(k string) byte {
	for i := 1; i < len(commonKeys); i++ {
		if commonKeys[i] == k {
			return byte(i)
		}
	}
	return 0
}

func encode(r *sessiondb.Record) []byte {
	n := 8 + 5*binary.MaxVarintLen64 + len(r.UserID) + binary.MaxVarintLen64
	for k, v := range r.Metadata {
		n += 1 + 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 8, n)
	b[0] = formatVersion
	c := r.CreatedAt.UnixMicro()
	b[1], b[2], b[3], b[4], b[5], b[6], b[7] = byte(c>>48), byte(c>>40), byte(c>>32), byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	b = binary.AppendUvarint(b, uint64(r.ExpiresAt.UnixMicro()-c))
	b = binary.AppendUvarint(b, uint64(r.LastSeenAt.UnixMicro()-c))
	b = binary.AppendUvarint(b, uint64(r.TTL.Milliseconds()))
	b = binary.AppendUvarint(b, uint64(r.IdleTimeout.Milliseconds()))
	b = appendString(b, r.UserID)
	b = binary.AppendUvarint(b, uint64(len(r.Metadata)))
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if code := keyCode(k); code != 0 {
			b = append(b, code)
		} else {
			b = append(b, 0)
			b = appendString(b, k)
		}
		b = appendString(b, r.Metadata[k])
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decode reads a value. Strings in the record share the value's memory, so
// decoding allocates little more than the record and its metadata map.
func decode(id string, b string) (*sessiondb.Record, error) {
	if len(b) < 8 || b[0] != formatVersion {
		return nil, errCorrupt
	}
	d := decoder{b: b[8:]}
	c := int64(b[1])<<48 | int64(b[2])<<40 | int64(b[3])<<32 | int64(b[4])<<24 | int64(b[5])<<16 | int64(b[6])<<8 | int64(b[7])
	exp, seen, ttl, idle := d.uvarint(), d.uvarint(), d.uvarint(), d.uvarint()
	if c >= maxMicros || exp >= maxMicros || seen >= maxMicros || ttl >= maxMicros/1000 || idle >= maxMicros/1000 {
		return nil, errCorrupt // no real session is this far from 1970
	}
	r := &sessiondb.Record{ID: id, CreatedAt: time.UnixMicro(c).UTC()}
	r.ExpiresAt = time.UnixMicro(c + int64(exp)).UTC()
	r.LastSeenAt = time.UnixMicro(c + int64(seen)).UTC()
	r.TTL = time.Duration(ttl) * time.Millisecond
	r.IdleTimeout = time.Duration(idle) * time.Millisecond
	r.UserID = d.string()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return nil, errCorrupt
		}
		r.Metadata = make(map[string]string, n)
		for range n {
			var k string
			switch code := d.byte(); {
			case code == 0:
				k = d.string()
			case int(code) < len(commonKeys):
				k = commonKeys[code]
			default:
				d.err = errCorrupt
			}
			v := d.string()
			if d.err != nil {
				break
			}
			r.Metadata[k] = v
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, errCorrupt
	}
	return r, nil
}

type decoder struct {
	b   string
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var s uint
	for i := 0; i < len(d.b) && i < binary.MaxVarintLen64; i++ {
		c := d.b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			d.b = d.b[i+1:]
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	d.err = errCorrupt
	return 0
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errCorrupt
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}
