package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
)

func cmdConnect(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("connect")
	cli := fs.String("redis-cli", "redis-cli", "the redis-cli program to run (a `PATH` or a name looked up in $PATH)")
	printOnly := fs.Bool("print", false, "print the redis-cli command line instead of running it (the password is never printed)")
	fs.help("sessionctl connect [--print] [--redis-cli PATH] [-- redis-cli arguments]", `
Runs redis-cli on the configured Redis: host and port (or unix socket),
database, TLS (--tls, --cacert REDIS_TLS_CA_FILE, --sni), ACL user (--user)
and, for Redis Cluster, -c. With Sentinel it asks the sentinels for the
current primary first. Arguments after "--" go to redis-cli unchanged.

The password (REDIS_PASSWORD, REDIS_PASSWORD_FILE or the URL's) reaches
redis-cli through the REDISCLI_AUTH environment variable, never its
command line, where ps would show it to every user of the machine.

The exit code is redis-cli's, which it runs with -e: a command that Redis
answers with an error exits 1. A password or user that Redis refuses is
reported before redis-cli starts (exit 2).`, `
  sessionctl connect
  sessionctl connect -- INFO memory
  sessionctl connect -- --scan --pattern 'sdb:*'
  sessionctl --redis-url rediss://app@redis.internal:6380/0 connect --print`)
	rest, err := a.parse(fs, args, false)
	if err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return a.failf(exitUsage, "configuration: %v", err)
	}
	if !cfg.UsesRedis() {
		return a.failf(exitUsage, "%s", noRedis)
	}
	argv, password, err := cliCommand(ctx, cfg)
	if err != nil {
		var ce configError
		switch {
		case errors.Is(err, sessiondb.ErrStoreAuth):
			return a.failf(exitUsage, "%s", cfg.ExplainAccessDenied(err, "operator"))
		case errors.As(err, &ce):
			return a.failf(exitUsage, "configuration: %v", err)
		}
		return a.failf(exitUnavailable, "%v", err)
	}
	argv = append(argv, rest...)
	if *printOnly {
		fmt.Fprintln(a.stdout, shellJoin(append([]string{*cli}, argv...)))
		if password != "" {
			fmt.Fprintln(a.stdout, "# with the password in the REDISCLI_AUTH environment variable (not shown)")
		}
		return nil
	}
	path, err := exec.LookPath(*cli)
	if err != nil {
		return a.failf(exitError, "%s not found: install it (Debian/Ubuntu: apt-get install redis-tools) or name it with --redis-cli", *cli)
	}
	cmd := exec.Command(path, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	cmd.Env = childEnv(password)
	// Ctrl-C goes to redis-cli (same process group); sessionctl's context is
	// cancelled by it, and keeps waiting for redis-cli to exit.
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if c := ee.ExitCode(); c > 0 {
				return exitCode(c)
			}
			return exitCode(exitError)
		}
		return a.failf(exitError, "%v", err)
	}
	return nil
}

// configError is a configuration problem found while building the command.
type configError struct{ error }

// cliCommand returns redis-cli's arguments for the configured Redis and the
// password to pass in REDISCLI_AUTH.
func cliCommand(ctx context.Context, cfg config.Config) (argv []string, password string, err error) {
	opt, err := cfg.ClientOption()
	if err != nil {
		return nil, "", configError{err}
	}
	if len(opt.InitAddress) == 0 {
		return nil, "", configError{errors.New("no Redis address")}
	}
	addr := opt.InitAddress[0]
	cluster := len(opt.InitAddress) > 1
	unix := strings.HasPrefix(cfg.RedisURL, "unix:")
	if !unix {
		// Ask Redis what it is: the primary's address under Sentinel, and
		// whether it is a cluster (then redis-cli must follow redirections).
		mode, primary, err := probe(ctx, opt, cfg.RedisTimeout)
		if err != nil {
			if reply := err.Error(); strings.HasPrefix(reply, "WRONGPASS") || strings.HasPrefix(reply, "NOAUTH") {
				// redis-cli would start anyway and fail at each command.
				return nil, "", fmt.Errorf("%w: %s", sessiondb.ErrStoreAuth, reply)
			}
		}
		switch {
		case err != nil && opt.Sentinel.MasterSet != "":
			return nil, "", fmt.Errorf("cannot find the primary of %q from the sentinels: %v", opt.Sentinel.MasterSet, err)
		case err == nil && mode == rueidis.ClientModeSentinel:
			addr = primary
		case err == nil && mode == rueidis.ClientModeCluster:
			cluster = true
		}
	}
	if unix {
		argv = append(argv, "-s", addr)
	} else {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, "", configError{fmt.Errorf("bad Redis address %q", addr)}
		}
		argv = append(argv, "-h", host, "-p", port)
		if opt.TLSConfig != nil {
			argv = append(argv, "--tls")
			if cfg.RedisTLSCAFile != "" {
				argv = append(argv, "--cacert", cfg.RedisTLSCAFile)
			}
			if net.ParseIP(host) == nil {
				argv = append(argv, "--sni", host)
			}
		}
	}
	// -e: a command that Redis answers with an error makes redis-cli, and
	// so sessionctl, exit non-zero (1), as scripts expect.
	argv = append(argv, "-e")
	if cluster {
		argv = append(argv, "-c")
	} else {
		argv = append(argv, "-n", strconv.Itoa(opt.SelectDB))
	}
	if opt.Username != "" {
		argv = append(argv, "--user", opt.Username)
	}
	return argv, opt.Password, nil
}

// probe connects briefly to learn the deployment's mode and, under
// Sentinel, the primary's address.
func probe(ctx context.Context, opt rueidis.ClientOption, timeout time.Duration) (rueidis.ClientMode, string, error) {
	opt.Dialer.Timeout = timeout
	opt.ConnWriteTimeout = timeout
	opt.DisableCache = true
	opt.DisableRetry = true
	type result struct {
		mode rueidis.ClientMode
		addr string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(opt)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		r := result{mode: c.Mode()}
		for a := range c.Nodes() {
			r.addr = a
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.mode, r.addr, r.err
	case <-time.After(timeout):
		return "", "", fmt.Errorf("no answer within %s", timeout)
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
}

// childEnv is sessionctl's environment with REDISCLI_AUTH set to the
// password (or left as the caller set it when there is none).
func childEnv(password string) []string {
	env := os.Environ()
	if password == "" {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "REDISCLI_AUTH=") {
			out = append(out, kv)
		}
	}
	return append(out, "REDISCLI_AUTH="+password)
}

// shellJoin quotes arguments for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, s := range args {
		if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
			out[i] = s
		} else {
			out[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
