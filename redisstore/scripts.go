package redisstore

import (
	_ "embed"
	"regexp"
	"strings"

	"github.com/redis/rueidis"
)

var (
	//go:embed scripts/lib.lua
	libLua string
	//go:embed scripts/insert.lua
	insertLua string
	//go:embed scripts/replace.lua
	replaceLua string
	//go:embed scripts/delete.lua
	deleteLua string
	//go:embed scripts/delete_user.lua
	deleteUserLua string
	//go:embed scripts/list.lua
	listLua string
	//go:embed scripts/maintain.lua
	maintainLua string
)

// The scripts, each sent as EVALSHA and, when Redis does not know it yet
// (NOSCRIPT), as EVAL.
var (
	insertScript     = newScript(insertLua, false)
	replaceScript    = newScript(replaceLua, false)
	deleteScript     = newScript(deleteLua, false)
	deleteUserScript = newScript(deleteUserLua, false)
	listScript       = newScript(listLua, true)
	maintainScript   = newScript(maintainLua, false)
)

// newScript puts the shared helpers the script uses after its #! line,
// which must stay first: it carries the flags (allow-oom, no-writes).
func newScript(src string, readOnly bool) *rueidis.Lua {
	shebang, body, _ := strings.Cut(src, "\n")
	full := shebang + "\n" + libFor(body) + body
	if readOnly {
		return register(rueidis.NewLuaScriptReadOnly(full), full)
	}
	return register(rueidis.NewLuaScript(full), full)
}

var (
	luaName    = regexp.MustCompile(`^local (?:function )?([A-Za-z_]+)`)
	luaComment = regexp.MustCompile(`--[^\n]*`)
)

// libFor returns the definitions of lib.lua that body uses, directly or
// through another definition, in lib.lua's order. Lua makes every helper's
// closure anew on each call of a script: on Redis 7.0 all of lib.lua costs
// a create more than a microsecond, as much as a command.
func libFor(body string) string {
	type def struct{ name, text string }
	var defs []def
	for _, chunk := range strings.Split(libLua, "\n\n") {
		for _, line := range strings.Split(chunk, "\n") {
			if m := luaName.FindStringSubmatch(line); m != nil {
				defs = append(defs, def{m[1], chunk})
				break
			}
		}
	}
	uses := func(text, name string) bool {
		code := luaComment.ReplaceAllString(text, "")
		return regexp.MustCompile(`\b` + name + `\b`).MatchString(code)
	}
	used := make([]bool, len(defs))
	for changed := true; changed; {
		changed = false
		for i, d := range defs {
			if used[i] {
				continue
			}
			if uses(body, d.name) {
				used[i], changed = true, true
				continue
			}
			for j, e := range defs {
				if used[j] && j != i && uses(e.text[strings.Index(e.text, "local "):], d.name) {
					used[i], changed = true, true
					break
				}
			}
		}
	}
	var b strings.Builder
	for i, d := range defs {
		if used[i] {
			b.WriteString(d.text)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}
