package sessiondclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Defaults of Options' zero fields.
const (
	DefaultTimeout   = 5 * time.Second
	DefaultRetries   = 2
	DefaultUserAgent = "sessiondclient (github.com/sessiondb/sessiondb)"

	// DefaultMaxIdleConnsPerHost is how many idle keep-alive connections the
	// default transport keeps to sessiond (net/http's default is 2, too few
	// for a service that validates a token on every request).
	DefaultMaxIdleConnsPerHost = 64
)

// Retry pacing: exponential backoff with jitter from retryBase up to
// retryCap, or the answer's Retry-After up to maxRetryAfter.
const (
	retryBase     = 50 * time.Millisecond
	retryCap      = time.Second
	maxRetryAfter = 30 * time.Second
)

// maxAnswerBytes bounds the answers read; a list of a user's sessions is the
// largest.
const maxAnswerBytes = 64 << 20

// Options configure a Client. The zero value is valid: every zero field
// means the documented default, and a negative number means "none" (the
// rule of package sessiondb's "Zero values").
type Options struct {
	// APIKey is sent as "Authorization: Bearer <key>" with every call. An app
	// key allows every call but Stats and Cleanup, which need an admin key.
	// Default: none, for a sessiond without keys (which serves on loopback
	// only).
	APIKey string

	// HTTPClient makes the requests. Default: a client of the Client's own
	// whose transport is a clone of http.DefaultTransport (proxy settings
	// from the environment, HTTP/2 over TLS) keeping up to
	// DefaultMaxIdleConnsPerHost idle connections, configured with CAFile
	// and TLSConfig. When set, it is used as it is: configure TLS in its
	// transport, and leave CAFile and TLSConfig empty. Its own Timeout, if
	// any, bounds each attempt on top of Options.Timeout.
	HTTPClient *http.Client

	// CAFile is a PEM file of the certificate authorities that sign
	// sessiond's certificate, trusted instead of the system's roots: for a
	// sessiond with SESSIOND_TLS_CERT_FILE signed by a private CA. Default:
	// the system's roots.
	CAFile string

	// TLSConfig is the TLS configuration of https:// connections (a client
	// certificate for a mesh, say); it is cloned. With CAFile, the file's
	// authorities become its RootCAs, which must then be unset. Default:
	// Go's defaults (TLS 1.2 or newer, the system's roots).
	TLSConfig *tls.Config

	// Timeout bounds each call, its retries included (UpdateMetadata and
	// UpdateMetadataByID make two calls, a read and a write); a deadline of
	// the call's context that comes sooner wins. Default 5s; negative: none
	// but the context's.
	Timeout time.Duration

	// Retries is how many times a call that is safe to repeat is tried again
	// after sessiond answered 503 unavailable or did not answer, waiting
	// between tries with exponential backoff and jitter (from 50ms, at most
	// 1s) or as long as the answer's Retry-After asks (at most 30s, and
	// never past the call's deadline). Create and Rotate are never retried.
	// Default 2; negative: no retries.
	Retries int

	// UserAgent is the User-Agent header of every request. Default
	// DefaultUserAgent.
	UserAgent string
}

// String describes the options without the API key, so that printing them
// by mistake does not leak it.
func (o Options) String() string {
	key := ""
	if o.APIKey != "" {
		key = "[redacted]"
	}
	return fmt.Sprintf("sessiondclient.Options{APIKey:%q, HTTPClient:%v, CAFile:%q, TLSConfig:%v, Timeout:%v, Retries:%d, UserAgent:%q}",
		key, o.HTTPClient != nil, o.CAFile, o.TLSConfig != nil, o.Timeout, o.Retries, o.UserAgent)
}

// GoString is String, for %#v.
func (o Options) GoString() string { return o.String() }

// Client talks to a sessiond. Its methods mirror *sessiondb.Manager's, with
// the same signatures, results and error values, so that a service can move
// from the embedded library to a remote sessiond by changing the
// constructor; see the package documentation for the few differences. It is
// safe for concurrent use and reuses keep-alive connections.
type Client struct {
	base      string // scheme://host[:port][/path], without a trailing slash
	auth      string // the Authorization header, or ""
	userAgent string
	http      *http.Client
	timeout   time.Duration // 0: none
	retries   int
}

var _ sessiondb.Sessions = (*Client)(nil)

