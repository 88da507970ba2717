// Package backup reads and writes sessiondb's logical backup format: JSON
// Lines, one header line, one line per session record, and a trailer line
// with the record count and a SHA-256 of the record lines, so that a
// truncated or edited file is detected before anything is restored.
//
//	{"format":"sessiondb-backup","version":1,"created_at":"...","prefix":"sdb:","source":"redis at ..."}
//	{"id":"0a3...","user_id":"user123","created_at":"...","expires_at":"...","last_seen_at":"...","ttl_ms":3600000,"idle_timeout_ms":0,"metadata":{"ip":"..."}}
//	...
//	{"end":true,"count":2,"sha256":"<hex of the record lines, newlines included>"}
//
// A backup holds records, never tokens: stores keep only a one-way hash of
// each token (the session id), so a backup cannot be replayed as a login.
// Times are absolute (RFC 3339, UTC; records at the microsecond precision
// stores keep, the header at the millisecond), so a restored session keeps
// its remaining lifetime.
package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Format is the value of the header's format field.
const Format = "sessiondb-backup"

// Version is the format version this package writes and reads.
const Version = 1

// MaxLineBytes bounds one line of a backup file; longer lines are refused.
// Records are far smaller (user ids are at most 256 bytes, metadata a few KiB).
const MaxLineBytes = 4 << 20

// ErrUnsupported reports a file that is not a sessiondb backup, or one of a
// format version this package does not read.
var ErrUnsupported = errors.New("backup: unsupported file")

// ErrCorrupt reports a backup file that is damaged: a malformed or invalid
// line, a checksum or count mismatch, or a missing trailer (truncation).
// Errors that wrap it are *LineError.
var ErrCorrupt = errors.New("backup: corrupt file")

// LineError is a damaged line of a backup file. It matches ErrCorrupt.
type LineError struct {
	Line   int // 1-based line number; 0 when the fault is the file as a whole
	Reason string
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return "backup file is corrupt: " + e.Reason
	}
	return fmt.Sprintf("backup file is corrupt: line %d: %s", e.Line, e.Reason)
}

