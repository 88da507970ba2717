package httpapi

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiondb/sessiondb/internal/wire"
	"github.com/sessiondb/sessiondb/internal/wire/wiretest"
)

// wantDecoded is what encoding/json decodes from appendString(s): s with
// every invalid UTF-8 byte replaced by U+FFFD.
func wantDecoded(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	out := appendString(nil, s)
	if !json.Valid(out) {
		t.Fatalf("appendString(%q) = %s: not valid JSON", s, out)
	}
	var got string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("appendString(%q) = %s: %v", s, out, err)
	}
	if want := wantDecoded(s); got != want {
		t.Fatalf("appendString(%q) decodes to %q, want %q", s, got, want)
	}
	if !utf8.Valid(out) {
		t.Fatalf("appendString(%q) = %q: not UTF-8", s, out)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
		"é ü 日本 🙂", "line\u2028sep\u2029", "bad \xff\xfe utf8 \xc3", "</script>&",
	} {
		checkAppendString(t, s)
	}
	if got, want := string(appendString(nil, "a\"b\n\x01\u2028")), `"a\"b\n\u0001\u2028"`; got != want {
		t.Errorf("appendString = %s, want %s", got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00", "\xff", "\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

// TestAppendSession holds sessiond's session object to the golden file
// that sessionctl's and the clients' tests read too.
func TestAppendSession(t *testing.T) {
	sess := wiretest.Session()
	var golden map[string]any
	if err := json.Unmarshal(wiretest.Golden, &golden); err != nil {
		t.Fatal(err)
	}
	for _, withToken := range []bool{false, true} {
		w := wire.FromSession(sess, withToken)
		b := appendSession(nil, &w)
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendSession = %s: %v", b, err)
		}
		want := maps.Clone(golden)
		if withToken {
			want["token"] = string(sess.Token)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("appendSession(withToken=%v) = %s, want %v", withToken, b, want)
		}
	}
	sess.Metadata = nil
	w := wire.FromSession(sess, false)
	if b := appendSession(nil, &w); !strings.Contains(string(b), `"metadata":{}`) {
		t.Errorf("appendSession without metadata = %s, want metadata {}", b)
	}
}

func TestIsJSON(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json":                   true,
		"application/json; charset=utf-8":    true,
		"Application/JSON; Charset=UTF-8":    true,
		"application/json;charset=\"utf-8\"": true,
		"":                                   false,
		"text/plain":                         false,
		"application/json; charset=latin1":   false,
		"application/json; foo=bar":          false,
		"application/jsonx":                  false,
		"application/x-www-form-urlencoded":  false,
		"multipart/form-data; boundary=x":    false,
		"application/json; charset":          false,
	} {
		if got := isJSON(ct); got != want {
			t.Errorf("isJSON(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		body  string
		field string // "" and ok=false: an error without a field
		ok    bool
	}{
		{body: `{"user_id":"u"}`, ok: true},
		{body: ` {"user_id":"u","ttl_seconds":60,"metadata":{"a":"b"}} ` + "\n", ok: true},
		{body: `{"user_id":"u","metadata":null,"ttl_seconds":null}`, ok: true},
		{body: `{}`, ok: true},
		{body: `[]`},
		{body: `null`},
		{body: `"user"`},
		{body: `{"user_id":"u"`},
		{body: `{"user_id":"u"}{}`},
		{body: `{"user_id":"u"} x`},
		{body: `{"user_id":"u",}`},
		{body: `{"userid":"u"}`},
		{body: `{"USER_ID":"u"}`},
		{body: `{"user_id":"u","Metadata":{}}`},
		{body: `{"user\u005fid":"u"}`, ok: true},
		{body: `{"user_id":1}`, field: "user_id"},
		{body: `{"user_id":["u"]}`, field: "user_id"},
		{body: `{"ttl_seconds":1.5}`, field: "ttl_seconds"},
		{body: `{"ttl_seconds":"60"}`, field: "ttl_seconds"},
		{body: `{"ttl_seconds":1e3}`, field: "ttl_seconds"},
		{body: `{"ttl_seconds":99999999999999999999}`, field: "ttl_seconds"},
		{body: `{"metadata":{"a":1}}`, field: "metadata"},
		{body: `{"metadata":{"a":{"b":"c"}}}`, field: "metadata"},
		{body: `{"metadata":"a=b"}`, field: "metadata"},
		{body: `{"metadata":["a"]}`, field: "metadata"},
		{body: strings.Repeat("[", 20000)},
		{body: `{"user_id":"` + strings.Repeat("[", 20000) + `"`},
	} {
		var req createRequest
		err := decodeJSON([]byte(tc.body), &req)
		if tc.ok {
			if err != nil {
				t.Errorf("decodeJSON(%.40q) = %v, want success", tc.body, err)
			}
			continue
		}
		ae, isAPI := err.(*apiError)
		if !isAPI || ae.status != 400 || ae.code != CodeInvalidArgument || ae.field != tc.field {
			t.Errorf("decodeJSON(%.40q) = %#v, want a 400 with field %q", tc.body, err, tc.field)
		}
	}
}

// checkTokenFastPath checks that scanTokenBody agrees with decodeJSON on
// every body it accepts.
func checkTokenFastPath(t *testing.T, body []byte) {
	tok, ok := scanTokenBody(body)
	if !ok {
		return
	}
	var req tokenRequest
	if err := decodeJSON(body, &req); err != nil {
		t.Fatalf("scanTokenBody(%q) accepts what decodeJSON refuses: %v", body, err)
	}
	if req.Token == nil || *req.Token != tok {
		t.Fatalf("scanTokenBody(%q) = %q, decodeJSON gives %v", body, tok, req.Token)
	}
}

func TestScanTokenBody(t *testing.T) {
	for body, want := range map[string]string{
		`{"token":"sdb_abc-_09"}`:       "sdb_abc-_09",
		" \n{ \"token\" :\t\"x\" }\r\n": "x",
		`{"token":""}`:                  "",
		`{"token":"a\u0062"}`:           "-",
		`{"token":"a b"}`:               "-",
		`{"token":"x","token":"y"}`:     "-",
		`{"token":"x"}}`:                "-",
		`{"token":"x"`:                  "-",
		`{"Token":"x"}`:                 "-",
		`{"token":null}`:                "-",
		`{"token":"x"} {}`:              "-",
		`{"token":"x\"}`:                "-",
		`{"token":"é"}`:                 "-",
	} {
		got, ok := scanTokenBody([]byte(body))
		if want == "-" {
			if ok {
				t.Errorf("scanTokenBody(%q) = %q, want it left to decodeJSON", body, got)
			}
		} else if !ok || got != want {
			t.Errorf("scanTokenBody(%q) = %q, %v; want %q", body, got, ok, want)
		}
		checkTokenFastPath(t, []byte(body))
	}
}

func FuzzScanTokenBody(f *testing.F) {
	for _, s := range []string{`{"token":"sdb_x"}`, ` { "token" : "" } `, `{"token":"a\"}`, `{"token":"x"}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkTokenFastPath)
}

// stdSession is what encoding/json writes for w, without HTML escaping:
// what appendSession must write, byte for byte.
func stdSession(tb testing.TB, w *wire.Session) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		tb.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// FuzzAppendSession is a differential test of the hand-written encoder:
// for any session, appendSession writes exactly the bytes encoding/json
// writes for the same wire.Session.
func FuzzAppendSession(f *testing.F) {
	g := wiretest.Session()
	f.Add(g.ID, g.UserID, "ip", "192.0.2.1", "user_agent", "Mozilla/5.0 <x> & y\n", g.CreatedAt.UnixNano(), int64(time.Hour), false, "")
	f.Add("", "", "", "", "", "", int64(0), int64(0), true, "sdb_x")
	f.Add("\xff", "a\u2028b", "\x00\x1f\x7f", "\b\f\t\r\n\"\\", "日本", "🙂\xc3", int64(-1), int64(-1), true, "\u2029")
	f.Fuzz(func(t *testing.T, id, user, k1, v1, k2, v2 string, created, life int64, withToken bool, token string) {
		c := time.Unix(0, created)
		w := wire.Session{ID: id, UserID: user, CreatedAt: wire.Time{Time: c}, ExpiresAt: wire.Time{Time: c.Add(time.Duration(life))},
			LastSeenAt: wire.Time{Time: c}}
		if k1 != "" || v1 != "" {
			w.Metadata = wire.Metadata{k1: v1, k2: v2}
		}
		if withToken {
			w.Token = token
		}
		got := appendSession(nil, &w)
		if want := stdSession(t, &w); !bytes.Equal(got, want) {
			t.Fatalf("appendSession = %s\nencoding/json: %s", got, want)
		}
	})
}
