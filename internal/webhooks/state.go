package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// State keeps what delivery must remember per endpoint: the lease that
// makes one sessiond at a time deliver to it, its cursor in the event log,
// its dead letters and the dead letters queued for another try, and whether
// it is paused. With Redis it lives in Redis (RedisState), shared by every
// replica and kept across restarts; with the embedded store, in memory
// (MemState). Implementations are safe for concurrent use.
//
// Every write of the delivery loop is fenced: it happens only while owner
// holds the endpoint's lease, and it renews the lease for ttl; otherwise it
// changes nothing and reports false. A sessiond that lost its lease (a long
// pause, a partition) therefore never moves the cursor of the one that
// took over.
type State interface {
	// Register records the names of the configured endpoints, for
	// sessionctl.
	Register(ctx context.Context, names []string, now time.Time) error

	// Acquire takes the endpoint's lease for owner, for ttl, if nobody
	// holds it; Renew extends it if owner holds it. Both report whether
	// owner holds the lease now.
	Acquire(ctx context.Context, ep, owner string, ttl time.Duration) (bool, error)
	Renew(ctx context.Context, ep, owner string, ttl time.Duration) (bool, error)
	// Release gives up the lease if owner holds it.
	Release(ctx context.Context, ep, owner string) error

	// Start returns the endpoint's cursor; an endpoint without one gets
	// start (and keeps it, if no other process set one meanwhile).
	Start(ctx context.Context, ep, start string) (string, error)
	// Advance sets the cursor, after the events before it were delivered
	// or dead-lettered; dead, when not nil, is added to the dead letters in
	// the same step. It returns how many of the oldest dead letters were
	// dropped to keep MaxDeadLetters.
	Advance(ctx context.Context, ep, owner string, ttl time.Duration, cursor string, dead *DeadLetter) (held bool, dropped int, err error)

	// Peek returns, in one read, the reason the endpoint is paused ("" if
	// it is not) and the first dead letter queued for another try (nil if
	// none).
	Peek(ctx context.Context, ep string) (paused string, retry *DeadLetter, err error)
	// FinishRetry takes a retried dead letter off the queue: delivered
	// (dead nil), or dead again (dead, with its new attempts and error).
	FinishRetry(ctx context.Context, ep, owner string, ttl time.Duration, id string, dead *DeadLetter) (held bool, dropped int, err error)
	// Pause stops delivery to the endpoint until Resume, for reason.
	Pause(ctx context.Context, ep, owner string, ttl time.Duration, reason string) (bool, error)

	// The operator's side (sessionctl webhooks).

	// Endpoints returns the names of the endpoints any sessiond registered.
	Endpoints(ctx context.Context) ([]string, error)
	// Status returns an endpoint's delivery state.
	Status(ctx context.Context, ep string, now time.Time) (Status, error)
	// Dead returns an endpoint's dead letters, oldest first.
	Dead(ctx context.Context, ep string) ([]DeadLetter, error)
	// Retry queues dead letters for another try: those with the given
	// event ids, or all with ids nil. It returns the ids queued.
	Retry(ctx context.Context, ep string, ids []string, now time.Time) ([]string, error)
	// Resume ends a pause; it reports whether the endpoint was paused.
	Resume(ctx context.Context, ep string) (bool, error)
}

// MaxDeadLetters bounds the dead letters kept per endpoint: past it, the
// oldest are dropped (and counted in the metrics).
const MaxDeadLetters = 10000

// DeadLetter is an event an endpoint did not take within the allowed
// attempts. Its JSON form is what sessionctl webhooks dead --json prints.
type DeadLetter struct {
	// Endpoint is the endpoint's name.
	Endpoint string `json:"endpoint"`
	// ID is the event's id, and the webhook-id of every attempt.
	ID string `json:"id"`
	// Event is the body sent: the event object.
	Event json.RawMessage `json:"event"`
	// Attempts is the number of attempts of the last round (the first
	// delivery, or the last retry).
	Attempts int `json:"attempts"`
	// Retries counts the rounds queued by sessionctl webhooks retry.
	Retries int `json:"retries"`
	// Error says why the last attempt failed.
	Error string `json:"error"`
	// DeadAt is when the last round ended.
	DeadAt time.Time `json:"dead_at"`
}

// Status is an endpoint's delivery state, for sessionctl webhooks status.
type Status struct {
	Endpoint string `json:"endpoint"`
	// Cursor is where delivery goes on from: the last event delivered (or
	// dead-lettered), or a time.
	Cursor string `json:"cursor"`
	// Holder is the sessiond that delivers (its host name, process id and
	// a random part), "" when none holds the lease.
	Holder string `json:"holder"`
	// LeaseSeconds is the time left on the holder's lease.
	LeaseSeconds float64 `json:"lease_seconds"`
	// Dead and Queued count the dead letters, and those queued for
	// another try.
	Dead   int64 `json:"dead"`
	Queued int64 `json:"queued"`
	// Paused is why delivery is paused ("" when it is not).
	Paused string `json:"paused"`
}

// ErrUnknownEndpoint is returned by the operator's calls for an endpoint no
// sessiond registered.
var ErrUnknownEndpoint = errors.New("webhooks: no such endpoint")

// encodeDead is the stored form of a dead letter. The event is kept byte
// for byte (no HTML escaping), so a retry sends the body first sent.
func encodeDead(d *DeadLetter) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func decodeDead(s string) (*DeadLetter, error) {
	var d DeadLetter
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, err
	}
	return &d, nil
}
