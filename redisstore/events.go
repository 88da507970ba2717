package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
)

// This file holds the event log (sessiondb.EventLog): the arguments the
// write scripts get to record events, and the reader. The log is one
// stream per bucket, {tag}e, written by the script that makes each change
// (one XADD per change); the ended sessions are a zset per bucket, {tag}r.
// docs/events.md and docs/redis-layout.md describe both.

// DefaultEventSettle is how long a change must be, by the clock of the
// Redis server that took it, before readers return its events.
const DefaultEventSettle = time.Second

const (
	kindEvents = 'e' // a bucket's event log (stream)
	kindEnded  = 'r' // a bucket's ended sessions (zset)
)

func (k keys) events(b int) string { return k.bucket(b) + string(kindEvents) }
func (k keys) ended(b int) string  { return k.bucket(b) + string(kindEnded) }

// eventConfig is the event log's configuration; nil when events are off.
type eventConfig struct {
	opt      sessiondb.EventOptions
	bound    string // XADD MAXLEN: entries per bucket
	remember string // "1" to remember why sessions ended, "" not
	settle   time.Duration
}

func newEventConfig(opt Options) (*eventConfig, error) {
	if opt.EventSettle < 0 {
		return nil, errors.New("redisstore: negative EventSettle")
	}
	if opt.Events == nil {
		return nil, nil
	}
	o, err := opt.Events.WithDefaults()
	if err != nil {
		return nil, err
	}
	c := &eventConfig{opt: o, bound: strconv.Itoa(o.PerBucket()), settle: opt.EventSettle}
	if c.settle == 0 {
		c.settle = DefaultEventSettle
	}
	if o.RevocationMemory > 0 {
		c.remember = "1"
	}
	return c, nil
}

// withEvents appends to a write script's keys and arguments those it takes
// for events, when they are on: the bucket's event log and ended-sessions
// keys; the log's bound, the actor, extra (the script's own), and whether
// to remember why sessions ended. With events off the script gets none of
// them: Redis makes a Lua string and a table slot of each key and argument
// on every call, about a tenth of a microsecond apiece.
func (s *Store) withEvents(ctx context.Context, b int, keys, args []string, extra ...string) ([]string, []string) {
	if s.ev == nil {
		return keys, args
	}
	keys = append(keys, s.keys.events(b), s.keys.ended(b))
	args = append(args, s.ev.bound, sessiondb.ChangeFrom(ctx).Actor)
	args = append(args, extra...)
	return keys, append(args, s.ev.remember)
}

// EventsEnabled implements sessiondb.EventLog.
func (s *Store) EventsEnabled() bool { return s.ev != nil }

// EndReason implements sessiondb.EventLog: one ZSCORE.
func (s *Store) EndReason(ctx context.Context, id string, now time.Time) (sessiondb.EndReason, error) {
	if s.ev == nil || s.ev.remember == "" {
		return "", nil
	}
	b, err := sessiondb.ParseID(id)
	if err != nil {
		return "", nil
	}
	c, err := s.get()
	if err != nil {
		return "", err
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	score, err := c.Do(ctx, c.B().Zscore().Key(s.keys.ended(b)).Member(sessiondb.IDHash(id)).Build()).AsFloat64()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", wrap(err)
	}
	v := int64(score)
	at, why := v/4, v%4
	if now.UnixMilli()-at > s.ev.opt.RevocationMemory.Milliseconds() {
		return "", nil
	}
	return endReasons[why], nil
}

// endReasons are the reasons by their code in {tag}r scores.
var endReasons = [4]sessiondb.EndReason{sessiondb.EndEvicted, sessiondb.EndRevoked, sessiondb.EndRotated, sessiondb.EndExpired}

// eventTypes maps the codes of the e fields to event types and causes.
var eventTypes = map[string]struct {
	t     sessiondb.EventType
	cause sessiondb.Cause
}{
	"c":  {sessiondb.EventCreated, ""},
	"s":  {sessiondb.EventRestored, ""},
	"o":  {sessiondb.EventRotated, ""},
	"f":  {sessiondb.EventRefreshed, ""},
	"m":  {sessiondb.EventUpdated, ""},
	"il": {sessiondb.EventInvalidated, sessiondb.CauseLogout},
	"ia": {sessiondb.EventInvalidated, sessiondb.CauseAdmin},
	"iA": {sessiondb.EventInvalidated, sessiondb.CauseRevokeAll},
	"iO": {sessiondb.EventInvalidated, sessiondb.CauseRevokeOthers},
	"e":  {sessiondb.EventEvicted, ""},
	"x":  {sessiondb.EventExpired, ""},
}

