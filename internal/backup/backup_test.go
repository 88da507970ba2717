package backup_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/backup"
)

// newRecord returns a valid record of user with a random id.
func newRecord(user string, md map[string]string) *sessiondb.Record {
	var raw [12]byte
	rand.Read(raw[:])
	now := time.Now().UTC().Truncate(time.Millisecond)
	return &sessiondb.Record{
		ID:     sessiondb.UserShard(user).Tag() + base64.RawURLEncoding.EncodeToString(raw[:]),
		UserID: user, CreatedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour), LastSeenAt: now,
		TTL: time.Hour + time.Minute, IdleTimeout: 30 * time.Minute, Metadata: md,
	}
}

func write(t *testing.T, recs []*sessiondb.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, backup.Header{Prefix: "sdb:", Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Count != int64(len(recs)) {
		t.Fatalf("trailer count %d, want %d", tr.Count, len(recs))
	}
	return buf.Bytes()
}

func sample() []*sessiondb.Record {
	return []*sessiondb.Record{
		newRecord("user123", map[string]string{"ip": "192.168.1.1", "user_agent": "Mozilla/5.0 <b>&amp;</b>"}),
		newRecord("user123", nil),
		newRecord("ünïcødé 用户", map[string]string{"note": "line\nbreak \"quoted\" \x00 nul \u2028 <script>"}),
		newRecord(strings.Repeat("u", 256), map[string]string{"k": strings.Repeat("v", 3000)}),
	}
}

func TestRoundTrip(t *testing.T) {
	recs := sample()
	data := write(t, recs)
	if n := bytes.Count(data, []byte("\n")); n != len(recs)+2 {
		t.Fatalf("%d lines, want %d", n, len(recs)+2)
	}
	var got []*sessiondb.Record
	sum, err := backup.Read(bytes.NewReader(data), func(r *sessiondb.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if sum.Header.Format != backup.Format || sum.Header.Version != backup.Version || sum.Header.Prefix != "sdb:" || sum.Header.CreatedAt.IsZero() {
		t.Errorf("header = %+v", sum.Header)
	}
	if sum.Trailer.Count != int64(len(recs)) || sum.Lines != len(recs)+2 || sum.Bytes != int64(len(data)) {
		t.Errorf("summary = %+v, want %d records in %d bytes", sum, len(recs), len(data))
	}
	if len(got) != len(recs) {
		t.Fatalf("read %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if !got[i].Equal(recs[i]) {
			t.Errorf("record %d = %+v, want %+v", i, got[i], recs[i])
		}
	}
}

func TestEmptyBackup(t *testing.T) {
	data := write(t, nil)
	sum, err := backup.Read(bytes.NewReader(data), nil)
	if err != nil || sum.Trailer.Count != 0 {
		t.Fatalf("Read = %+v, %v; want 0 records", sum, err)
	}
}

// lines splits a backup into its lines, newlines kept.
func lines(data []byte) [][]byte {
	return bytes.SplitAfter(data, []byte("\n"))[:bytes.Count(data, []byte("\n"))]
}

func TestBadFiles(t *testing.T) {
	recs := sample()[:2]
	good := write(t, recs)
	ls := lines(good)
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// A record that passes JSON decoding but breaks a rule, with its
	// checksum recomputed so that only the rule catches it.
	resum := func(recordLines ...string) []byte {
		var b bytes.Buffer
		b.Write(ls[0])
		var all string
		for _, l := range recordLines {
			all += l + "\n"
		}
		b.WriteString(all)
		fmt.Fprintf(&b, `{"end":true,"count":%d,"sha256":"%s"}`+"\n", len(recordLines), sha(all))
		return b.Bytes()
	}
	r := recs[0]
	recLine := func(id, user string, extra string) string {
		return fmt.Sprintf(`{"id":%q,"user_id":%q,"created_at":"2025-01-01T00:00:00Z","expires_at":"2099-01-01T00:00:00Z","last_seen_at":"2025-01-01T00:00:00Z","ttl_ms":1000,"idle_timeout_ms":0%s}`, id, user, extra)
	}
	otherUser := "someone-else"
	for sessiondb.UserShard(otherUser).Bucket == sessiondb.UserShard(r.UserID).Bucket {
		otherUser += "x"
	}
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty file", nil, backup.ErrUnsupported, "empty"},
		{"not JSON", []byte("hello\n"), backup.ErrUnsupported, "not a sessiondb backup header"},
		{"other format", []byte(`{"format":"something-else","version":1}` + "\n"), backup.ErrUnsupported, "not a sessiondb backup"},
		{"version 2", bytes.Replace(good, []byte(`"version":1`), []byte(`"version":2`), 1), backup.ErrUnsupported, "version 2"},
		{"version missing", bytes.Replace(good, []byte(`"version":1,`), nil, 1), backup.ErrUnsupported, "no valid version"},
		{"no trailer", join(ls[0], ls[1], ls[2]), backup.ErrCorrupt, "no end line"},
		{"header only, no newline", bytes.TrimSuffix(ls[0], []byte("\n")), backup.ErrCorrupt, "truncated"},
		{"cut inside a record", join(ls[0], ls[1], ls[2][:len(ls[2])/2]), backup.ErrCorrupt, "truncated"},
		{"cut before a record's newline", join(ls[0], ls[1], bytes.TrimSuffix(ls[2], []byte("\n"))), backup.ErrCorrupt, "truncated"},
		{"cut inside the trailer", good[:len(good)-10], backup.ErrCorrupt, "truncated"},
		{"record dropped", join(ls[0], ls[1], ls[3]), backup.ErrCorrupt, "counts 2 records, the file holds 1"},
		{"record changed", bytes.Replace(good, []byte(r.UserID), []byte("user124"), 1), backup.ErrCorrupt, ""},
		{"metadata changed", bytes.Replace(good, []byte("192.168.1.1"), []byte("192.168.1.2"), 1), backup.ErrCorrupt, "checksum mismatch"},
		{"garbage line", join(ls[0], []byte("{not json}\n"), ls[1], ls[2], ls[3]), backup.ErrCorrupt, "line 2: not a valid JSON record"},
		{"unknown field", resum(recLine(r.ID, r.UserID, `,"token":"x"`)), backup.ErrCorrupt, "unknown field"},
		{"two values on a line", resum(recLine(r.ID, r.UserID, "") + ` {}`), backup.ErrCorrupt, "more than one JSON value"},
		{"data after the end", join(good, ls[1]), backup.ErrCorrupt, "data after the end line"},
		{"bad id", resum(recLine("not-an-id", r.UserID, "")), backup.ErrCorrupt, "not a session id"},
		{"id of another user", resum(recLine(r.ID, otherUser, "")), backup.ErrCorrupt, "does not belong"},
		{"empty user", resum(recLine(r.ID, "", "")), backup.ErrCorrupt, "user_id"},
		{"control character in user", resum(recLine(r.ID, "a\tb", "")), backup.ErrCorrupt, "control character"},
		{"missing times", resum(fmt.Sprintf(`{"id":%q,"user_id":%q,"ttl_ms":1,"idle_timeout_ms":0}`, r.ID, r.UserID)), backup.ErrCorrupt, "required"},
		{"expiry before creation", resum(strings.Replace(recLine(r.ID, r.UserID, ""), "2099-01-01", "2024-01-01", 1)), backup.ErrCorrupt, "expires_at before created_at"},
		{"negative ttl", resum(strings.Replace(recLine(r.ID, r.UserID, ""), `"ttl_ms":1000`, `"ttl_ms":-1`, 1)), backup.ErrCorrupt, "negative"},
		{"empty metadata key", resum(recLine(r.ID, r.UserID, `,"metadata":{"":"v"}`)), backup.ErrCorrupt, "empty key"},
		{"trailer with end false", append(append([]byte{}, good[:len(good)-len(ls[3])]...), bytes.Replace(ls[3], []byte(`"end":true`), []byte(`"end":false`), 1)...), backup.ErrCorrupt, "malformed end line"},
		{"line too long", join(ls[0], []byte(`{"id":"`+strings.Repeat("a", backup.MaxLineBytes)+"\"}\n")), backup.ErrCorrupt, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := 0
			_, err := backup.Read(bytes.NewReader(tt.data), func(*sessiondb.Record) error { seen++; return nil })
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Read error %q does not say %q", err, tt.msg)
			}
			// Verifying without a callback sees the same error.
			if _, err2 := backup.Read(bytes.NewReader(tt.data), nil); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("Read(nil fn) = %v, want %v", err2, err)
			}
		})
	}
}

