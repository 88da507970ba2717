package hardening

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/sessiondclient"
)

// Soak settings. SESSIONDB_SOAK sets the duration; SESSIONDB_SOAK_OUT names
// a file for the samples (JSON).
const (
	soakEnv      = "SESSIONDB_SOAK"
	soakOutEnv   = "SESSIONDB_SOAK_OUT"
	soakWorkers  = 8
	soakUsers    = 500
	soakTokens   = 32     // tokens each worker holds
	soakMaxOps   = 50_000 // per worker and minute: the count bound of the load loop
	soakInterval = time.Second
)

// soakEnvironment is sessiond's configuration under the soak: short lives
// (sessions expire and are cleaned up while it runs), a per-user limit that
// creates pass (the oldest are evicted), the client-side cache on (its
// entries and the keys written lately come and go), and a frequent
// background cleanup.
var soakEnvironment = map[string]string{
	"SESSION_TTL_SECONDS":        "30",
	"SESSION_MAX_TTL_SECONDS":    "120",
	"MAX_SESSIONS_PER_USER":      "3",
	"SESSION_LIMIT_POLICY":       "evict-oldest",
	"CLEANUP_INTERVAL_SECONDS":   "10",
	"REDIS_CLIENT_CACHE_SECONDS": "30",
}

// Growth thresholds of the trend check: over the second half of the run,
// the least-squares line of a series may rise by at most frac of the
// series' mean over that half plus floor. A leak of a goroutine, a
// descriptor or a few kilobytes a second over five minutes passes them;
// the garbage collector's saw-tooth does not.
var soakLimits = []struct {
	name  string
	frac  float64
	floor float64
}{
	{"heap_inuse_bytes", 0.25, 4 << 20},
	{"goroutines", 0.10, 10},
	{"open_fds", 0.10, 10},
}

// soakSample is sessiond's state at one second of the run.
type soakSample struct {
	Second         float64 `json:"second"`
	HeapInuseBytes float64 `json:"heap_inuse_bytes"`
	Goroutines     float64 `json:"goroutines"`
	OpenFDs        float64 `json:"open_fds"`
	Ops            int64   `json:"ops"`    // calls made so far
	Errors         int64   `json:"errors"` // failed calls so far
}

func (s soakSample) value(name string) float64 {
	switch name {
	case "heap_inuse_bytes":
		return s.HeapInuseBytes
	case "goroutines":
		return s.Goroutines
	}
	return s.OpenFDs
}

// soakOps are the calls of the load, each with its weight.
var soakOps = []struct {
	name   string
	weight int
}{
	{"validate", 46}, {"create", 16}, {"refresh", 8}, {"rotate", 7}, {"update_metadata", 7},
	{"logout", 6}, {"list", 5}, {"revoke_all", 3}, {"revoke_all_but_one", 2},
}

