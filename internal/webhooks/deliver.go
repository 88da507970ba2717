package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb/webhook"
)

// Result is the outcome of one request: ResultOK or why it failed.
type Result string

// The results of a request.
const (
	ResultOK       Result = "ok"       // 2xx: delivered
	ResultRedirect Result = "redirect" // 3xx: not followed
	ResultGone     Result = "gone"     // 410: the endpoint asks to stop; delivery pauses
	Result4xx      Result = "4xx"      // another 4xx (429 included)
	Result5xx      Result = "5xx"      // 5xx (and any other status)
	ResultTimeout  Result = "timeout"  // no complete answer within the timeout
	ResultNetwork  Result = "network"  // connection refused or reset, DNS, TLS
)

// Results lists every result, for metrics.
var Results = []Result{ResultOK, ResultRedirect, ResultGone, Result4xx, Result5xx, ResultTimeout, ResultNetwork}

// outcome is the end of an event's delivery: delivered, the endpoint gone,
// or neither after attempts (the last failure in err).
type outcome struct {
	delivered, gone bool
	attempts        int
	err             string
}

// maxAnswer bounds what is read of an answer's body (then dropped): enough
// for a connection to be reused.
const maxAnswer = 64 << 10

// send tries to deliver one event up to MaxAttempts times. It returns an
// error only when delivery must stop here (ctx done, the lease lost): the
// event is then neither delivered for sure nor dead, and is tried again by
// whoever holds the lease next.
func (r *runner) send(ctx context.Context, ls *lease, id string, body []byte) (outcome, error) {
	d := r.d
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return outcome{}, context.Cause(ctx)
		}
		if !ls.valid() {
			return outcome{}, errLeaseLost
		}
		start := time.Now()
		// A request under way is finished (within Timeout) even when
		// delivery is told to stop: cut, the receiver may have taken the
		// event already, and the next holder would send it again.
		res, retryAfter, msg := r.attempt(context.WithoutCancel(ctx), id, body)
		if ctx.Err() != nil {
			if res == ResultOK {
				return outcome{delivered: true, attempts: attempt}, nil // recorded by the caller
			}
			return outcome{}, context.Cause(ctx)
		}
		d.obs.Attempt(r.ep.Name, res, time.Since(start))
		switch {
		case res == ResultOK:
			return outcome{delivered: true, attempts: attempt}, nil
		case res == ResultGone:
			return outcome{gone: true, attempts: attempt, err: msg}, nil
		case attempt >= d.opt.MaxAttempts:
			return outcome{attempts: attempt, err: msg}, nil
		}
		wait := r.backoff(attempt, retryAfter)
		r.log.Debug("attempt failed; trying again", "event_id", id, "attempt", attempt, "result", string(res),
			"err", msg, "retry_in", wait.Round(time.Millisecond).String())
		if !sleep(ctx, wait) {
			return outcome{}, context.Cause(ctx)
		}
	}
}

// backoff is the pause after the attempt-th failure: RetryDelay doubled for
// each failure before, at most RetryMax, drawn between its half and its
// whole; at least what the endpoint's Retry-After asked, within RetryMax.
func (r *runner) backoff(attempt int, retryAfter time.Duration) time.Duration {
	o := r.d.opt
	d := o.RetryMax
	if attempt-1 < 40 {
		d = min(o.RetryDelay<<(attempt-1), o.RetryMax)
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, min(retryAfter, o.RetryMax))
}

// attempt makes one request. It returns its result, the endpoint's
// Retry-After (0 when none) and, for a failure, a message that names no
// secret: not the URL (its query may hold the receiver's token), not the
// signature.
func (r *runner) attempt(ctx context.Context, id string, body []byte) (Result, time.Duration, string) {
	now := time.Now()
	sigs := make([]string, 0, len(r.ep.Secrets))
	for _, s := range r.ep.Secrets {
		sig, err := s.Sign(id, now, body)
		if err != nil {
			return Result5xx, 0, "signing: " + err.Error()
		}
		sigs = append(sigs, sig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.ep.URL.String(), bytes.NewReader(body))
	if err != nil {
		return ResultNetwork, 0, "cannot make the request"
	}
	// Sent as Webhook-Id and so on: header names are case-insensitive
	// (HTTP/2 sends them in lower case).
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, strings.Join(sigs, " "))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", r.d.opt.UserAgent)
	resp, err := r.d.client.Do(req)
	if err != nil {
		return classify(err, r.d.opt.Timeout)
	}
	// Read (a bounded part of) the answer so the connection can be reused;
	// a failure to read it changes nothing: the status is the answer.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	status := fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return ResultOK, 0, ""
	case c >= 300 && c < 400:
		return ResultRedirect, 0, status + ": redirects are not followed; configure the final URL"
	case c == http.StatusGone:
		return ResultGone, 0, status
	case c >= 400 && c < 500:
		return Result4xx, retryAfter(resp.Header.Get("Retry-After"), time.Now()), status
	}
	return Result5xx, retryAfter(resp.Header.Get("Retry-After"), time.Now()), status
}

// classify names a failed request without its URL.
func classify(err error, timeout time.Duration) (Result, time.Duration, string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // "Post "<url>": ..." would show the URL
	}
	if isTimeout(err) {
		return ResultTimeout, 0, fmt.Sprintf("no answer within %s", timeout)
	}
	return ResultNetwork, 0, err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
