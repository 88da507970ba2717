// Package webhooks delivers sessiond's session events to HTTP endpoints as
// Standard Webhooks (package webhook signs them): at least once, in the
// event log's order, one sessiond at a time per endpoint, with retries,
// exponential backoff and jitter, dead letters, and a cursor per endpoint
// kept in Redis (RedisState) so that a restart or another replica goes on
// where delivery stopped. docs/webhooks.md describes it for operators.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sessiondb/sessiondb"
)

// Defaults of Options.
const (
	DefaultTimeout     = 15 * time.Second
	DefaultMaxAttempts = 12
	DefaultRetryDelay  = time.Second
	DefaultRetryMax    = 5 * time.Minute
	DefaultLease       = 10 * time.Second
	DefaultPoll        = 500 * time.Millisecond
)

// pageLimit is the most events one read of the log returns.
const pageLimit = 100

// persistEvery is how often a cursor that moved past time only (no event
// to deliver) is written back: resuming from an older one costs a read,
// never an event.
const persistEvery = 10 * time.Second

// Options configure a Dispatcher. Zero fields mean the defaults.
type Options struct {
	// Timeout bounds each request, from connecting to reading the answer.
	Timeout time.Duration
	// MaxAttempts is how many times an event is tried before it becomes a
	// dead letter.
	MaxAttempts int
	// RetryDelay is the pause after the first failed attempt; each further
	// failure doubles it, up to RetryMax. Each pause is drawn at random
	// between half its value and its value (jitter); a Retry-After of the
	// endpoint lengthens it, up to RetryMax.
	RetryDelay time.Duration
	RetryMax   time.Duration
	// Lease is how long an endpoint stays with a sessiond that stops
	// renewing its lease (a kill -9): another takes over after that.
	Lease time.Duration
	// Poll is how often the log is read for new events once delivery has
	// caught up.
	Poll time.Duration
	// Start is the cursor of an endpoint without one (a new name): by
	// default the present when the Dispatcher is made, so a new endpoint
	// gets the events made from then on.
	Start string
	// Owner names this process in the leases. Default: host name, process
	// id and a random part.
	Owner string
	// UserAgent is the User-Agent of the requests. Default "sessiond".
	UserAgent string
	// Encode returns an event's JSON object, the body of its webhook.
	// Required.
	Encode func(*sessiondb.Event) []byte
	// Logger receives the delivery's log; nil discards it.
	Logger *slog.Logger
	// Observer receives the delivery's metrics; nil drops them.
	Observer Observer
	// Transport sends the requests. Default: a clone of
	// http.DefaultTransport (which honours HTTPS_PROXY and NO_PROXY).
	Transport http.RoundTripper
}

// Observer receives what delivery measures (sessiond's metrics).
type Observer interface {
	// Attempt is called after each request: result is "ok" or the reason
	// it failed (see Result).
	Attempt(endpoint string, result Result, took time.Duration)
	// Delivered counts an event the endpoint took.
	Delivered(endpoint string)
	// DeadLettered counts an event that became a dead letter; Dropped
	// counts old dead letters dropped past MaxDeadLetters.
	DeadLettered(endpoint string)
	Dropped(endpoint string, n int)
	// Position tells where delivery is: the time of the event being
	// delivered, or, caught up, of the cursor; the zero time when this
	// process does not hold the endpoint's lease.
	Position(endpoint string, at time.Time)
	// Lease tells whether this process holds the endpoint's lease.
	Lease(endpoint string, held bool)
}

type nopObserver struct{}

func (nopObserver) Attempt(string, Result, time.Duration) {}
func (nopObserver) Delivered(string)                      {}
func (nopObserver) DeadLettered(string)                   {}
func (nopObserver) Dropped(string, int)                   {}
func (nopObserver) Position(string, time.Time)            {}
func (nopObserver) Lease(string, bool)                    {}

// Dispatcher delivers the events of a Manager's log to endpoints. Make one
// with New and run it with Run.
type Dispatcher struct {
	m         *sessiondb.Manager
	state     State
	endpoints []Endpoint
	opt       Options
	client    *http.Client
	log       *slog.Logger
	obs       Observer
}

// New returns a Dispatcher of the events of m to endpoints, keeping its
// state in state. m's store must record events.
func New(m *sessiondb.Manager, state State, endpoints []Endpoint, opt Options) (*Dispatcher, error) {
	if !m.EventsEnabled() {
		return nil, errors.New("webhooks need the event log: set SESSION_EVENTS=true")
	}
	if opt.Encode == nil {
		return nil, errors.New("webhooks: Options.Encode is required")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.RetryDelay <= 0 {
		opt.RetryDelay = DefaultRetryDelay
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = DefaultRetryMax
	}
	opt.RetryMax = max(opt.RetryMax, opt.RetryDelay)
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Poll <= 0 {
		opt.Poll = DefaultPoll
	}
	if opt.Start == "" {
		opt.Start = m.EventsNow()
	} else if _, err := sessiondb.ParseEventCursor(opt.Start); err != nil {
		return nil, fmt.Errorf("webhooks: start: %w", err)
	}
	if opt.Owner == "" {
		opt.Owner = newOwner()
	}
	if opt.UserAgent == "" {
		opt.UserAgent = "sessiond"
	}
	d := &Dispatcher{m: m, state: state, endpoints: endpoints, opt: opt, log: opt.Logger, obs: opt.Observer}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.obs == nil {
		d.obs = nopObserver{}
	}
	tr := opt.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	d.client = &http.Client{
		Transport: tr,
		Timeout:   opt.Timeout,
		// A 3xx is a failure: the endpoint's URL is to be fixed, not
		// followed (the specification's advice; it also keeps a signed
		// request from going where it was not configured to go).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

// newOwner names this process in leases: host name, process id and a
// random part, unique even for two processes with the same pid in two
// containers.
func newOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b[:])
}

// Owner returns the name of this process in the leases.
func (d *Dispatcher) Owner() string { return d.opt.Owner }

// Run delivers until ctx is done, then gives up its leases (so another
// sessiond takes over at once) and returns. An event whose delivery was
// under way is delivered again by the next holder.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.register(ctx) })
	for i := range d.endpoints {
		r := &runner{d: d, ep: &d.endpoints[i], log: d.log.With("endpoint", d.endpoints[i].Name)}
		wg.Go(func() { r.run(ctx) })
	}
	wg.Wait()
}

// register records the endpoints' names for sessionctl, trying again while
// the store does not answer.
func (d *Dispatcher) register(ctx context.Context) {
	names := make([]string, len(d.endpoints))
	for i, e := range d.endpoints {
		names[i] = e.Name
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, d.opt.Timeout)
		err := d.state.Register(cctx, names, time.Now())
		cancel()
		if err == nil || !sleep(ctx, time.Second) {
			return
		}
	}
}

// sleep waits for d or until ctx is done; it reports whether the wait
// ended with d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
