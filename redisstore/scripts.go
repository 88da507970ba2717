package redisstore

import (
	_ "embed"
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

// newScript puts the shared helpers after the script's #! line, which must
// stay first: it carries the flags (allow-oom, no-writes).
func newScript(src string, readOnly bool) *rueidis.Lua {
	shebang, body, _ := strings.Cut(src, "\n")
	full := shebang + "\n" + libLua + body
	if readOnly {
		return register(rueidis.NewLuaScriptReadOnly(full), full)
	}
	return register(rueidis.NewLuaScript(full), full)
}
