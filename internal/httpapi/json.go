package httpapi

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sessiondb/sessiondb/internal/wire"
)

// decode reads a request body of at most s.maxBody bytes into v, a pointer to
// a struct: the body must be application/json and hold exactly one JSON
// object whose fields all belong to v, with the types of v's fields. An empty
// body is an error unless optional. Every failure is an *apiError (400, 413
// or 415) that names the field at fault when there is one.
func (s *Server) decode(r *http.Request, v any, optional bool) error {
	if r.ContentLength > s.maxBody {
		return s.errTooLarge
	}
	bp := s.bodies.Get().(*[]byte)
	buf := *bp
	defer func() {
		clear(buf) // bodies carry tokens: leave none in the pool
		s.bodies.Put(bp)
	}()
	n, err := io.ReadFull(r.Body, buf)
	switch {
	case err == nil: // buf is max+1 bytes long: the body is over the limit
		return s.errTooLarge
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return invalidArgument("", "could not read the request body")
	}
	body := buf[:n]
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalidArgument("", "the request body is empty; want a JSON object")
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) && !(r.Method == http.MethodPatch && isMergePatch(ct)) {
		return &apiError{status: http.StatusUnsupportedMediaType, code: CodeUnsupportedMediaType,
			message: "the request body must be application/json"}
	}
	if tr, ok := v.(*tokenRequest); ok && !s.stdJSON {
		// The hot path (validate): skip encoding/json's reflection when the
		// body is the plain {"token":"..."} that clients send.
		if tok, ok := scanTokenBody(body); ok {
			tr.Token = &tok
			return nil
		}
	}
	return decodeJSON(body, v)
}

// scanTokenBody reads a body of the form {"token":"<base64url and _>"}, with
// optional white space, and reports whether the body had that form. For such
// a body the result is what decodeJSON gives; any other body is left to it.
func scanTokenBody(b []byte) (string, bool) {
	i := 0
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
			i++
		}
	}
	expect := func(lit string) bool {
		skip()
		if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
			return false
		}
		i += len(lit)
		return true
	}
	if !expect("{") || !expect(`"token"`) || !expect(":") || !expect(`"`) {
		return "", false
	}
	start := i
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	end := i
	if i == len(b) || b[i] != '"' {
		return "", false
	}
	i++
	if !expect("}") {
		return "", false
	}
	skip()
	if i != len(b) {
		return "", false
	}
	return string(b[start:end]), true
}

func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isJSON reports whether a Content-Type is application/json, with no
// parameter but an optional UTF-8 charset.
func isJSON(contentType string) bool {
	if contentType == "application/json" {
		return true
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	for k, v := range params {
		if k != "charset" || !strings.EqualFold(v, "utf-8") {
			return false
		}
	}
	return true
}

// isMergePatch reports whether a Content-Type is RFC 7396's
// application/merge-patch+json, which PATCH also accepts.
func isMergePatch(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/merge-patch+json" &&
		(len(params) == 0 || len(params) == 1 && strings.EqualFold(params["charset"], "utf-8"))
}

// decodeJSON strictly decodes one JSON object from body into v.
func decodeJSON(body []byte, v any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return invalidArgument("", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if rest := body[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return invalidArgument("", "unexpected data after the JSON object")
	}
	if f, ok := v.(fielder); ok {
		last, err := exactFields(body, f.jsonFields())
		if err != nil || last == nil {
			return err
		}
		// A field given twice: encoding/json merged the objects of a map
		// field (metadata) instead of keeping the last, so decode again
		// from the last value of each field.
		reflect.ValueOf(v).Elem().SetZero()
		if err := json.Unmarshal(last, v); err != nil {
			return jsonError(err)
		}
	}
	return nil
}

// fielder is a request type that lists its JSON field names.
type fielder interface{ jsonFields() []string }

// exactFields checks that the top-level keys of a valid JSON object are all
// among fields, with the same case: encoding/json matches field names
// without regard to case, and the API does not. When a key appears more than
// once it returns the object rebuilt with the last value of each key, and
// nil otherwise.
func exactFields(body []byte, fields []string) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil, jsonError(err)
	}
	var keys []string
	values := make(map[string]json.RawMessage, len(fields))
	twice := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, _ := tok.(string)
		if !slices.Contains(fields, key) {
			return nil, jsonError(fmt.Errorf("json: unknown field %q", key))
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, jsonError(err)
		}
		if _, seen := values[key]; seen {
			twice = true
		} else {
			keys = append(keys, key)
		}
		values[key] = value
	}
	if !twice {
		return nil, nil
	}
	out := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendQuote(out, k) // a field name: plain ASCII
		out = append(out, ':')
		out = append(out, values[k]...)
	}
	return append(out, '}'), nil
}