// New returns a client of the sessiond at baseURL (http:// or https://, with
// an optional path prefix when a proxy serves sessiond under one). It makes
// no request: a sessiond that is down is noticed by the first call (or by
// Ping). It returns an error for a malformed URL, an unreadable CA file or
// options that contradict each other.
func New(baseURL string, opt Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		// Not quoted: the URL may hold a password.
		return nil, errors.New("sessiondclient: malformed base URL: want http://host:port or https://host:port")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("sessiondclient: base URL: want http://host:port or https://host:port")
	case u.Host == "":
		return nil, errors.New("sessiondclient: base URL has no host")
	case u.User != nil:
		return nil, errors.New("sessiondclient: base URL holds credentials: give the API key in Options.APIKey")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, errors.New("sessiondclient: base URL must not have a query or fragment")
	}
	if opt.APIKey != "" {
		for _, c := range []byte(opt.APIKey) {
			if c <= ' ' || c >= 0x7f {
				return nil, errors.New("sessiondclient: Options.APIKey must be printable ASCII without spaces")
			}
		}
	}
	c := &Client{
		base:      strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		userAgent: opt.UserAgent,
		http:      opt.HTTPClient,
		timeout:   opt.Timeout,
		retries:   opt.Retries,
	}
	if opt.APIKey != "" {
		c.auth = "Bearer " + opt.APIKey
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	switch {
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	case c.timeout < 0:
		c.timeout = 0
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.http != nil {
		if opt.CAFile != "" || opt.TLSConfig != nil {
			return nil, errors.New("sessiondclient: with Options.HTTPClient, configure TLS in its transport, not in CAFile or TLSConfig")
		}
		return c, nil
	}
	var tc *tls.Config
	if opt.TLSConfig != nil {
		tc = opt.TLSConfig.Clone()
	}
	if opt.CAFile != "" {
		pem, err := os.ReadFile(opt.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sessiondclient: Options.CAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("sessiondclient: Options.CAFile %s: no PEM certificate in it", opt.CAFile)
		}
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.RootCAs != nil {
			return nil, errors.New("sessiondclient: Options.CAFile and Options.TLSConfig.RootCAs both set: give one")
		}
		tc.RootCAs = pool
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	if tc != nil {
		tr.TLSClientConfig = tc
	}
	c.http = &http.Client{Transport: tr}
	return c, nil
}

// String describes the client without its API key.
func (c *Client) String() string {
	key := "none"
	if c.auth != "" {
		key = "[redacted]"
	}
	return "sessiondclient.Client{URL: " + c.base + ", APIKey: " + key + "}"
}

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// CloseIdleConnections closes the keep-alive connections the client is not
// using; the next call opens new ones.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// call is one API call.
type call struct {
	op     string // the method name, for errors
	method string
	path   string // escaped, from the root: /v1/...
	body   any    // encoded as JSON; nil: no body
	out    any    // decoded from the answer; nil: none read
	retry  bool   // safe to repeat

	largeField string // the field that makes the body large, if any: blamed for a 413
}

// do makes the call, retrying as the options allow, and decodes the answer
// into c.out.
func (c *Client) do(ctx context.Context, cl call) error {
	var body []byte
	if cl.body != nil {
		var err error
		if body, err = json.Marshal(cl.body); err != nil {
			return fmt.Errorf("sessiondclient: %s: encode the request: %w", cl.op, err)
		}
		// body is not cleared after use: the transport may still read it
		// after the call returns (a cancelled request).
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		retry, err := c.attempt(ctx, cl, body)
		if err == nil {
			return nil
		}
		if !retry || !cl.retry || attempt >= c.retries || ctx.Err() != nil {
			return err
		}
		wait := backoff(attempt)
		var e *Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			wait = min(e.RetryAfter, maxRetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err // the wait would outlast the call: report now
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// backoff is the wait before retry attempt+1: exponential, with jitter.
func backoff(attempt int) time.Duration {
	d := min(retryBase<<attempt, retryCap)
	return d/2 + rand.N(d/2+1)
}

// attempt makes one request. It reports whether a failure may be retried.
func (c *Client) attempt(ctx context.Context, cl call, body []byte) (retry bool, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, c.base+cl.path, rd)
	if err != nil {
		return false, fmt.Errorf("sessiondclient: %s: %w", cl.op, err)
	}
	h := req.Header
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Accept", "application/json")
	h.Set("User-Agent", c.userAgent)
	if c.auth != "" {
		h.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// Report the context's error itself, which the transport's
			// error wraps less plainly.
			return false, noAnswer(cl.op, ctxErr)
		}
		return !isCertError(err), noAnswer(cl.op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, noAnswer(cl.op, ctxErr)
		}
		return true, noAnswer(cl.op, fmt.Errorf("reading the answer: %w", err))
	}
	defer clear(data) // it may hold a token
	if len(data) > maxAnswerBytes {
		return false, fmt.Errorf("sessiondclient: %s: the answer is larger than %d bytes", cl.op, maxAnswerBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var eb apiErrorBody
		if !isJSON(resp.Header.Get("Content-Type")) || json.Unmarshal(data, &eb) != nil {
			eb = apiErrorBody{}
		}
		if resp.StatusCode == http.StatusRequestEntityTooLarge && eb.Error.Field == "" {
			// The one field of the client's requests that can grow without
			// bound is the metadata: name it, as the Manager does.
			eb.Error.Field = cl.largeField
		}
		e, again := answerError(cl.op, resp.StatusCode, eb, retryAfter(resp.Header.Get("Retry-After")))
		return again, e
	}
	if cl.out == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, cl.out); err != nil {
		return false, fmt.Errorf("sessiondclient: %s: malformed answer from sessiond (%d): %w", cl.op, resp.StatusCode, err)
	}
	return false, nil
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n < 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return 0
}
