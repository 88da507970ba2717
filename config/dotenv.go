package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ReadDotEnv reads KEY=VALUE lines from a .env file: blank lines and lines
// starting with # are skipped, an "export " prefix is allowed, and a value
// may be wrapped in single or double quotes and followed by a comment
// (" # ..."; inside quotes, " #" is part of the value). A missing file is not
// an error.
func ReadDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseDotEnv(f, path)
}

// parseDotEnv reads the lines of a .env file from r; name is the file's
// name, for errors.
func parseDotEnv(r io.Reader, path string) (map[string]string, error) {
	vars := make(map[string]string)
	sc := bufio.NewScanner(r)
	n := 1
	for ; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if !quoted(v) {
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i]) // trailing comment
			}
		}
		if quoted(v) {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d KiB", path, n, bufio.MaxScanTokenSize>>10)
		}
		return nil, fmt.Errorf("%s:%d: %w", path, n, err)
	}
	return vars, nil
}

// quoted reports whether v is wrapped in a pair of single or double quotes.
func quoted(v string) bool {
	return len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]
}

// Getenv returns a lookup that prefers the process environment (through
// getenv) and falls back to the .env file at path, if there is one.
func Getenv(getenv func(string) string, path string) (func(string) string, error) {
	vars, err := ReadDotEnv(path)
	if err != nil {
		return nil, err
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vars[k]
	}, nil
}
