package config

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one entry of a settings struct C: its environment variable, its
// flag and how to read and show it. The library's settings are Settings
// (C = Config); programs such as sessiond declare their own tables and read
// them with the same ApplyEnv and AddFlags, so every program treats the
// environment, .env and flags alike.
type Setting[C any] struct {
	Env    string
	Flag   string
	Usage  string
	Secret bool // never shown, and not offered as a flag (ps would show it)
	isBool bool
	def    string
	set    func(*C, string) error
	get    func(*C) string
}

// Default returns the setting's default value as shown in documentation
// ("" for secrets and settings without one). Tables get their defaults
// from WithDefaults.
func (s Setting[C]) Default() string { return s.def }

// Value returns the setting's value in c as the environment would give it,
// or "" for a secret, which is never shown.
func (s Setting[C]) Value(c *C) string {
	if s.Secret {
		return ""
	}
	return s.get(c)
}

// Apply sets the setting in c from a string, as found in the environment.
func (s Setting[C]) Apply(c *C, v string) error { return s.set(c, v) }

// WithDefaults records each setting's value in def as its default and
// returns the table.
func WithDefaults[C any](def C, settings []Setting[C]) []Setting[C] {
	for i := range settings {
		if !settings[i].Secret {
			settings[i].def = settings[i].get(&def)
		}
	}
	return settings
}

// ApplyEnv sets every setting whose variable getenv returns non-empty. It
// reports every bad value at once, each prefixed with its variable.
func ApplyEnv[C any](c *C, settings []Setting[C], getenv func(string) string) error {
	var errs []error
	for _, s := range settings {
		if v := getenv(s.Env); v != "" {
			if err := s.set(c, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			}
		}
	}
	return errors.Join(errs...)
}

// AddFlags adds a flag for every non-secret setting to fs. Each flag's
// default is c's current value, so flags override the environment.
func AddFlags[C any](fs *flag.FlagSet, c *C, settings []Setting[C]) {
	for _, s := range settings {
		if s.Flag == "" || s.Secret {
			continue
		}
		fs.Var(&settingFlag[C]{c: c, s: s}, s.Flag, s.Usage+" (env "+s.Env+")")
	}
}

type settingFlag[C any] struct {
	c *C
	s Setting[C]
}

func (f *settingFlag[C]) String() string {
	if f.c == nil {
		return ""
	}
	return f.s.get(f.c)
}

func (f *settingFlag[C]) Set(v string) error { return f.s.set(f.c, v) }

// IsBoolFlag lets boolean settings be given as a bare -flag.
func (f *settingFlag[C]) IsBoolFlag() bool { return f.s.isBool }

// Custom is a setting with its own parser and printer.
func Custom[C any](env, fl, usage string, set func(*C, string) error, get func(*C) string) Setting[C] {
	return Setting[C]{Env: env, Flag: fl, Usage: usage, set: set, get: get}
}

// Secret is a string setting read from the environment only and never shown.
func Secret[C any](env, usage string, p func(*C) *string) Setting[C] {
	return Setting[C]{Env: env, Usage: usage, Secret: true,
		set: func(c *C, v string) error { *p(c) = v; return nil },
		get: func(*C) string { return "" }}
}

// String is a string setting.
func String[C any](env, fl, usage string, p func(*C) *string) Setting[C] {
	return Custom(env, fl, usage,
		func(c *C, v string) error { *p(c) = v; return nil },
		func(c *C) string { return *p(c) })
}

// Int is an integer setting from lo to hi.
func Int[C any](env, fl, usage string, lo, hi int, p func(*C) *int) Setting[C] {
	return Custom(env, fl, usage,
		func(c *C, v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want an integer from %d to %d", lo, hi)
			}
			*p(c) = n
			return nil
		},
		func(c *C) string { return strconv.Itoa(*p(c)) })
}

// Bool is a true/false setting; its flag may be given bare.
func Bool[C any](env, fl, usage string, p func(*C) *bool) Setting[C] {
	s := Custom(env, fl, usage,
		func(c *C, v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return errors.New("want true or false")
			}
			*p(c) = b
			return nil
		},
		func(c *C) string { return strconv.FormatBool(*p(c)) })
	s.isBool = true
	return s
}

// Seconds is a duration setting given in whole seconds from lo to hi.
func Seconds[C any](env, fl, usage string, lo, hi int64, p func(*C) *time.Duration) Setting[C] {
	return Custom(env, fl, usage,
		func(c *C, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("want a whole number of seconds from %d to %d", lo, hi)
			}
			*p(c) = time.Duration(n) * time.Second
			return nil
		},
		func(c *C) string { return strconv.FormatInt(int64(*p(c)/time.Second), 10) })
}

// Millis is a duration setting given in whole milliseconds, 1 to an hour.
func Millis[C any](env, fl, usage string, p func(*C) *time.Duration) Setting[C] {
	return Custom(env, fl, usage,
		func(c *C, v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 1 || n > 3600_000 {
				return errors.New("want a whole number of milliseconds, 1 or more")
			}
			*p(c) = time.Duration(n) * time.Millisecond
			return nil
		},
		func(c *C) string { return strconv.FormatInt(int64(*p(c)/time.Millisecond), 10) })
}
