package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/internal/redisnode"
	"github.com/sessiondb/sessiondb/redisstore"
)

func cmdMonitor(ctx context.Context, a *app, args []string) error {
	fs := a.flagSet("monitor")
	interval := fs.Duration("interval", time.Second, "time between refreshes")
	count := fs.Int("count", 0, "stop after this many refreshes (0: run until Ctrl-C)")
	plain := fs.Bool("plain", false, "one plain line per refresh even on a terminal")
	fs.help("sessionctl monitor [--interval 1s] [--count N] [--plain]", `
A live view of the session database, refreshed every interval:

  active        live sessions; users with sessions; expired not yet cleaned
  creates/s     sessions created per second (from the store's counters)
  validates/s   GET commands per second on the Redis server (INFO
                commandstats): every validation is one GET, but so is every
                other GET the server runs (two per revoke, one per session
                listed, those of other applications on the same server),
                and validations served from the client-side cache
                (REDIS_CLIENT_CACHE_SECONDS) are not seen
  invalidations/s  sessions ended per second by revoke, logout, revoke-user
  evictions/s   sessions ended per second by the per-user limit
  redis_evicted Redis keys evicted by maxmemory since Redis started (should
                stay 0: use maxmemory-policy noeviction)
  memory        Redis used_memory of maxmemory
  latency       the time a PING takes from here

On a terminal the screen is redrawn in place; otherwise (or with --plain)
one line of key=value fields is printed per refresh, for logs and scripts.
Ctrl-C ends it cleanly, as does --count N, after N screens or lines. The
exit code is 3 when the last refresh could not reach Redis, 0 otherwise.`, `
  sessionctl monitor
  sessionctl monitor --interval 5s --count 12 --plain >> sessions.log`)
	rest, err := a.parse(fs, args, true)
	if err != nil {
		return err
	}
	if err := a.wantArgs(rest); err != nil {
		return err
	}
	if *interval < 10*time.Millisecond {
		return a.usageError("--interval must be at least 10ms")
	}
	if *count < 0 {
		return a.usageError("--count must not be negative")
	}
	m, cfg, err := a.open()
	if err != nil {
		return err
	}
	defer m.Store().Close()
	rs := redisStore(m)
	full := !*plain && isTerminal(a.stdout)
	title := fmt.Sprintf("sessionctl monitor: %s, every %s, Ctrl-C to quit", cfg.Describe(), *interval)

	// Each frame (a screen, or a plain line) is one refresh of --count. The
	// screen shows the first reading at once; a plain line needs two
	// readings for its rates, so the first is taken silently.
	prev := takeSample(ctx, m, rs, cfg.RedisTimeout)
	last := prev
	frames := 0
	if full {
		drawScreen(a.stdout, title, nil, prev)
		frames++
	}
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()
	for ; *count == 0 || frames < *count; frames++ {
		select {
		case <-ctx.Done():
			if full {
				fmt.Fprintln(a.stdout)
			}
			return nil
		case <-ticker.C:
		}
		cur := takeSample(ctx, m, rs, cfg.RedisTimeout)
		if ctx.Err() != nil {
			return nil
		}
		if full {
			drawScreen(a.stdout, title, &prev, cur)
		} else {
			fmt.Fprintln(a.stdout, sampleLine(prev, cur))
		}
		if cur.err == nil {
			prev = cur
		}
		last = cur
	}
	if last.err != nil {
		return exitCode(exitUnavailable)
	}
	return nil
}

// sample is one reading of the store and Redis.
type sample struct {
	at          time.Time
	err         error
	stats       sessiondb.Stats
	gets        int64 // cmdstat_get calls, summed over the primaries
	evictedKeys int64 // INFO stats evicted_keys, summed over the primaries
	latency     time.Duration
	policy      string // maxmemory-policy
}

