package httpapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("# sessiond keys\n\napp:file-app-key\n  admin:file-admin-key  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeys("app:k1, admin:k2,app:k1", file)
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 4 || ks.Count(RoleApp) != 2 || ks.Count(RoleAdmin) != 2 {
		t.Fatalf("LoadKeys: %d keys (%d app, %d admin), want 4 (2, 2)", ks.Len(), ks.Count(RoleApp), ks.Count(RoleAdmin))
	}
	for key, want := range map[string]Role{
		"k1": RoleApp, "k2": RoleAdmin, "file-app-key": RoleApp, "file-admin-key": RoleAdmin,
		"": RoleNone, "k": RoleNone, "k11": RoleNone, "K1": RoleNone, "app:k1": RoleNone,
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
	const secret = "s3cr3t-VALUE"
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
		{list: "app:k1,root:" + secret, want: "SESSIOND_API_KEYS: entry 2: unknown role"},
		{list: secret + ":app", want: "entry 1: unknown role"},
		{list: secret, want: "entry 1: want role:key"},
		{list: "app:", want: "entry 1: want role:key"},
		{list: "app:k1,", want: "entry 2: want role:key"},
		{list: "app:" + secret + " x", want: "printable ASCII"},
		{list: "app:" + secret + ",admin:" + secret, want: "two roles"},
		{list: "Admin:" + secret, want: "unknown role"},
		{file: write("bad", "# comment\napp:ok\nguest:"+secret+"\n"), want: "line 3: unknown role"},
		{file: write("empty", "# nothing\n\n"), want: "no key in the file"},
		{file: filepath.Join(dir, "missing"), want: "SESSIOND_API_KEYS_FILE"},
	} {
		_, err := LoadKeys(tc.list, tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKeys(%q, %q) = %v, want an error with %q", tc.list, tc.file, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "root") || strings.Contains(err.Error(), "guest") {
			t.Errorf("LoadKeys error %q quotes the entry", err)
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
