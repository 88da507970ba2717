package config

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadDotEnvForms(t *testing.T) {
	for _, tc := range []struct {
		file string
		want map[string]string
	}{
		{"A=1\n", map[string]string{"A": "1"}},
		{"  export A = 1  \n# comment\n\nB=\n", map[string]string{"A": "1", "B": ""}},
		{`A="x y"` + "\n" + `B='z'`, map[string]string{"A": "x y", "B": "z"}},
		{"A=x # comment\nB=x#not-a-comment\n", map[string]string{"A": "x", "B": "x#not-a-comment"}},
		{`A="x # kept"` + "\n", map[string]string{"A": "x # kept"}},
		{`A="quoted" # comment` + "\n" + `B='q' # c`, map[string]string{"A": "quoted", "B": "q"}},
		{"A=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"A=1\nA=2\n", map[string]string{"A": "2"}},
		{"A=x=y\n", map[string]string{"A": "x=y"}},
	} {
		got, err := ReadDotEnv(writeDotEnv(t, tc.file))
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("ReadDotEnv(%q) = %v, %v, want %v", tc.file, got, err, tc.want)
		}
	}
}

func TestReadDotEnvErrorsSayWhere(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"A=1\nnot a pair\n", ":2: want KEY=VALUE"},
		{"=1\n", ":1: want KEY=VALUE"},
		{"A B=1\n", ":1: want KEY=VALUE"},
		{"A=1\nB=" + strings.Repeat("x", 70<<10) + "\n", ":2: line longer than 64 KiB"},
	} {
		path := writeDotEnv(t, tc.file)
		got, err := ReadDotEnv(path)
		if err == nil || got != nil || err.Error() != path+tc.want {
			t.Errorf("ReadDotEnv(%.20q...) = %v, %v, want the error %q", tc.file, got, err, path+tc.want)
		}
	}
}

func writeDotEnv(tb testing.TB, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), ".env")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// FuzzReadDotEnv parses arbitrary files (parseDotEnv is ReadDotEnv after
// opening the file). An error names the file and the line; a success gives
// keys that are not empty and hold no blank, and the result written back as
// export KEY='VALUE' lines reads back the same.
func FuzzReadDotEnv(f *testing.F) {
	for _, s := range []string{
		"", "\n", "A=1", "A=1\nB=2\n", "export A=1\n", "# c\n\n A = 1 \n", `A="x # y"`, `A="x" # y`,
		`A='x'`, `A='`, `A="`, `A=""`, "A= #", "A=\"x\ny\"\n", "A=1\r\n", "=1", "A", "A B=1", "A\t=1",
		"export =1", "export #A=1", "\xef\xbb\xbfA=1", "A=\x00", "A=1\nB\n", "REDIS_URL=redis://127.0.0.1:6379/0 # local",
	} {
		f.Add([]byte(s))
	}
	const path = "/config/.env"
	f.Fuzz(func(t *testing.T, data []byte) {
		vars, err := parseDotEnv(bytes.NewReader(data), path)
		if err != nil {
			if vars != nil || !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("parseDotEnv = %v, %v: an error must come alone and name the file and line", vars, err)
			}
			return
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			if k == "" || strings.ContainsAny(k, " \t=\n") || strings.TrimSpace(k) != k {
				t.Fatalf("parseDotEnv accepted the key %q", k)
			}
			if strings.Contains(vars[k], "\n") {
				t.Fatalf("parseDotEnv gave %s a value of more than one line: %q", k, vars[k])
			}
			b.WriteString("export " + k + "='" + vars[k] + "'\n")
		}
		back, err := parseDotEnv(strings.NewReader(b.String()), path)
		if err != nil || !maps.Equal(back, vars) {
			t.Fatalf("parseDotEnv(%q) = %q; written back as %q it reads %q, %v", data, vars, b.String(), back, err)
		}
	})
}
