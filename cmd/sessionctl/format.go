package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// text makes a string safe to print on a terminal: it is quoted (with Go
// escapes) when empty, when it holds spaces, quotes or '=', or anything not
// printable, so that stored data cannot send escape sequences to the
// operator's terminal.
func text(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// metadataText prints metadata as sorted key=value pairs; values longer than
// max runes are cut (max 0: never).
func metadataText(md map[string]string, max int) string {
	keys := slices.Sorted(maps.Keys(md))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := md[k]
		if max > 0 && utf8.RuneCountInString(v) > max {
			v = string([]rune(v)[:max-1]) + "…"
		}
		parts[i] = text(k) + "=" + text(v)
	}
	return strings.Join(parts, " ")
}

// timeText prints a time in UTC, to the second.
func timeText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// relText says how far t is from now: "in 59m", "3h ago".
func relText(t, now time.Time) string {
	d := t.Sub(now)
	if d >= 0 {
		return "in " + durText(d)
	}
	return durText(-d) + " ago"
}

// durText prints a duration for people: 250ms, 45s, 59m59s, 1h, 3h5m, 2d4h.
// From an hour up it is rounded to the minute.
func durText(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	return b.String()
}

// bytesText prints a byte count in binary units.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