// deleteCode is the e code of a Delete, by the cause in its context.
func deleteCode(ctx context.Context) string {
	if sessiondb.ChangeFrom(ctx).Cause == sessiondb.CauseLogout {
		return "il"
	}
	return "ia"
}

// replaceCode is the e code of a Replace that keeps the id.
func replaceCode(ctx context.Context) string {
	switch sessiondb.ChangeFrom(ctx).Event {
	case sessiondb.EventRefreshed:
		return "f"
	case sessiondb.EventUpdated:
		return "m"
	}
	return ""
}

// maintainEventArgs are maintain.lua's own event arguments: the longest an
// event is kept and the least score of an ended session to keep.
func (s *Store) maintainEventArgs(now time.Time) []string {
	if s.ev == nil {
		return nil
	}
	forget := max(now.Add(-s.ev.opt.RevocationMemory).UnixMilli(), 0) * 4
	return []string{strconv.FormatInt(s.ev.opt.MaxAge.Milliseconds(), 10), strconv.FormatInt(forget, 10)}
}

//go:embed scripts/events_read.lua
var eventsReadLua string

var eventsReadScript = newScript(eventsReadLua, false)

// entry is one entry of a bucket's log: one change.
type entry struct {
	ms     int64
	seq    uint64
	events []sessiondb.Event
	at     time.Time // the change's time, by the writer's clock
}

// bucketLog is what a read holds of one bucket's log.
type bucketLog struct {
	b       int
	entries []entry
	clock   int64 // the server's clock (ms) at the last read
	full    bool  // the last read stopped at its count: more may follow
	count   int   // entries the next read asks for
}

// lastKey is the cursor of the last event read from the bucket.
func (l *bucketLog) lastKey() sessiondb.EventCursor {
	e := l.entries[len(l.entries)-1]
	return sessiondb.EventCursor{Millis: e.ms, Seq: e.seq, Bucket: l.b, Index: max(len(e.events)-1, 0)}
}

// readRounds bounds the rounds of reads of one ReadEvents.
const readRounds = 32

// maxReadCount is the most entries one read of a bucket asks for.
const maxReadCount = 1000

// ReadEvents implements sessiondb.EventLog. It reads every bucket's log
// (the user's bucket only, for a user) in one pipelined round, with the
// server's clock: an event is final once its id is older than that clock
// by the settle time (Options.EventSettle), as every later entry of the
// server gets a later id. Events of different buckets are merged in the
// order of their ids; a bucket whose read stopped at its count bounds what
// can be returned, and is read further while that leaves the page short.
func (s *Store) ReadEvents(ctx context.Context, after sessiondb.EventCursor, userID string, limit int, now time.Time) ([]sessiondb.Event, sessiondb.EventCursor, bool, error) {
	if s.ev == nil {
		return nil, after, false, sessiondb.ErrEventsOff
	}
	if limit <= 0 {
		return nil, after, false, fmt.Errorf("redisstore: limit %d", limit)
	}
	c, err := s.get()
	if err != nil {
		return nil, after, false, err
	}
	var logs []*bucketLog
	if userID != "" {
		logs = []*bucketLog{{b: sessiondb.UserShard(userID).Bucket, count: min(limit+1, maxReadCount)}}
	} else {
		per := max(2, (2*limit+sessiondb.Buckets-1)/sessiondb.Buckets)
		logs = make([]*bucketLog, sessiondb.Buckets)
		for b := range logs {
			logs[b] = &bucketLog{b: b, count: per}
		}
	}
	oldest := now.Add(-s.ev.opt.MaxAge)
	settle := s.ev.settle.Milliseconds()
	for round := 0; ; round++ {
		var todo []*bucketLog
		if round == 0 {
			todo = logs
		}
		// What is final: events before every bucket's clock less the settle
		// time, and, in a bucket whose read stopped at its count, those up
		// to its last entry read.
		horizon := int64(-1)
		if round > 0 {
			horizon = finalBefore(logs, settle)
			bound, binding := boundOf(logs, horizon)
			ready := countReady(logs, after, bound, horizon, binding != nil, userID, oldest)
			if binding == nil || ready >= limit || round == readRounds {
				return collect(logs, after, bound, horizon, userID, oldest, limit, binding != nil)
			}
			for _, l := range logs {
				if l.full && l.lastKey().Compare(sessiondb.EventCursor{Millis: horizon, At: true}) < 0 {
					l.count = min(l.count*4, maxReadCount)
					todo = append(todo, l)
				}
			}
		}
		if err := s.readLogs(ctx, c, todo, after); err != nil {
			return nil, after, false, err
		}
	}
}

