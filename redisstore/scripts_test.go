package redisstore

import (
	"strings"
	"testing"
)

// TestLibFor checks that each script gets the helpers it calls, those
// helpers' own helpers, and nothing else.
func TestLibFor(t *testing.T) {
	got := libFor("local x = emptied(a, b, c, d, e)\n")
	for _, want := range []string{"local function emptied", "local function hincr", "local MARK"} {
		if !strings.Contains(got, want) {
			t.Errorf("libFor(emptied) lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"local function less", "local function micros", "local function memberOf"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("libFor(emptied) holds %q", unwanted)
		}
	}
	if got := libFor("return 1\n"); got != "" {
		t.Errorf("libFor of a script that uses no helper = %q", got)
	}
	for name, src := range map[string]string{"insert": insertLua, "replace": replaceLua, "delete": deleteLua,
		"delete_user": deleteUserLua, "list": listLua, "maintain": maintainLua} {
		if !strings.HasPrefix(src, "#!lua") {
			t.Errorf("%s.lua does not start with its #!lua line", name)
		}
	}
}
