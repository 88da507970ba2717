package httpapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys of at least 128 bits, as LoadKeys wants them.
const (
	k1 = "k1-yZ7wQ2mN8pL4xR6tUv9Ws"
	k2 = "k2-aB3cD4eF5gH6iJ7kLm8No"
)

func TestLoadKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# sessiond keys\n\napp:file-app-key-0123456789\n  admin:file-admin-key-0123456789  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeys("app:"+k1+", admin:"+k2+",app:"+k1, file)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 4 || ks.Count(RoleApp) != 2 || ks.Count(RoleAdmin) != 2 {
		t.Fatalf("LoadKeys: %d keys (%d app, %d admin), want 4 (2, 2)", ks.Len(), ks.Count(RoleApp), ks.Count(RoleAdmin))
	}
	for key, want := range map[string]Role{
		k1: RoleApp, k2: RoleAdmin, "file-app-key-0123456789": RoleApp, "file-admin-key-0123456789": RoleAdmin,
		"": RoleNone, "k": RoleNone, k1 + "1": RoleNone, strings.ToUpper(k1): RoleNone, "app:" + k1: RoleNone,
	} {
		got, ok := ks.Lookup(key)
		if got != want || ok != (want != RoleNone) {
			t.Errorf("Lookup(%q) = %v, %v; want %v", key, got, ok, want)
		}
	}

	none, err := LoadKeys("", "")
	if err != nil || none.Len() != 0 {
		t.Fatalf(`LoadKeys("", "") = %d keys, %v; want none`, none.Len(), err)
	}
}

func TestLoadKeysErrors(t *testing.T) {
	const secret = "s3cr3t-VALUE-0123456789"
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		list, file, want string
	}{
		{list: "app:" + k1 + ",root:" + secret, want: "SESSIOND_API_KEYS: entry 2: unknown role"},
		{list: secret + ":app", want: "entry 1: unknown role"},
		{list: secret, want: "entry 1: want role:key"},
		{list: "app:", want: "entry 1: want role:key"},
		{list: "app:" + k1 + ",", want: "entry 2: want role:key"},
		{list: "app:" + k1 + ",admin:short-key", want: "entry 2: the key is too short: it must hold at least 128 random bits"},
		{list: "app:0123456789abcdef0123456789abcde", want: "too short"},     // 31 hex digits: 124 bits
		{list: "app:01234567890123456789012345678901234", want: "too short"}, // 37 digits: 123 bits
		{list: "app:" + secret + " x", want: "printable ASCII"},
		{list: "app:" + secret + ",admin:" + secret, want: "two roles"},
		{list: "Admin:" + secret, want: "unknown role"},
		{file: write("bad", "# comment\napp:"+k1+"\nguest:"+secret+"\n"), want: "line 3: unknown role"},
		{file: write("short", "app:"+k1+"\nadmin:hunter2\n"), want: "line 2: the key is too short"},
		{file: write("empty", "# nothing\n\n"), want: "no key in the file"},
		{file: filepath.Join(dir, "missing"), want: "SESSIOND_API_KEYS_FILE"},
	} {
		_, err := LoadKeys(tc.list, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKeys(%q, %q) = %v, want an error with %q", tc.list, tc.file, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "root") || strings.Contains(err.Error(), "guest") ||
			strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "short-key") {
			t.Errorf("LoadKeys error %q quotes the entry", err)
		}
	}
}

// TestKeyBits: 128 bits is 22 letters and digits, 32 hex digits, 39
// decimal digits or 22 base64 characters.
func TestKeyBits(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{strings.Repeat("aZ", 11), true}, {strings.Repeat("aZ", 10) + "a", false},
		{strings.Repeat("0f", 16), true}, {strings.Repeat("0f", 15) + "0", false},
		{strings.Repeat("9", 39), true}, {strings.Repeat("9", 38), false},
		{strings.Repeat("a-", 11), true}, {strings.Repeat("a-", 10) + "a", false},
		{strings.Repeat("a!", 10), true}, {strings.Repeat("a!", 9) + "a", false},
	} {
		if got := keyBits(tc.key) >= minKeyBits; got != tc.ok {
			t.Errorf("keyBits(%q) = %.1f: accepted %v, want %v", tc.key, keyBits(tc.key), got, tc.ok)
		}
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc":   "abc",
		"bearer abc":   "abc",
		"BEARER  abc":  "abc",
		"Bearer":       "",
		"Bearer ":      "",
		"Basic abc":    "",
		"Bearerabc":    "",
		"Token abc":    "",
		"":             "",
		"Bearer a b c": "a b c",
	} {
		got, ok := bearer(h)
		if got != want || ok != (want != "") {
			t.Errorf("bearer(%q) = %q, %v; want %q", h, got, ok, want)
		}
	}
}