// finalBefore is the time before which every event is final: the least of
// the buckets' clocks less the settle time.
func finalBefore(logs []*bucketLog, settle int64) int64 {
	h := int64(-1)
	for _, l := range logs {
		if t := l.clock - settle; h < 0 || t < h {
			h = t
		}
	}
	return max(h, 0)
}

// boundOf returns the least last key of the buckets whose read stopped at
// its count, when it is before the horizon, and that bucket.
func boundOf(logs []*bucketLog, horizon int64) (sessiondb.EventCursor, *bucketLog) {
	h := sessiondb.EventCursor{Millis: horizon, At: true}
	var bound sessiondb.EventCursor
	var binding *bucketLog
	for _, l := range logs {
		if !l.full || len(l.entries) == 0 {
			continue
		}
		if k := l.lastKey(); k.Compare(h) < 0 && (binding == nil || k.Compare(bound) < 0) {
			bound, binding = k, l
		}
	}
	return bound, binding
}

// ready reports whether the event with key k may be returned: after the
// cursor, before the horizon, and no later than the bound (when there is one).
func ready(k, after, bound sessiondb.EventCursor, horizon int64, bounded bool) bool {
	return k.Compare(after) > 0 && k.Millis < horizon && (!bounded || k.Compare(bound) <= 0)
}

func wanted(e *sessiondb.Event, at time.Time, userID string, oldest time.Time) bool {
	return (userID == "" || e.UserID == userID) && !at.Before(oldest)
}

func countReady(logs []*bucketLog, after, bound sessiondb.EventCursor, horizon int64, bounded bool, userID string, oldest time.Time) int {
	n := 0
	for _, l := range logs {
		for _, e := range l.entries {
			for i := range e.events {
				k := sessiondb.EventCursor{Millis: e.ms, Seq: e.seq, Bucket: l.b, Index: i}
				if ready(k, after, bound, horizon, bounded) && wanted(&e.events[i], e.at, userID, oldest) {
					n++
				}
			}
		}
	}
	return n
}

