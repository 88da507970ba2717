package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sessiondb/sessiondb"
)

// RedisUser returns the Redis ACL user the configuration logs in as:
// REDIS_USERNAME, else the user of REDIS_URL, else "default".
func (c Config) RedisUser() string {
	if c.RedisUsername != "" {
		return c.RedisUsername
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err == nil && u.User != nil && u.User.Username() != "" {
			return u.User.Username()
		}
	}
	return "default"
}

// ExplainAccessDenied turns a store error matching sessiondb.ErrStoreAuth
// (Redis answered WRONGPASS, NOAUTH or NOPERM) into one line for an
// operator: which user was used, what Redis said, and which settings to
// check. suggest is the user deploy/redis/users.acl has for the program
// ("sessiond", "operator"). It returns "" for other errors.
func (c Config) ExplainAccessDenied(err error, suggest string) string {
	if !errors.Is(err, sessiondb.ErrStoreAuth) {
		return ""
	}
	reply := err.Error()
	for _, code := range []string{"WRONGPASS", "NOAUTH", "NOPERM"} {
		if i := strings.Index(reply, code); i >= 0 {
			reply = strings.TrimSuffix(reply[i:], ".")
			break
		}
	}
	if strings.HasPrefix(reply, "NOAUTH") {
		reply = "NOAUTH" // the rest is about the HELLO command, not the cure
	}
	user := c.RedisUser()
	shipped := fmt.Sprintf("with deploy/redis/users.acl, use REDIS_USERNAME=%s and its password", suggest)
	settings := "REDIS_USERNAME and " + c.passwordSource()
	if u, err := url.Parse(c.RedisURL); c.RedisUsername == "" && c.RedisPasswordFile == "" && c.RedisPassword == "" &&
		err == nil && u.User != nil {
		settings = "the user and password of REDIS_URL"
	}
	switch {
	case strings.HasPrefix(reply, "NOAUTH"):
		return fmt.Sprintf("Redis requires a login and none is configured (user %q, %s): set %s; %s",
			user, reply, settings, shipped)
	case strings.HasPrefix(reply, "NOPERM"):
		return fmt.Sprintf("Redis user %q may not run a command sessiondb needs (%s): check REDIS_USERNAME; %s (deploy/redis/README.md lists each user's rights)",
			user, reply, shipped)
	}
	return fmt.Sprintf("Redis refused the login of user %q: wrong password, unknown user, or user switched off (%s): check %s; %s",
		user, reply, settings, shipped)
}

// passwordSource says where the password comes from, for messages.
func (c Config) passwordSource() string {
	switch {
	case c.RedisPasswordFile != "":
		return "the password in REDIS_PASSWORD_FILE (" + c.RedisPasswordFile + ")"
	case c.RedisPassword != "":
		return "REDIS_PASSWORD"
	case c.RedisURL != "" && strings.Contains(c.RedisURL, "@"):
		return "the password in REDIS_URL"
	}
	return "REDIS_PASSWORD_FILE (no password is set)"
}
