package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiondb/sessiondb"
)

func TestRedisUser(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_HOST": "r"}, "default"},
		{map[string]string{"REDIS_HOST": "r", "REDIS_USERNAME": "sessiond"}, "sessiond"},
		{map[string]string{"REDIS_URL": "redis://operator:pw@r:6379/0"}, "operator"},
		{map[string]string{"REDIS_URL": "redis://:pw@r:6379/0"}, "default"},
		{map[string]string{"REDIS_URL": "redis://operator:pw@r:6379/0", "REDIS_USERNAME": "probe"}, "probe"},
	} {
		c, err := FromEnv(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if got := c.RedisUser(); got != tc.want {
			t.Errorf("%v: RedisUser() = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestExplainAccessDenied(t *testing.T) {
	c, err := FromEnv(func(k string) string {
		return map[string]string{"REDIS_HOST": "r", "REDIS_USERNAME": "sessiond", "REDIS_PASSWORD_FILE": "/run/pw"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(reply string) error {
		return fmt.Errorf("create session: %w: redis user \"sessiond\": %s", sessiondb.ErrStoreAuth, reply)
	}
	for _, tc := range []struct {
		err  error
		want []string
	}{
		{denied("WRONGPASS invalid username-password pair or user is disabled."),
			[]string{`user "sessiond"`, "WRONGPASS invalid username-password pair or user is disabled)", "REDIS_USERNAME", "REDIS_PASSWORD_FILE (/run/pw)", "REDIS_USERNAME=operator"}},
		{denied("NOAUTH HELLO must be called with the client already authenticated, otherwise ..."),
			[]string{"requires a login", "NOAUTH)", "REDIS_USERNAME=operator"}},
		{denied("NOPERM this user has no permissions to run the 'scan' command"),
			[]string{`user "sessiond" may not run`, "'scan'", "REDIS_USERNAME=operator"}},
	} {
		got := c.ExplainAccessDenied(tc.err, "operator")
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("ExplainAccessDenied(%v) = %q, want it to say %q", tc.err, got, w)
			}
		}
		if strings.Contains(got, "\n") {
			t.Errorf("ExplainAccessDenied(%v) = %q: not one line", tc.err, got)
		}
	}
	if got := c.ExplainAccessDenied(fmt.Errorf("x: %w", sessiondb.ErrUnavailable), "operator"); got != "" {
		t.Errorf("ExplainAccessDenied(unavailable) = %q, want empty", got)
	}
	if got := c.ExplainAccessDenied(errors.New("boom"), "operator"); got != "" {
		t.Errorf("ExplainAccessDenied(other) = %q, want empty", got)
	}
}