// collect returns the page: the ready events in order, at most limit, and
// the cursor after them.
func collect(logs []*bucketLog, after, bound sessiondb.EventCursor, horizon int64, userID string, oldest time.Time, limit int, bounded bool) ([]sessiondb.Event, sessiondb.EventCursor, bool, error) {
	type keyed struct {
		k sessiondb.EventCursor
		e *sessiondb.Event
	}
	var all []keyed
	for _, l := range logs {
		for j := range l.entries {
			e := &l.entries[j]
			for i := range e.events {
				k := sessiondb.EventCursor{Millis: e.ms, Seq: e.seq, Bucket: l.b, Index: i}
				if ready(k, after, bound, horizon, bounded) && wanted(&e.events[i], e.at, userID, oldest) {
					all = append(all, keyed{k, &e.events[i]})
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b keyed) int { return a.k.Compare(b.k) })
	n := min(len(all), limit)
	out := make([]sessiondb.Event, n)
	for i := range n {
		out[i] = *all[i].e
	}
	var next sessiondb.EventCursor
	more := false
	switch {
	case len(all) > limit:
		next, more = all[limit-1].k, true
	case bounded:
		next, more = bound, true
	default:
		next = sessiondb.EventCursor{Millis: horizon, At: true}
	}
	if next.Compare(after) < 0 {
		next = after
	}
	return out, next, more, nil
}

// readLogs reads the logs of todo from where each stopped (or from after,
// the first time), in one pipelined round.
func (s *Store) readLogs(ctx context.Context, c rueidis.Client, todo []*bucketLog, after sessiondb.EventCursor) error {
	if len(todo) == 0 {
		return nil
	}
	execs := make([]rueidis.LuaExec, len(todo))
	for i, l := range todo {
		execs[i] = rueidis.LuaExec{Keys: []string{s.keys.events(l.b)}, Args: []string{l.start(after), strconv.Itoa(l.count)}}
	}
	cctx, cancel := s.ctx(ctx)
	defer cancel()
	var results []rueidis.RedisResult
	if len(execs) == 1 {
		results = []rueidis.RedisResult{eventsReadScript.Exec(cctx, c, execs[0].Keys, execs[0].Args)}
	} else {
		results = eventsReadScript.ExecMulti(cctx, c, execs...)
	}
	for i, res := range results {
		if err := todo[i].parse(res, after); err != nil {
			return err
		}
	}
	return nil
}

// start is the first id to read from the bucket: after its last entry
// read, or, the first time, from the cursor.
func (l *bucketLog) start(after sessiondb.EventCursor) string {
	if len(l.entries) > 0 {
		e := l.entries[len(l.entries)-1]
		return "(" + streamID(e.ms, e.seq)
	}
	switch {
	case after.At:
		return streamID(after.Millis, 0)
	case after.IsZero():
		return "-"
	case l.b < after.Bucket:
		return "(" + streamID(after.Millis, after.Seq)
	}
	return streamID(after.Millis, after.Seq)
}

func streamID(ms int64, seq uint64) string {
	return strconv.FormatInt(ms, 10) + "-" + strconv.FormatUint(seq, 10)
}

// parse adds the reply of events_read.lua to the bucket's log.
func (l *bucketLog) parse(res rueidis.RedisResult, after sessiondb.EventCursor) error {
	arr, err := res.ToArray()
	if err != nil {
		return wrap(err)
	}
	if len(arr) != 3 {
		return errors.New("redisstore: unexpected reply from events_read.lua")
	}
	sec, err1 := arr[0].AsInt64()
	usec, err2 := arr[1].AsInt64()
	entries, err3 := arr[2].ToArray()
	if err := errors.Join(err1, err2, err3); err != nil {
		return wrap(err)
	}
	l.clock = sec*1000 + usec/1000
	l.full = len(entries) >= l.count
	tag := sessiondb.Shard{Bucket: l.b}.Tag()
	for _, m := range entries {
		e, err := parseEntry(m, tag)
		if err != nil {
			return err
		}
		l.entries = append(l.entries, e)
	}
	return nil
}

// parseEntry reads one stream entry: [id, [field, value, ...]].
func parseEntry(m rueidis.RedisMessage, tag string) (entry, error) {
	bad := func(what string) (entry, error) {
		return entry{}, fmt.Errorf("redisstore: malformed event log entry in bucket %s: %s", tag, what)
	}
	parts, err := m.ToArray()
	if err != nil || len(parts) != 2 {
		return bad("not an id and fields")
	}
	id, err1 := parts[0].ToString()
	kv, err2 := parts[1].AsStrSlice()
	if err1 != nil || err2 != nil || len(kv)%2 != 0 {
		return bad("not an id and fields")
	}
	msText, seqText, _ := strings.Cut(id, "-")
	ms, err1 := strconv.ParseInt(msText, 10, 64)
	seq, err2 := strconv.ParseUint(seqText, 10, 64)
	if err1 != nil || err2 != nil {
		return bad("id " + strconv.Quote(id))
	}
	e := entry{ms: ms, seq: seq}
	var actor, user string
	var cur *sessiondb.Event
	for i := 0; i < len(kv); i += 2 {
		k, v := kv[i], kv[i+1]
		switch k {
		case "a":
			actor = v
		case "t":
			t, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return bad("time")
			}
			e.at = time.UnixMilli(t).UTC()
		case "e":
			tc, ok := eventTypes[v]
			if !ok {
				return bad("event code " + strconv.Quote(v))
			}
			e.events = append(e.events, sessiondb.Event{Type: tc.t, Cause: tc.cause, UserID: user})
			cur = &e.events[len(e.events)-1]
		case "u":
			user = v
			if cur != nil {
				cur.UserID = v
			}
		case "s", "n", "v":
			if cur == nil {
				return bad("field " + k + " before any event")
			}
			switch k {
			case "s":
				cur.SessionID = tag + v
			case "n":
				cur.NewSessionID = tag + v
			case "v":
				rec, err := decode(cur.SessionID, v)
				if err != nil {
					return bad("session value")
				}
				cur.Metadata = rec.Metadata
			}
		}
	}
	for i := range e.events {
		ev := &e.events[i]
		ev.ID = sessiondb.EventCursor{Millis: ms, Seq: seq, Bucket: tagBucket(tag), Index: i}.String()
		ev.Time, ev.Actor = e.at, actor
	}
	return e, nil
}

func tagBucket(tag string) int {
	b, _ := strconv.ParseUint(tag, 16, 16)
	return int(b)
}