// takeSample reads the statistics, INFO and a PING's latency. Each Redis
// call is bounded by timeout.
func takeSample(ctx context.Context, m *sessiondb.Manager, rs *redisstore.Store, timeout time.Duration) sample {
	s := sample{at: time.Now()}
	c, err := rs.Client()
	if err != nil {
		s.err = err
		return s
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err = c.Do(pctx, c.B().Ping().Build()).Error()
	s.latency = time.Since(start)
	cancel()
	if err != nil {
		s.err = err
		return s
	}
	if s.stats, err = m.Stats(ctx); err != nil {
		s.err = err
		return s
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nodes, err := redisnode.Primaries(ictx, c)
	if err != nil {
		s.err = err
		return s
	}
	for _, n := range nodes {
		info, err := n.Client.Do(ictx, n.Client.B().Info().Section("stats", "commandstats", "memory").Build()).ToString()
		if err != nil {
			s.err = err
			return s
		}
		f := redisnode.ParseInfo(info)
		ev, _ := strconv.ParseInt(f["evicted_keys"], 10, 64)
		s.evictedKeys += ev
		s.gets += commandCalls(f["cmdstat_get"])
		s.policy = f["maxmemory_policy"]
	}
	return s
}

// commandCalls reads calls=N from an INFO commandstats value.
func commandCalls(v string) int64 {
	for field := range strings.SplitSeq(v, ",") {
		if n, ok := strings.CutPrefix(field, "calls="); ok {
			c, _ := strconv.ParseInt(n, 10, 64)
			return c
		}
	}
	return 0
}

// rates are the per-second rates between two samples.
type rates struct {
	known                                        bool
	creates, validates, invalidations, evictions float64
}

func rateBetween(prev, cur sample) rates {
	if prev.err != nil || cur.err != nil || prev.at.IsZero() {
		return rates{}
	}
	dt := cur.at.Sub(prev.at).Seconds()
	if dt <= 0 {
		return rates{}
	}
	per := func(a, b int64) float64 { return max(float64(b-a), 0) / dt }
	return rates{
		known:         true,
		creates:       per(prev.stats.Created, cur.stats.Created),
		validates:     per(prev.gets, cur.gets),
		invalidations: per(prev.stats.Invalidated, cur.stats.Invalidated),
		evictions:     per(prev.stats.Evicted, cur.stats.Evicted),
	}
}

func rateText(known bool, v float64) string {
	if !known {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func memoryText(st sessiondb.Stats) string {
	if st.MemoryMax <= 0 {
		return bytesText(st.MemoryUsed) + " (no maxmemory)"
	}
	return fmt.Sprintf("%s of %s (%.1f%%)", bytesText(st.MemoryUsed), bytesText(st.MemoryMax), 100*st.MemoryRatio())
}

// sampleLine is the plain form: one line of key=value fields.
func sampleLine(prev, cur sample) string {
	ts := cur.at.UTC().Format("2006-01-02T15:04:05.000Z")
	if cur.err != nil {
		return fmt.Sprintf("%s error=%s", ts, strconv.Quote(oneLine(cur.err)))
	}
	r := rateBetween(prev, cur)
	st := cur.stats
	maxmem := "none"
	if st.MemoryMax > 0 {
		maxmem = compact(bytesText(st.MemoryMax))
	}
	return fmt.Sprintf("%s active=%d users=%d expired=%d creates/s=%s validates/s=%s invalidations/s=%s evictions/s=%s redis_evicted=%d memory=%s maxmemory=%s latency=%s",
		ts, st.Active, st.Users, st.Expired,
		rateText(r.known, r.creates), rateText(r.known, r.validates), rateText(r.known, r.invalidations), rateText(r.known, r.evictions),
		cur.evictedKeys, compact(bytesText(st.MemoryUsed)), maxmem, cur.latency.Round(time.Microsecond))
}

func compact(s string) string { return strings.ReplaceAll(s, " ", "") }

// drawScreen is the full-screen form: clear, home, and a small table.
func drawScreen(w io.Writer, title string, prev *sample, cur sample) {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J")
	b.WriteString(title + "\n" + cur.at.Format("2006-01-02 15:04:05 MST") + "\n\n")
	if cur.err != nil {
		b.WriteString("Redis unreachable: " + oneLine(cur.err) + "\n")
		fmt.Fprint(w, b.String())
		return
	}
	var r rates
	if prev != nil {
		r = rateBetween(*prev, cur)
	}
	st := cur.stats
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "sessions\tactive %d\tusers %d\texpired, not cleaned %d\n", st.Active, st.Users, st.Expired)
	fmt.Fprintf(tw, "per second\tcreates %s\tvalidates %s\tinvalidations %s\tevictions %s\n",
		rateText(r.known, r.creates), rateText(r.known, r.validates), rateText(r.known, r.invalidations), rateText(r.known, r.evictions))
	fmt.Fprintf(tw, "totals\tcreated %d\tinvalidated %d\tevicted %d\n", st.Created, st.Invalidated, st.Evicted)
	policy := cur.policy
	if policy == "" {
		policy = "unknown"
	}
	fmt.Fprintf(tw, "redis\tmemory %s\tpolicy %s\tevicted keys %d\tlatency %s\n", memoryText(st), policy, cur.evictedKeys, cur.latency.Round(time.Microsecond))
	tw.Flush()
	if cur.evictedKeys > 0 {
		b.WriteString("\nwarning: Redis has evicted keys (maxmemory): sessions may have been lost; use maxmemory-policy noeviction\n")
	}
	fmt.Fprint(w, b.String())
}