func TestCallbackErrorStops(t *testing.T) {
	data := write(t, sample()[:2])
	stop := errors.New("stop")
	n := 0
	_, err := backup.Read(bytes.NewReader(data), func(*sessiondb.Record) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("Read = %v after %d records, want the callback's error after 1", err, n)
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	w, _ := backup.NewWriter(&buf, backup.Header{Source: "fuzz"})
	for _, r := range sample()[:2] {
		w.Write(r)
	}
	w.Close()
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"sessiondb-backup","version":1}` + "\n" + `{"end":true,"count":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}` + "\n"))
	f.Add([]byte("{}\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []*sessiondb.Record
		sum, err := backup.Read(bytes.NewReader(data), func(r *sessiondb.Record) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			if !errors.Is(err, backup.ErrCorrupt) && !errors.Is(err, backup.ErrUnsupported) {
				t.Fatalf("Read error %v matches neither ErrCorrupt nor ErrUnsupported", err)
			}
			return
		}
		// A file that reads cleanly holds valid records, which write and read back the same.
		if int64(len(recs)) != sum.Trailer.Count {
			t.Fatalf("%d records, trailer says %d", len(recs), sum.Trailer.Count)
		}
		var out bytes.Buffer
		w, _ := backup.NewWriter(&out, sum.Header)
		for _, r := range recs {
			if _, err := sessiondb.ParseID(r.ID); err != nil {
				t.Fatalf("accepted record with bad id %q", r.ID)
			}
			w.Write(r)
		}
		w.Close()
		i := 0
		if _, err := backup.Read(&out, func(r *sessiondb.Record) error {
			if !r.Equal(recs[i]) {
				t.Fatalf("record %d changed on rewrite: %+v, want %+v", i, r, recs[i])
			}
			i++
			return nil
		}); err != nil {
			t.Fatalf("rewritten backup does not read: %v", err)
		}
	})
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
