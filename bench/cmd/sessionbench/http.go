package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// httpResult is one wrk run against sessiond: a route, with or without the
// client-side cache, and sessiond's CPU per request.
type httpResult struct {
	Route       string  `json:"route"`
	ClientCache bool    `json:"client_cache"`
	Run         int     `json:"run"`
	Requests    int64   `json:"requests"`
	Non2xx      int64   `json:"non_2xx"`
	ReqPerSec   float64 `json:"req_per_sec"`
	CPUusPerReq float64 `json:"sessiond_cpu_us_per_req"`
	// Ratio is validate's req/s over /healthz's of the same run and
	// process; set on validate rows.
	Ratio float64 `json:"ratio_to_healthz,omitempty"`
}

// httpMode measures sessiond over HTTP with wrk, an external load generator
// (1 thread, 64 kept-alive connections, like the figures of issue 11):
// GET /healthz, which does no I/O and so is the HTTP floor of the process,
// and POST /v1/sessions/validate, alternately on the same process, without
// and then with the client-side cache. sessiond's CPU per request comes from
// /proc/<pid>/stat (utime + stime).
func httpMode(o options, addr string) ([]httpResult, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return nil, fmt.Errorf("wrk not found (apt-get install -y wrk): %w", err)
	}
	bin := o.sessiond
	switch {
	case bin == "none" || strings.HasPrefix(bin, "http://"):
		return nil, fmt.Errorf("-mode http starts sessiond itself: -sessiond must be 'build' or a binary path")
	case bin == "build":
		dir, err := os.MkdirTemp("", "sessionbench-build")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if bin, err = buildSessiond(dir); err != nil {
			return nil, err
		}
	}
	dur := o.duration
	if dur < time.Second {
		dur = time.Second
	}
	var out []httpResult
	for _, cache := range []bool{false, true} {
		env := []string{"REDIS_CLIENT_CACHE_SECONDS=0"}
		if cache {
			env = []string{"REDIS_CLIENT_CACHE_SECONDS=60"}
		}
		sd, err := startSessiond(bin, addr, env...)
		if err != nil {
			return nil, err
		}
		rows, err := httpRuns(o, wrk, sd, cache, dur)
		sd.stop()
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	for _, cache := range []bool{false, true} {
		var h, v, cpuH, cpuV, ratios []float64
		for _, r := range out {
			if r.ClientCache != cache {
				continue
			}
			if r.Route == "/healthz" {
				h, cpuH = append(h, r.ReqPerSec), append(cpuH, r.CPUusPerReq)
			} else {
				v, cpuV, ratios = append(v, r.ReqPerSec), append(cpuV, r.CPUusPerReq), append(ratios, r.Ratio)
			}
		}
		fmt.Printf("sessiond http, client cache %-5v: /healthz %6.0f req/s %5.1fµs CPU/req; validate %6.0f req/s %5.1fµs CPU/req; validate/healthz ×%.2f (median of %d)\n",
			cache, median(h), median(cpuH), median(v), median(cpuV), median(ratios), len(ratios))
	}
	return out, nil
}

// httpRuns creates a session through sd and runs wrk o.runs times on each
// route, alternating, so that both routes see the same machine.
func httpRuns(o options, wrk string, sd *sessiondProc, cache bool, dur time.Duration) ([]httpResult, error) {
	tok, err := (&sessiondTarget{addr: strings.TrimPrefix(sd.base, "http://"), key: sd.key, conns: make(chan *httpConn, 1)}).create(context.Background(), 1)
	if err != nil {
		return nil, fmt.Errorf("create a session through sessiond: %w", err)
	}
	dir, err := os.MkdirTemp("", "sessionbench-wrk")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	healthz := filepath.Join(dir, "healthz.lua")
	validate := filepath.Join(dir, "validate.lua")
	auth := fmt.Sprintf("wrk.headers[\"Authorization\"] = \"Bearer %s\"\n", sd.key)
	if err := os.WriteFile(healthz, []byte(auth), 0o600); err != nil {
		return nil, err
	}
	body := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = '{\"token\":\"%s\"}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n%s", tok, auth)
	if err := os.WriteFile(validate, []byte(body), 0o600); err != nil {
		return nil, err
	}
	var out []httpResult
	for run := range max(o.runs, 1) {
		var hz float64
		for _, route := range []string{"/healthz", "/v1/sessions/validate"} {
			script := healthz
			if route != "/healthz" {
				script = validate
			}
			r, err := runWrk(wrk, sd.cmd.Process.Pid, script, sd.base+route, dur)
			if err != nil {
				return nil, err
			}
			r.Route, r.ClientCache, r.Run = route, cache, run
			if route == "/healthz" {
				hz = r.ReqPerSec
			} else if hz > 0 {
				r.Ratio = r.ReqPerSec / hz
			}
			if r.Non2xx > 0 {
				return nil, fmt.Errorf("%s: %d answers were not 2xx", route, r.Non2xx)
			}
			fmt.Printf("  cache=%-5v run %d %-22s %8.0f req/s  %5.1fµs sessiond CPU/req", cache, run+1, route, r.ReqPerSec, r.CPUusPerReq)
			if r.Ratio > 0 {
				fmt.Printf("  ×%.2f of /healthz", r.Ratio)
			}
			fmt.Println()
			out = append(out, r)
		}
	}
	return out, nil
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in`)
	wrkRate     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk runs wrk -t1 -c64 on url for dur and reads pid's CPU time before
// and after.
func runWrk(wrk string, pid int, script, url string, dur time.Duration) (httpResult, error) {
	var r httpResult
	cpu0, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	secs := strconv.Itoa(int(dur.Round(time.Second) / time.Second))
	cmd := exec.Command(wrk, "-t1", "-c64", "-d"+secs+"s", "--timeout", "2s", "-s", script, url)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("wrk: %w", err)
	}
	cpu1, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	text := stdout.String()
	m1, m2 := wrkRequests.FindStringSubmatch(text), wrkRate.FindStringSubmatch(text)
	if m1 == nil || m2 == nil {
		return r, fmt.Errorf("unexpected wrk output:\n%s", text)
	}
	r.Requests, _ = strconv.ParseInt(m1[1], 10, 64)
	r.ReqPerSec, _ = strconv.ParseFloat(m2[1], 64)
	if m := wrkNon2xx.FindStringSubmatch(text); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if r.Requests > 0 {
		r.CPUusPerReq = (cpu1 - cpu0).Seconds() * 1e6 / float64(r.Requests)
	}
	return r, nil
}

// procCPU returns a process's user + system CPU time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
