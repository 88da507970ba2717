//go:build unix

package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiondb/sessiondb"
)

// BenchmarkValidateLoopback is a validate end to end over HTTP on loopback:
// an http.Client with keep-alive connections and the Server behind a real
// net/http listener, from parallel goroutines, on the memory store. It runs
// twice, with the hand-written token scanner and session encoder and with
// encoding/json in their place, so that one run compares them. Besides
// ns/op it reports cpu-ns/op, the process's CPU time (user and system,
// client and server together) per validate, which depends less on the
// machine's other load than wall time does, and the allocations.
func BenchmarkValidateLoopback(b *testing.B) {
	for _, v := range []struct {
		name    string
		stdJSON bool
	}{{"handwritten", false}, {"encoding_json", true}} {
		b.Run(v.name, func(b *testing.B) {
			s := newTestServer(b, sessiondb.Options{}, nil)
			tok, _ := createToken(b, s, "bench")
			s.stdJSON = v.stdJSON
			ts := httptest.NewServer(s)
			defer ts.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			defer client.CloseIdleConnections()
			url := ts.URL + "/v1/sessions/validate"
			body := `{"token":"` + tok + `"}`
			var before, after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("validate: %s", resp.Status)
						return
					}
				}
			})
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
