package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/redisstore"
)

// app holds what every command needs: the process's streams and
// environment, and the configuration flags given so far.
type app struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer

	cmd        string            // the running command's name, for messages
	cfg        config.Config     // the configuration open read, for messages
	envFile    string            // given with --env-file: the one settings file to read; it must exist
	envFileSet bool              // --env-file was given
	flagEnv    map[string]string // configuration given by flags, by environment variable name
}

// flagSet is a command's flags with its help text.
type flagSet struct {
	*flag.FlagSet
	usage func(*app) string
}

// flagSet returns the flags of a command (name "" for the global flags),
// with the configuration flags already registered: they are accepted before
// and after the command name.
func (a *app) flagSet(name string) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	a.addConfigFlags(fs)
	return &flagSet{FlagSet: fs, usage: func(*app) string { return "" }}
}

// configFlag is a configuration flag. It checks its value at once (with the
// config package's own parser) and records it under the setting's
// environment variable name, so that the configuration is later read from
// one merged view in which flags win over the environment and .env.
type configFlag struct {
	a     *app
	env   string
	check flag.Value
	def   string
}

func (f *configFlag) String() string {
	if f == nil || f.a == nil {
		return ""
	}
	return f.def
}

func (f *configFlag) Set(v string) error {
	if err := f.check.Set(v); err != nil {
		return err
	}
	f.a.flagEnv[f.env] = v
	return nil
}

func (f *configFlag) IsBoolFlag() bool {
	b, ok := f.check.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// isConfigFlag reports whether a flag name is a configuration flag.
func isConfigFlag(name string) bool {
	if name == "env-file" {
		return true
	}
	for _, s := range config.Settings {
		if s.Flag == name && !s.Secret {
			return true
		}
	}
	return false
}

func (a *app) addConfigFlags(fs *flag.FlagSet) {
	scratch := config.Default()
	sfs := flag.NewFlagSet("", flag.ContinueOnError)
	scratch.RegisterFlags(sfs)
	for _, s := range config.Settings {
		if s.Flag == "" || s.Secret {
			continue
		}
		f := sfs.Lookup(s.Flag)
		if f == nil {
			continue
		}
		fs.Var(&configFlag{a: a, env: s.Env, check: f.Value, def: s.Default()}, s.Flag, f.Usage)
	}
	fs.Func("env-file", "read settings missing from the environment from this file only (default: ./sessionctl.env, then ./.env)", func(v string) error {
		if v == "" {
			return errors.New("empty file name")
		}
		a.envFile, a.envFileSet = v, true
		return nil
	})
}

// flagHelp lists the flags of fs that are not configuration flags, or the
// configuration flags when fs is nil.
func (a *app) flagHelp(fs *flagSet) string {
	var b strings.Builder
	var set *flag.FlagSet
	if fs == nil {
		set = a.flagSet("").FlagSet
	} else {
		set = fs.FlagSet
	}
	var lines []string
	set.VisitAll(func(f *flag.Flag) {
		if isConfigFlag(f.Name) != (fs == nil) {
			return
		}
		name := "--" + f.Name
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
			name += " " + placeholder(f)
		}
		_, text := flag.UnquoteUsage(f)
		line := fmt.Sprintf("  %s\n      %s", name, text)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, line)
	})
	if fs == nil {
		sort.Strings(lines)
	}
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if fs != nil {
		b.WriteString("  (and the configuration flags listed by 'sessionctl --help')\n")
	}
	return b.String()
}

// help returns the help text of a command: synopsis, description, flags
// and examples.
func (fs *flagSet) help(synopsis, text, examples string) {
	fs.usage = func(a *app) string {
		s := "Usage: " + synopsis + "\n\n" + strings.TrimSpace(text) + "\n\nFlags:\n" + a.flagHelp(fs)
		if examples = strings.Trim(examples, "\n"); examples != "" {
			s += "\nExamples:\n" + examples + "\n"
		}
		return s
	}
}

