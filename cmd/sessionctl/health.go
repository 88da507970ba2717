package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/config"
	"github.com/sessiondb/sessiondb/internal/redisnode"
	"github.com/sessiondb/sessiondb/redisstore"
)

func cmdHealth(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("health")
	timeout := fs.Duration("timeout", 3*time.Second, "give up and report unhealthy after this long")
	strict := fs.Bool("strict", false, "exit 1 on warnings too (an evicting maxmemory-policy, memory above 90% of maxmemory)")
	fs.help("sessionctl health [--timeout 3s] [--strict]", `
Checks that the configuration is sane and that Redis answers PING within
the timeout, then prints one line saying why it is healthy or not. For
probes, cron jobs and scripts.

Exit codes: 0 healthy; 1 warnings with --strict; 2 bad configuration,
including no Redis configured at all, and a password, user or ACL that Redis
refuses; 3 Redis unreachable, too slow, loading, or a read-only replica.

It needs only PING (a user with just +ping, such as the "probe" user of
deploy/redis/users.acl, is enough): it turns no client-side cache on, and an
INFO refused by the ACL only leaves out the memory figures.

It also reads INFO and warns (exit 0, or 1 with --strict) when Redis has a
maxmemory with a maxmemory-policy other than noeviction, which evicts
sessions and their indexes silently, or when memory use passes 90% of
maxmemory (new sessions are refused at 100%).`, `
  sessionctl health
  sessionctl health --timeout 1s --strict || alert "sessions down"`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	if *timeout <= 0 {
		return a.usageError("--timeout must be positive")
	}
	cfg, err := a.config()
	if err != nil {
		fmt.Fprintf(a.stdout, "unhealthy: configuration: %v\n", oneLine(err))
		return exitCode(exitUsage)
	}
	if !cfg.UsesRedis() {
		fmt.Fprintln(a.stdout, "unhealthy: "+noRedis)
		return exitCode(exitUsage)
	}
	cfg.RedisTimeout = min(cfg.RedisTimeout, *timeout)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	done := make(chan health, 1)
	go func() { done <- checkHealth(ctx, cfg) }()
	var h health
	select {
	case h = <-done:
	case <-ctx.Done():
		h = health{code: exitUnavailable, msg: fmt.Sprintf("%s did not answer within %s", cfg.Describe(), *timeout)}
	}
	switch {
	case h.code != exitOK:
		fmt.Fprintf(a.stdout, "unhealthy: %s\n", h.msg)
		return exitCode(h.code)
	case len(h.warnings) > 0:
		fmt.Fprintf(a.stdout, "ok with warnings: %s; warning: %s\n", h.msg, strings.Join(h.warnings, "; warning: "))
		if *strict {
			return exitCode(exitError)
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "ok: %s\n", h.msg)
	return nil
}

type health struct {
	code     int
	msg      string
	warnings []string
}

// checkHealth connects, pings and reads INFO from every node.
func checkHealth(ctx context.Context, cfg config.Config) health {
	opt, err := cfg.ClientOption()
	if err != nil {
		return health{code: exitUsage, msg: "configuration: " + oneLine(err)}
	}
	// No client-side cache: a health check reads nothing worth caching, and
	// turning it on (CLIENT TRACKING) takes a right that a probe user, such
	// as deploy/redis/users.acl's "probe" (PING only), does not have.
	opt.DisableCache = true
	rs, err := redisstore.Open(opt, redisstore.Options{Prefix: cfg.KeyPrefix, Timeout: cfg.RedisTimeout})
	if err != nil {
		return health{code: exitUsage, msg: "configuration: " + oneLine(err)}
	}
	defer rs.Close()
	start := time.Now()
	if err := rs.Ping(ctx); err != nil {
		if errors.Is(err, sessiondb.ErrStoreAuth) {
			return health{code: exitUsage, msg: fmt.Sprintf("%s: %s", cfg.Describe(), cfg.ExplainAccessDenied(err, "probe"))}
		}
		return health{code: exitUnavailable, msg: fmt.Sprintf("%s: %s", cfg.Describe(), oneLine(err))}
	}
	took := time.Since(start)
	h := health{msg: fmt.Sprintf("%s answered PING in %s", cfg.Describe(), took.Round(10*time.Microsecond))}
	c, err := rs.Client()
	if err != nil {
		return health{code: exitUnavailable, msg: fmt.Sprintf("%s: %s", cfg.Describe(), oneLine(err))}
	}
	var details []string
	for addr, node := range c.Nodes() {
		info, err := node.Do(ctx, node.B().Info().Section("server", "memory", "replication").Build()).ToString()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return health{code: exitUnavailable, msg: fmt.Sprintf("%s: INFO on %s timed out", cfg.Describe(), addr)}
			}
			// INFO may be denied by an ACL; PING answered, which is what counts.
			if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "NOPERM") {
				details = append(details, fmt.Sprintf("INFO not allowed for user %s", cfg.RedisUser()))
				continue
			}
			h.warnings = append(h.warnings, fmt.Sprintf("INFO on %s failed: %s", addr, oneLine(err)))
			continue
		}
		f := redisnode.ParseInfo(info)
		if f["role"] == "slave" && len(c.Nodes()) == 1 {
			return health{code: exitUnavailable, msg: fmt.Sprintf("%s is a read-only replica; point the configuration at the primary (or at Sentinel)", cfg.Describe())}
		}
		if f["role"] != "master" {
			continue // a cluster replica: its primary is checked too
		}
		used, _ := strconv.ParseInt(f["used_memory"], 10, 64)
		limit, _ := strconv.ParseInt(f["maxmemory"], 10, 64)
		d := "redis " + f["redis_version"] + ", memory " + bytesText(used)
		if limit > 0 {
			d += fmt.Sprintf(" of %s", bytesText(limit))
			if p := f["maxmemory_policy"]; p != "" && p != "noeviction" {
				h.warnings = append(h.warnings, fmt.Sprintf("%s has maxmemory-policy %s, which evicts sessions and indexes silently at the limit; use noeviction", addr, p))
			}
			if float64(used) > 0.9*float64(limit) {
				h.warnings = append(h.warnings, fmt.Sprintf("%s uses %.0f%% of maxmemory; new sessions are refused at 100%%", addr, 100*float64(used)/float64(limit)))
			}
		}
		details = append(details, d)
	}
	if len(details) > 0 {
		h.msg += " (" + strings.Join(details, "; ") + ")"
	}
	return h
}

// oneLine keeps an error message on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
