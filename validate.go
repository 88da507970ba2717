package sessiondb

import (
	"encoding/json"
	"time"
	"unicode"
	"unicode/utf8"
)

// CheckUserID reports whether id is an acceptable user id: 1 to 256 bytes of
// valid UTF-8 without control characters.
func CheckUserID(id string) error { return checkText("user_id", id, MaxUserIDBytes) }

func checkText(field, s string, maxBytes int) error {
	switch {
	case s == "":
		return invalid(field, "must not be empty")
	case len(s) > maxBytes:
		return invalid(field, "longer than %d bytes", maxBytes)
	case !utf8.ValidString(s):
		return invalid(field, "not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

// checkTTL checks a requested lifetime against the configured maximum.
func (m *Manager) checkTTL(ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return invalid("ttl_seconds", "must be positive")
	case ttl > m.opt.MaxTTL:
		return invalid("ttl_seconds", "above the maximum of %d seconds", int64(m.opt.MaxTTL/time.Second))
	}
	return nil
}

// checkMetadata checks keys and values and the serialized size.
func (m *Manager) checkMetadata(md map[string]string) error {
	size := 2 // {}
	for k, v := range md {
		if k == "" {
			return invalid("metadata", "empty key")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid("metadata", "not valid UTF-8")
		}
		size += len(k) + len(v) + 6 // "k":"v",
		if size > m.opt.MaxMetadataBytes {
			break // over the limit even before escaping; no need to look further
		}
	}
	if size > m.opt.MaxMetadataBytes/2 { // escaping may grow the size: measure exactly
		b, err := json.Marshal(md)
		if err != nil {
			return invalid("metadata", "not serializable")
		}
		size = len(b)
	}
	if size > m.opt.MaxMetadataBytes {
		return invalid("metadata", "larger than %d bytes serialized", m.opt.MaxMetadataBytes)
	}
	return nil
}