// TestSoak runs a mixed load against one sessiond on Redis for a bounded
// time (one minute, or SESSIONDB_SOAK) and samples sessiond's heap in use,
// goroutines and open file descriptors every second from its /metrics. It
// asserts no failed call and no growth trend over the second half of the
// run (soakLimits), never how fast anything went.
func TestSoak(t *testing.T) {
	duration := envDuration(t, soakEnv, time.Minute)
	loadBefore := loadAverage()
	c := startCluster(t, 1, soakEnvironment)
	d, cl := c.daemons[0], c.clients[0]
	t.Logf("soak: %v, %d workers, %d users, sessiond %s, %d CPUs", duration, soakWorkers, soakUsers, d.URL, runtime.NumCPU())

	var (
		ops, failures atomic.Int64
		counts        [16]atomic.Int64 // by soakOps index
		errMu         sync.Mutex
		firstErrs     []string
	)
	fail := func(op string, err error) {
		failures.Add(1)
		errMu.Lock()
		if len(firstErrs) < 10 {
			firstErrs = append(firstErrs, op+": "+err.Error())
		}
		errMu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	deadline := start.Add(duration)
	maxOps := soakMaxOps * int(duration/time.Minute+1)

	var wg sync.WaitGroup
	for w := range soakWorkers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			tokens := make([]string, 0, soakTokens)
			for i := 0; i < maxOps && time.Now().Before(deadline); i++ {
				k := pickOp(rng)
				op := soakOps[k].name
				if len(tokens) == 0 && op != "list" && op != "revoke_all" {
					op, k = "create", 1
				}
				err := soakCall(ctx, cl, rng, op, &tokens)
				ops.Add(1)
				counts[k].Add(1)
				if err != nil && !errors.Is(err, sessiondb.ErrNotFound) {
					fail(op, err)
				}
			}
		})
	}

	// Clean up now and then, as an operator's POST /v1/cleanup would, on top
	// of sessiond's own background cleanup.
	wg.Go(func() {
		for i := 0; time.Now().Before(deadline) && i < int(duration/(5*time.Second))+1; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			if _, err := cl.Cleanup(ctx); err != nil {
				fail("cleanup", err)
			}
		}
	})

	var samples []soakSample
	scrape := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(soakInterval)
	for n := 0; time.Now().Before(deadline) && n < int(duration/soakInterval)+2; n++ {
		<-tick.C
		s, err := scrapeSample(scrape, d.URL)
		if err != nil {
			fail("metrics", err)
			continue
		}
		s.Second = time.Since(start).Seconds()
		s.Ops, s.Errors = ops.Load(), failures.Load()
		samples = append(samples, s)
	}
	tick.Stop()
	wg.Wait()
	scrape.CloseIdleConnections()

	byOp := map[string]int64{}
	for i, o := range soakOps {
		byOp[o.name] = counts[i].Load()
	}
	t.Logf("soak: %d calls (%v), %d failed, %d samples", ops.Load(), byOp, failures.Load(), len(samples))
	if failures.Load() > 0 {
		t.Errorf("%d calls failed; the first: %s", failures.Load(), strings.Join(firstErrs, "; "))
	}
	if len(samples) < 10 {
		t.Fatalf("only %d samples: too few to judge a trend", len(samples))
	}
	trends := map[string]soakTrend{}
	half := samples[len(samples)/2:]
	for _, lim := range soakLimits {
		tr := trendOf(half, lim.name)
		tr.Limit = lim.frac*tr.Mean + lim.floor
		trends[lim.name] = tr
		t.Logf("soak: %s: first %.0f, mean of the second half %.0f, its least-squares growth %.0f (limit %.0f), last %.0f",
			lim.name, samples[0].value(lim.name), tr.Mean, tr.Growth, tr.Limit, samples[len(samples)-1].value(lim.name))
		if tr.Growth > tr.Limit {
			t.Errorf("%s grows: %.0f over the second half of the run (%.0fs), above the limit %.0f", lim.name, tr.Growth, tr.Seconds, tr.Limit)
		}
	}
	if out := os.Getenv(soakOutEnv); out != "" {
		writeSoakResult(t, out, soakResult{
			Duration: duration.String(), Workers: soakWorkers, Users: soakUsers, CPUs: runtime.NumCPU(),
			LoadAverage: [2]string{loadBefore, loadAverage()},
			Sessiond:    soakEnvironment, Calls: ops.Load(), CallsByOp: byOp, Failed: failures.Load(),
			Trends: trends, Samples: samples,
		})
	}
}

// pickOp picks the index of an operation by weight.
func pickOp(rng *rand.Rand) int {
	total := 0
	for _, o := range soakOps {
		total += o.weight
	}
	n := rng.IntN(total)
	for i, o := range soakOps {
		if n < o.weight {
			return i
		}
		n -= o.weight
	}
	return 0
}