// parse parses args with fs. With intersperse, flags may follow positional
// arguments ("revoke-user U --except ID"); "--" ends the flags. It returns
// the positional arguments, or flag.ErrHelp after printing the help, or a
// usage error.
func (a *app) parse(fs *flagSet, args []string, intersperse bool) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, fs.usage(a))
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, a.usageError("%v", err)
		}
		rest := fs.Args()
		if !intersperse || len(rest) == 0 {
			return append(pos, rest...), nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// wantArgs checks the number of positional arguments.
func (a *app) wantArgs(args []string, names ...string) error {
	if len(args) == len(names) {
		return nil
	}
	if len(args) < len(names) {
		return a.usageError("missing %s", strings.Join(names[len(args):], " and "))
	}
	return a.usageError("unexpected argument %q", args[len(names)])
}

// envFiles are the settings files sessionctl reads from the current
// directory, first wins: sessionctl.env holds what only sessionctl should
// use (the operator's Redis user, say), which sessiond, reading .env from
// the same directory, never sees.
var envFiles = []string{"sessionctl.env", ".env"}

// noRedis says how to point sessionctl at Redis.
const noRedis = "no Redis configured: set REDIS_URL or REDIS_HOST (in the environment, in ./sessionctl.env, or with --redis-url / --redis-host); " +
	"without them sessionctl would act on an empty, private in-process store"

// config reads the configuration: flags, then the environment, then the
// settings files (sessionctl.env, .env, or the --env-file).
func (a *app) config() (config.Config, error) {
	files := envFiles
	if a.envFileSet {
		if _, err := os.Stat(a.envFile); err != nil {
			return config.Config{}, fmt.Errorf("--env-file: %w", err)
		}
		files = []string{a.envFile}
	}
	fromEnv := a.getenv
	for _, f := range files {
		var err error
		if fromEnv, err = config.Getenv(fromEnv, f); err != nil {
			return config.Config{}, err
		}
	}
	return config.FromEnv(func(k string) string {
		if v, ok := a.flagEnv[k]; ok {
			return v
		}
		return fromEnv(k)
	})
}

// open reads the configuration and opens a Manager over the configured
// Redis. It refuses to go on without Redis: the embedded store would be
// empty, and a command acting on it would report "no sessions" for a store
// it never saw. Errors in the configuration exit 2.
func (a *app) open() (*sessiondb.Manager, config.Config, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, cfg, a.failf(exitUsage, "configuration: %v", err)
	}
	if !cfg.UsesRedis() {
		return nil, cfg, a.failf(exitUsage, "%s", noRedis)
	}
	m, err := cfg.Open()
	if err != nil {
		return nil, cfg, a.failf(exitUsage, "configuration: %v", err)
	}
	a.cfg = cfg
	return m, cfg, nil
}

// redisStore returns the Redis store under m, or nil for another store.
func redisStore(m *sessiondb.Manager) *redisstore.Store {
	rs, _ := m.Store().(*redisstore.Store)
	return rs
}

// placeholder names a flag's value in help texts.
func placeholder(f *flag.Flag) string {
	if _, ok := f.Value.(*configFlag); !ok && f.Name != "env-file" {
		typ, _ := flag.UnquoteUsage(f)
		switch typ {
		case "", "value":
			return "VALUE"
		case "int":
			return "N"
		}
		return strings.ToUpper(typ)
	}
	switch n := f.Name; {
	case strings.HasSuffix(n, "-file"):
		return "FILE"
	case strings.HasSuffix(n, "-url"):
		return "URL"
	case strings.HasSuffix(n, "-seconds"):
		return "SECONDS"
	case strings.HasSuffix(n, "-ms"):
		return "MS"
	case strings.HasSuffix(n, "-bytes"), strings.HasSuffix(n, "-port"), strings.HasSuffix(n, "-db"), strings.HasSuffix(n, "-user"):
		return "N"
	}
	return "NAME"
}