// jsonError turns an encoding/json error into a 400 that says what is wrong
// without echoing the input.
func jsonError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return invalidArgument("", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalidArgument("", "truncated JSON")
	case errors.As(err, &typ):
		field, _, _ := strings.Cut(typ.Field, ".") // metadata.key -> metadata
		if field == "" {
			return invalidArgument("", "the request body must be a JSON object")
		}
		return invalidArgument(field, fmt.Sprintf("%s: want %s, got a JSON %s", field, fieldType(field), typ.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if len(name) > 66 {
			name = name[:64] + `…"`
		}
		return invalidArgument("", "unknown field "+strings.ToValidUTF8(name, "\uFFFD"))
	}
	return invalidArgument("", "malformed JSON")
}

// fieldType names the JSON type a request field wants, for error messages.
func fieldType(field string) string {
	switch field {
	case "ttl_seconds":
		return "a whole number of seconds"
	case "metadata":
		return "an object of string values"
	}
	return "a string"
}

// Header values shared by every answer; net/http never changes them in place.
var (
	hdrJSON    = []string{"application/json"}
	hdrNoStore = []string{"no-store"}
	hdrNosniff = []string{"nosniff"}
)

// writeJSON writes a JSON answer. net/http adds the Content-Length of small
// answers itself.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = hdrJSON
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// outBufSize is the capacity of pooled answer buffers; larger ones (long
// session lists) are not kept.
const outBufSize = 1 << 10

// getBuf returns an empty buffer for an answer; give it back with putBuf once
// written.
func (s *Server) getBuf() *[]byte { return s.outBufs.Get().(*[]byte) }

func (s *Server) putBuf(bp *[]byte, b []byte) {
	if cap(b) > 16*outBufSize {
		return
	}
	clear(b) // answers carry tokens
	*bp = b[:0]
	s.outBufs.Put(bp)
}

// appendSession appends w as JSON, as encoding/json would write it (but for
// the escapes it picks) at a fraction of the cost: validate answers with a
// session, and this is its hot path (BenchmarkValidateLoopback). The fields'
// meanings are decided once, in wire.FromSession.
func appendSession(b []byte, w *wire.Session) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, w.ID)
	b = append(b, `,"user_id":`...)
	b = appendString(b, w.UserID)
	b = append(b, `,"created_at":`...)
	b = w.CreatedAt.AppendJSON(b)
	b = append(b, `,"expires_at":`...)
	b = w.ExpiresAt.AppendJSON(b)
	b = append(b, `,"last_seen_at":`...)
	b = w.LastSeenAt.AppendJSON(b)
	b = append(b, `,"metadata":{`...)
	switch len(w.Metadata) {
	case 0:
	case 1:
		for k, v := range w.Metadata {
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
	default:
		for i, k := range slices.Sorted(maps.Keys(w.Metadata)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, w.Metadata[k])
		}
	}
	b = append(b, '}')
	if w.Token != "" {
		b = append(b, `,"token":`...)
		b = appendString(b, w.Token)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, byte for byte as encoding/json
// writes it without HTML escaping: invalid UTF-8 bytes become U+FFFD, and
// U+2028 and U+2029 are escaped so that the output is also valid
// JavaScript. FuzzAppendSession holds the two together.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0')
				b = hex.AppendEncode(b, []byte{c})
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u')
			b = hex.AppendEncode(b, []byte{byte(r >> 8), byte(r)})
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