// soakCall makes one call of the load. tokens are the worker's sessions;
// a call that ends or replaces one updates them. Not-found outcomes (a
// session evicted, expired or revoked by another worker) are the caller's
// to ignore.
func soakCall(ctx context.Context, cl *sessiondclient.Client, rng *rand.Rand, op string, tokens *[]string) error {
	user := fmt.Sprintf("soak-user-%d", rng.IntN(soakUsers))
	tok := ""
	at := 0
	if len(*tokens) > 0 {
		at = rng.IntN(len(*tokens))
		tok = (*tokens)[at]
	}
	drop := func() { // the session named by tok is gone
		(*tokens)[at] = (*tokens)[len(*tokens)-1]
		*tokens = (*tokens)[:len(*tokens)-1]
	}
	notFound := func(err error) error {
		if errors.Is(err, sessiondb.ErrNotFound) {
			drop()
		}
		return err
	}
	switch op {
	case "create":
		s, err := cl.Create(ctx, user, 0, map[string]string{"ip": "192.0.2.1", "user_agent": "soak/1"})
		if err != nil {
			return err
		}
		if len(*tokens) < soakTokens {
			*tokens = append(*tokens, string(s.Token))
		} else {
			(*tokens)[rng.IntN(soakTokens)] = string(s.Token)
		}
		return nil
	case "validate":
		_, err := cl.Validate(ctx, tok)
		return notFound(err)
	case "refresh":
		_, err := cl.Refresh(ctx, tok, time.Duration(10+rng.IntN(50))*time.Second)
		return notFound(err)
	case "rotate":
		s, err := cl.Rotate(ctx, tok)
		if err != nil {
			return notFound(err)
		}
		(*tokens)[at] = string(s.Token)
		return nil
	case "update_metadata":
		_, err := cl.UpdateMetadata(ctx, tok, func(md map[string]string) error {
			md["n"] = strconv.Itoa(rng.IntN(1000))
			delete(md, "user_agent")
			return nil
		})
		return notFound(err)
	case "logout":
		err := cl.Invalidate(ctx, tok)
		if err == nil {
			drop()
		}
		return notFound(err)
	case "list":
		_, err := cl.UserSessions(ctx, user)
		return err
	case "revoke_all":
		_, err := cl.InvalidateUser(ctx, user, "")
		return err
	case "revoke_all_but_one":
		s, err := cl.Validate(ctx, tok)
		if err != nil {
			return notFound(err)
		}
		_, err = cl.InvalidateUser(ctx, s.UserID, s.ID)
		return err
	}
	return fmt.Errorf("unknown operation %q", op)
}

// scrapeSample reads sessiond's heap in use, goroutines and open file
// descriptors from its /metrics.
func scrapeSample(c *http.Client, base string) (soakSample, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return soakSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return soakSample{}, fmt.Errorf("/metrics: %s", resp.Status)
	}
	var s soakSample
	found := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case "go_memstats_heap_inuse_bytes":
			dst = &s.HeapInuseBytes
		case "go_goroutines":
			dst = &s.Goroutines
		case "process_open_fds":
			dst = &s.OpenFDs
		default:
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return soakSample{}, fmt.Errorf("/metrics: %s %q: %v", name, value, err)
		}
		*dst = v
		found++
	}
	if err := sc.Err(); err != nil {
		return soakSample{}, err
	}
	if found != 3 {
		return soakSample{}, errors.New("/metrics lacks go_memstats_heap_inuse_bytes, go_goroutines or process_open_fds")
	}
	return s, nil
}

// soakTrend is the least-squares line of one series over a part of the run.
type soakTrend struct {
	Seconds   float64 `json:"seconds"`    // length of the part
	Mean      float64 `json:"mean"`       // mean of the series
	PerSecond float64 `json:"per_second"` // slope
	Growth    float64 `json:"growth"`     // slope × length
	Limit     float64 `json:"limit"`      // largest growth allowed
}

func trendOf(samples []soakSample, name string) soakTrend {
	n := float64(len(samples))
	var sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.Second, s.value(name)
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	tr := soakTrend{Mean: sy / n, Seconds: samples[len(samples)-1].Second - samples[0].Second}
	if den := n*sxx - sx*sx; den != 0 {
		tr.PerSecond = (n*sxy - sx*sy) / den
	}
	tr.Growth = tr.PerSecond * tr.Seconds
	return tr
}

// soakResult is the file SESSIONDB_SOAK_OUT names.
type soakResult struct {
	Duration string `json:"duration"`
	Workers  int    `json:"workers"`
	Users    int    `json:"users"`
	CPUs     int    `json:"cpus"`
	// The machine's /proc/loadavg before and after the run: the load the
	// call counts were made under.
	LoadAverage [2]string            `json:"load_average"`
	Sessiond    map[string]string    `json:"sessiond_environment"`
	Calls       int64                `json:"calls"`
	CallsByOp   map[string]int64     `json:"calls_by_op"`
	Failed      int64                `json:"failed"`
	Trends      map[string]soakTrend `json:"trends_second_half"`
	Samples     []soakSample         `json:"samples"`
}

// loadAverage returns the machine's /proc/loadavg, or "unknown" where there
// is none.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func writeSoakResult(t *testing.T, path string, r soakResult) {
	t.Helper()
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatalf("%s: %v", soakOutEnv, err)
	}
	t.Logf("soak: samples written to %s", path)
}