// Is reports whether target is ErrCorrupt.
func (e *LineError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(line int, format string, args ...any) error {
	return &LineError{Line: line, Reason: fmt.Sprintf(format, args...)}
}

// Header is the first line of a backup.
type Header struct {
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Prefix    string    `json:"prefix,omitempty"` // the source store's Redis key prefix, for information
	Source    string    `json:"source,omitempty"` // the source store, described without secrets
}

// Trailer is the last line of a backup.
type Trailer struct {
	End    bool   `json:"end"`
	Count  int64  `json:"count"`
	SHA256 string `json:"sha256"`
}

// record is the JSON form of a sessiondb.Record.
type record struct {
	ID            string            `json:"id"`
	UserID        string            `json:"user_id"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	LastSeenAt    time.Time         `json:"last_seen_at"`
	TTLMs         int64             `json:"ttl_ms"`
	IdleTimeoutMs int64             `json:"idle_timeout_ms"`
	Metadata      map[string]string `json:"metadata,omitempty"`
}

// line is any line after the header: a record, or the trailer.
type line struct {
	record
	End    *bool  `json:"end"`
	Count  *int64 `json:"count"`
	SHA256 string `json:"sha256"`
}

// Writer writes a backup. It is not safe for concurrent use.
type Writer struct {
	w     *bufio.Writer
	buf   bytes.Buffer
	enc   *json.Encoder
	sum   hash.Hash
	count int64
	bytes int64
	done  bool
}

// NewWriter writes the header to w and returns a Writer for the records.
// Format and Version are filled in; a zero CreatedAt becomes now.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	bw := &Writer{w: bufio.NewWriterSize(w, 64<<10), sum: sha256.New()}
	bw.enc = json.NewEncoder(&bw.buf)
	bw.enc.SetEscapeHTML(false)
	h.Format, h.Version = Format, Version
	if h.CreatedAt.IsZero() {
		h.CreatedAt = time.Now()
	}
	h.CreatedAt = h.CreatedAt.UTC().Truncate(time.Millisecond)
	if err := bw.line(h); err != nil {
		return nil, err
	}
	return bw, nil
}

func (w *Writer) line(v any) error {
	w.buf.Reset()
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	n, err := w.w.Write(w.buf.Bytes())
	w.bytes += int64(n)
	return err
}

// Write adds one record.
func (w *Writer) Write(r *sessiondb.Record) error {
	if w.done {
		return errors.New("backup: write after Close")
	}
	if err := w.line(toJSON(r)); err != nil {
		return err
	}
	w.sum.Write(w.buf.Bytes())
	w.count++
	return nil
}

// Count returns the number of records written so far.
func (w *Writer) Count() int64 { return w.count }

// Bytes returns the number of bytes written so far.
func (w *Writer) Bytes() int64 { return w.bytes }

// Close writes the trailer and flushes. It does not close the underlying
// writer. It returns the trailer it wrote.
func (w *Writer) Close() (Trailer, error) {
	if w.done {
		return Trailer{}, errors.New("backup: Close called twice")
	}
	w.done = true
	t := Trailer{End: true, Count: w.count, SHA256: hex.EncodeToString(w.sum.Sum(nil))}
	if err := w.line(t); err != nil {
		return t, err
	}
	return t, w.w.Flush()
}

func toJSON(r *sessiondb.Record) record {
	return record{
		ID: r.ID, UserID: r.UserID,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
		TTLMs: r.TTL.Milliseconds(), IdleTimeoutMs: r.IdleTimeout.Milliseconds(),
		Metadata: r.Metadata,
	}
}

// Summary describes a verified backup.
type Summary struct {
	Header  Header
	Trailer Trailer
	Lines   int   // lines in the file, header and trailer included
	Bytes   int64 // bytes read
}

// Read reads a whole backup from r, checks every line, the count and the
// checksum, and calls fn (if not nil) with each record in file order. It
// returns ErrUnsupported for another format or version and an error matching
// ErrCorrupt for a damaged or truncated file.
//
// fn sees records before the checksum at the end is checked, so a caller
// that must not act on a damaged file reads it twice: once with a nil fn to
// verify it, then again to act. An error from fn stops the reading and is
// returned as is.
func Read(r io.Reader, fn func(*sessiondb.Record) error) (Summary, error) {
	var s Summary
	br := bufio.NewReaderSize(r, 64<<10)
	sum := sha256.New()
	var trailer *Trailer
	for {
		text, err := readLine(br)
		if err == io.EOF && len(text) == 0 {
			break
		}
		s.Lines++
		s.Bytes += int64(len(text))
		n := s.Lines
		if err != nil && err != io.EOF {
			if errors.Is(err, bufio.ErrBufferFull) {
				return s, corrupt(n, "longer than %d bytes", MaxLineBytes)
			}
			return s, err
		}
		complete := err == nil // ends with a newline
		if n == 1 {
			h, err := parseHeader(text)
			if err != nil {
				return s, err
			}
			s.Header = h
			if !complete {
				return s, corrupt(0, "truncated after the header (no end line)")
			}
			continue
		}
		if trailer != nil {
			return s, corrupt(n, "data after the end line")
		}
		var l line
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			if !complete {
				return s, corrupt(n, "truncated (the file ends inside a line)")
			}
			return s, corrupt(n, "not a valid JSON record: %v", err)
		}
		if dec.More() {
			return s, corrupt(n, "more than one JSON value on the line")
		}
		if l.End != nil {
			if !*l.End || l.Count == nil || l.ID != "" || l.UserID != "" {
				return s, corrupt(n, "malformed end line")
			}
			trailer = &Trailer{End: true, Count: *l.Count, SHA256: l.SHA256}
			continue
		}
		if !complete {
			return s, corrupt(n, "truncated (the file ends inside a line)")
		}
		if l.Count != nil || l.SHA256 != "" {
			return s, corrupt(n, "record with end-line fields")
		}
		rec, err := l.record.toRecord()
		if err != nil {
			return s, corrupt(n, "%v", err)
		}
		sum.Write(text)
		s.Trailer.Count++
		if fn != nil {
			if err := fn(rec); err != nil {
				return s, err
			}
		}
	}
	if s.Lines == 0 {
		return s, fmt.Errorf("%w: the file is empty, not a sessiondb backup", ErrUnsupported)
	}
	if trailer == nil {
		return s, corrupt(0, "truncated: no end line after %d records", s.Trailer.Count)
	}
	if trailer.Count != s.Trailer.Count {
		return s, corrupt(0, "the end line counts %d records, the file holds %d", trailer.Count, s.Trailer.Count)
	}
	if got := hex.EncodeToString(sum.Sum(nil)); got != trailer.SHA256 {
		return s, corrupt(0, "checksum mismatch: the records were changed or damaged (sha256 %s, end line says %s)", got, trailer.SHA256)
	}
	s.Trailer.End, s.Trailer.SHA256 = true, trailer.SHA256
	return s, nil
}

// readLine returns the next line, newline included; err is io.EOF when the
// file ends without one, bufio.ErrBufferFull when a line exceeds MaxLineBytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(out)+len(chunk) > MaxLineBytes {
			return append(out, chunk...), bufio.ErrBufferFull
		}
		out = append(out, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return out, err
	}
}

func parseHeader(text []byte) (Header, error) {
	var h Header
	// Decode loosely first, to tell "not a backup" from "another version".
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(text, &probe); err != nil {
		return h, fmt.Errorf("%w: the first line is not a sessiondb backup header", ErrUnsupported)
	}
	var format string
	if err := json.Unmarshal(probe["format"], &format); err != nil || format != Format {
		return h, fmt.Errorf("%w: not a sessiondb backup (the header's format is not %q)", ErrUnsupported, Format)
	}
	var version int
	if err := json.Unmarshal(probe["version"], &version); err != nil {
		return h, fmt.Errorf("%w: the header has no valid version", ErrUnsupported)
	}
	if version != Version {
		return h, fmt.Errorf("%w: backup format version %d; this sessionctl reads version %d only (use the sessionctl that wrote it, or a newer one)", ErrUnsupported, version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, corrupt(1, "invalid header: %v", err)
	}
	return h, nil
}

// maxMicros bounds the times and durations the Redis encoding holds
// (microseconds below 2^52, about 142 years).
const maxMicros = 1<<52 - 1

func (r *record) toRecord() (*sessiondb.Record, error) {
	if err := sessiondb.CheckUserID(r.UserID); err != nil {
		return nil, err
	}
	bucket, err := sessiondb.ParseID(r.ID)
	if err != nil {
		return nil, fmt.Errorf("id %q is not a session id", r.ID)
	}
	if bucket != sessiondb.UserShard(r.UserID).Bucket {
		return nil, fmt.Errorf("id %q does not belong to user %q (bucket mismatch)", r.ID, r.UserID)
	}
	switch {
	case r.CreatedAt.IsZero() || r.ExpiresAt.IsZero() || r.LastSeenAt.IsZero():
		return nil, errors.New("created_at, expires_at and last_seen_at are required")
	case r.CreatedAt.UnixMicro() < 0 || r.CreatedAt.UnixMicro() > maxMicros ||
		r.ExpiresAt.Sub(r.CreatedAt).Microseconds() > maxMicros || r.LastSeenAt.Sub(r.CreatedAt).Microseconds() > maxMicros:
		return nil, errors.New("created_at, expires_at or last_seen_at out of range")
	case r.ExpiresAt.Before(r.CreatedAt):
		return nil, errors.New("expires_at before created_at")
	case r.LastSeenAt.Before(r.CreatedAt):
		return nil, errors.New("last_seen_at before created_at")
	case r.TTLMs < 0 || r.IdleTimeoutMs < 0:
		return nil, errors.New("negative ttl_ms or idle_timeout_ms")
	case r.TTLMs > maxMicros/1000 || r.IdleTimeoutMs > maxMicros/1000:
		return nil, errors.New("ttl_ms or idle_timeout_ms out of range")
	}
	for k := range r.Metadata {
		if k == "" {
			return nil, errors.New("metadata with an empty key")
		}
	}
	md := r.Metadata
	if len(md) == 0 {
		md = nil
	}
	return &sessiondb.Record{
		ID: r.ID, UserID: r.UserID,
		CreatedAt:   r.CreatedAt.UTC().Truncate(time.Microsecond),
		ExpiresAt:   r.ExpiresAt.UTC().Truncate(time.Microsecond),
		LastSeenAt:  r.LastSeenAt.UTC().Truncate(time.Microsecond),
		TTL:         time.Duration(r.TTLMs) * time.Millisecond,
		IdleTimeout: time.Duration(r.IdleTimeoutMs) * time.Millisecond,
		Metadata:    md,
	}, nil
}
