package sessiondb_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/memstore"
	"github.com/sessiondb/sessiondb/storetest"
)

// countingStore counts the calls that reach the store.
type countingStore struct {
	sessiondb.Store
	gets, replaces, others atomic.Int64
}

func (c *countingStore) Get(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id, now)
}

func (c *countingStore) Replace(ctx context.Context, old, rec *sessiondb.Record, now time.Time) error {
	c.replaces.Add(1)
	return c.Store.Replace(ctx, old, rec, now)
}

func (c *countingStore) Delete(ctx context.Context, id string, now time.Time) (*sessiondb.Record, error) {
	c.others.Add(1)
	return c.Store.Delete(ctx, id, now)
}

func newCounting(t *testing.T, opt sessiondb.Options) (*sessiondb.Manager, *countingStore, *storetest.Clock) {
	t.Helper()
	cs := &countingStore{Store: memstore.New()}
	clock := storetest.NewClock()
	opt.Clock = clock.Now
	m, err := sessiondb.New(cs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return m, cs, clock
}

func TestMalformedTokenMakesNoStoreCall(t *testing.T) {
	m, cs, _ := newCounting(t, sessiondb.Options{})
	ctx := context.Background()
	for _, tok := range []string{"", "sdb_x", "not a token", "sdb_" + string(make([]byte, 51))} {
		if _, err := m.Validate(ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Errorf("Validate(%q) = %v, want ErrNotFound", tok, err)
		}
		if err := m.Invalidate(ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Errorf("Invalidate(%q) = %v, want ErrNotFound", tok, err)
		}
		if _, err := m.Rotate(ctx, tok); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Errorf("Rotate(%q) = %v, want ErrNotFound", tok, err)
		}
		if _, err := m.Refresh(ctx, tok, 0); !errors.Is(err, sessiondb.ErrNotFound) {
			t.Errorf("Refresh(%q) = %v, want ErrNotFound", tok, err)
		}
	}
	if n := cs.gets.Load() + cs.replaces.Load() + cs.others.Load(); n != 0 {
		t.Fatalf("malformed tokens caused %d store calls, want 0", n)
	}
}

func TestValidateWritesOnlyEveryTouchInterval(t *testing.T) {
	m, cs, clock := newCounting(t, sessiondb.Options{TouchInterval: time.Minute})
	ctx := context.Background()
	s, err := m.Create(ctx, "u", time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		clock.Advance(500 * time.Millisecond) // 50s in all
		if _, err := m.Validate(ctx, string(s.Token)); err != nil {
			t.Fatal(err)
		}
	}
	if g, r := cs.gets.Load(), cs.replaces.Load(); g != 100 || r != 0 {
		t.Fatalf("100 validations within the touch interval: %d reads, %d writes; want 100, 0", g, r)
	}
	clock.Advance(10 * time.Second)
	got, err := m.Validate(ctx, string(s.Token))
	if err != nil {
		t.Fatal(err)
	}
	if r := cs.replaces.Load(); r != 1 || !got.LastSeenAt.Equal(clock.Now()) {
		t.Fatalf("after the interval: %d writes, last seen %v; want 1 write at %v", r, got.LastSeenAt, clock.Now())
	}
}

func TestNewChecksOptions(t *testing.T) {
	bad := []sessiondb.Options{
		{TTL: time.Millisecond},
		{TTL: 2 * time.Hour, MaxTTL: time.Hour},
		{IdleTimeout: -time.Second},
		{LimitPolicy: "drop-newest"},
		{MaxMetadataBytes: -1},
	}
	for _, o := range bad {
		if _, err := sessiondb.New(memstore.New(), o); err == nil {
			t.Errorf("New(%+v) accepted bad options", o)
		}
	}
	if _, err := sessiondb.New(nil, sessiondb.Options{}); err == nil {
		t.Error("New(nil store) succeeded")
	}
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{IdleTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	o := m.Options()
	if o.TTL != sessiondb.DefaultTTL || o.MaxSessionsPerUser != 5 || o.LimitPolicy != sessiondb.PolicyEvictOldest || o.TouchInterval != 3*time.Second {
		t.Fatalf("defaults = %+v", o)
	}
}

func TestRunCleaner(t *testing.T) {
	clock := storetest.NewClock()
	m, err := sessiondb.New(memstore.New(), sessiondb.Options{CleanupInterval: 20 * time.Millisecond, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := m.Create(ctx, "u", time.Second, nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	removed := make(chan int, 100)
	done := make(chan error)
	go func() {
		done <- m.RunCleaner(ctx, func(n int, _ time.Duration, err error) {
			if err == nil {
				removed <- n
			}
		})
	}()
	deadline := time.After(10 * time.Second)
	for total := 0; total < 1; {
		select {
		case n := <-removed:
			total += n
		case <-deadline:
			t.Fatal("the cleaner removed nothing in 10s")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunCleaner = %v, want context.Canceled", err)
	}
}

// TestZeroValues holds the one rule of the package documentation: a zero
// field means the default, a negative one none, for the options and for a
// Store's Limit alike.
func TestZeroValues(t *testing.T) {
	for _, tt := range []struct {
		max     int
		want    int
		limited bool
	}{
		{0, sessiondb.DefaultMaxSessionsPerUser, true},
		{3, 3, true},
		{sessiondb.NoLimit, 0, false},
		{-7, 0, false},
	} {
		if got, limited := (sessiondb.Limit{Max: tt.max}).Sessions(); got != tt.want || limited != tt.limited {
			t.Errorf("Limit{Max: %d}.Sessions() = %d, %v, want %d, %v", tt.max, got, limited, tt.want, tt.limited)
		}
	}

	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		max        int
		wantOption int
		wantLive   int // of 8 sessions created for one user
	}{
		{"zero is the default", 0, sessiondb.DefaultMaxSessionsPerUser, sessiondb.DefaultMaxSessionsPerUser},
		{"positive", 2, 2, 2},
		{"negative is none", -3, sessiondb.NoLimit, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := sessiondb.New(memstore.New(), sessiondb.Options{MaxSessionsPerUser: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Options().MaxSessionsPerUser; got != tt.wantOption {
				t.Errorf("Options().MaxSessionsPerUser = %d, want %d", got, tt.wantOption)
			}
			// The options a Manager reports make the same Manager again.
			again, err := sessiondb.New(m.Store(), m.Options())
			if err != nil {
				t.Fatal(err)
			}
			if got := again.Options().MaxSessionsPerUser; got != tt.wantOption {
				t.Errorf("New(Options()) has MaxSessionsPerUser %d, want %d", got, tt.wantOption)
			}
			for range 8 {
				if _, err := again.Create(ctx, "u", 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			list, err := again.UserSessions(ctx, "u")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != tt.wantLive {
				t.Errorf("%d live sessions after 8 creates, want %d", len(list), tt.wantLive)
			}
		})
	}
}
