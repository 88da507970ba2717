package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	scsredis "github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/v2"
	redigo "github.com/gomodule/redigo/redis"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/sessiondb/sessiondb"
	"github.com/sessiondb/sessiondb/redisstore"
)

// The session every target stores: a user id, an ip and a 70-byte user agent.
const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145."

var metadata = map[string]string{"ip": "203.0.113.195", "user_agent": userAgent}

// rawValue is the ~150-byte JSON value the raw floors store.
var rawValue = func() string {
	b, _ := json.Marshal(map[string]any{"user_id": "user-0123456", "created_at": 1764158400, "ip": "203.0.113.195", "user_agent": userAgent})
	return string(b)
}()

func userName(i int) string { return "user-" + strconv.Itoa(i) }

// A target is one way of keeping sessions in Redis. Handles are what the
// client keeps: a token, a cookie, an id.
type target interface {
	name() string
	create(ctx context.Context, user int) (handle string, err error)
	validate(ctx context.Context, handle string) error
	invalidate(ctx context.Context, handle string) error
	roundTrips() int64 // network round trips so far
	close()
}

// supports reports whether a target takes part in a workload.
type workloadFilter interface{ supports(workload string) bool }

type counter struct{ n atomic.Int64 }

func (c *counter) roundTrips() int64 { return c.n.Load() }

// --- rueidis, with round trips counted ---------------------------------

type countingRueidis struct {
	rueidis.Client
	n *atomic.Int64
}

func (c countingRueidis) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c countingRueidis) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	c.n.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

func (c countingRueidis) DoCache(ctx context.Context, cmd rueidis.Cacheable, ttl time.Duration) rueidis.RedisResult {
	res := c.Client.DoCache(ctx, cmd, ttl)
	if !res.IsCacheHit() {
		c.n.Add(1)
	}
	return res
}

func newRueidis(addr string, cache bool) (rueidis.Client, error) {
	opt := rueidis.ClientOption{InitAddress: []string{addr}}
	if !cache {
		opt.DisableCache = true
	}
	return rueidis.NewClient(opt)
}

// --- raw floors ----------------------------------------------------------

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type rawGoRedis struct {
	counter
	c *goredis.Client
}

func newRawGoRedis(addr string, pool int) *rawGoRedis {
	t := &rawGoRedis{}
	t.c = goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: pool, MinIdleConns: pool / 2, DisableIdentity: true})
	t.c.AddHook(countHook{&t.n})
	return t
}

func (t *rawGoRedis) name() string { return "raw go-redis" }
func (t *rawGoRedis) create(ctx context.Context, _ int) (string, error) {
	id := randomID()
	return id, t.c.Set(ctx, "raw:"+id, rawValue, time.Hour).Err()
}
func (t *rawGoRedis) validate(ctx context.Context, h string) error {
	return t.c.Get(ctx, "raw:"+h).Err()
}
func (t *rawGoRedis) invalidate(ctx context.Context, h string) error {
	return t.c.Del(ctx, "raw:"+h).Err()
}
func (t *rawGoRedis) close() { t.c.Close() }

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

type rawRueidis struct {
	counter
	c      rueidis.Client
	cache  bool
	decode bool
	label  string
}

// rawSession is what the decoding floor reads rawValue into: the GET +
// JSON decode an application storing JSON sessions in Redis does.
type rawSession struct {
	UserID    string `json:"user_id"`
	CreatedAt int64  `json:"created_at"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
}

func newRawRueidis(addr string, cache, decode bool) (*rawRueidis, error) {
	t := &rawRueidis{cache: cache, decode: decode, label: "raw rueidis"}
	switch {
	case cache:
		t.label = "raw rueidis cached"
	case decode:
		t.label = "raw rueidis+decode"
	}
	c, err := newRueidis(addr, cache)
	if err != nil {
		return nil, err
	}
	t.c = countingRueidis{c, &t.n}
	return t, nil
}

func (t *rawRueidis) name() string { return t.label }
func (t *rawRueidis) supports(w string) bool {
	return !t.cache || w == "validate" // the cached floor is a read floor
}
func (t *rawRueidis) create(ctx context.Context, _ int) (string, error) {
	id := randomID()
	return id, t.c.Do(ctx, t.c.B().Set().Key("raw:"+id).Value(rawValue).ExSeconds(3600).Build()).Error()
}
func (t *rawRueidis) validate(ctx context.Context, h string) error {
	if t.cache {
		return t.c.DoCache(ctx, t.c.B().Get().Key("raw:"+h).Cache(), time.Minute).Error()
	}
	res := t.c.Do(ctx, t.c.B().Get().Key("raw:"+h).Build())
	if !t.decode {
		return res.Error()
	}
	b, err := res.AsBytes()
	if err != nil {
		return err
	}
	var s rawSession
	return json.Unmarshal(b, &s)
}
func (t *rawRueidis) invalidate(ctx context.Context, h string) error {
	return t.c.Do(ctx, t.c.B().Del().Key("raw:"+h).Build()).Error()
}
func (t *rawRueidis) close() { t.c.Close() }

// --- sessiondb -------------------------------------------------------------

type sessiondbTarget struct {
	counter
	userBase int // added to user numbers: lets a measurement use fresh users
	m        *sessiondb.Manager
	c        rueidis.Client
	label    string
	cache    bool
	refuseOK bool // ErrSessionLimit is the expected outcome of a create
}

// newSessiondb returns the library over Redis at addr, with the client-side
// cache for cacheTTL > 0, and recording events (SESSION_EVENTS=true) with
// events > 0: at most events entries in the log (events/1024 per bucket),
// or the default bound for events = sessiondb.DefaultEventsMaxLen.
func newSessiondb(addr string, cacheTTL time.Duration, events int) (*sessiondbTarget, error) {
	t := &sessiondbTarget{label: "sessiondb", cache: cacheTTL > 0}
	if cacheTTL > 0 {
		t.label = "sessiondb cached"
	}
	var ev *sessiondb.EventOptions
	switch {
	case events == sessiondb.DefaultEventsMaxLen:
		ev = &sessiondb.EventOptions{}
		t.label += " events"
	case events > 0:
		ev = &sessiondb.EventOptions{MaxLen: events}
		t.label += " events full"
	}
	c, err := newRueidis(addr, cacheTTL > 0)
	if err != nil {
		return nil, err
	}
	t.c = c
	st, err := redisstore.New(countingRueidis{c, &t.n}, redisstore.Options{CacheTTL: cacheTTL, Events: ev})
	if err != nil {
		return nil, err
	}
	t.m, err = sessiondb.New(st, sessiondb.Options{})
	return t, err
}

// reject switches the target to the reject policy: a create at the limit is
// refused, and counts as done (the workload measures refusals).
func (t *sessiondbTarget) reject() {
	opt := t.m.Options()
	opt.LimitPolicy = sessiondb.PolicyReject
	t.m, _ = sessiondb.New(t.m.Store(), opt)
	t.label, t.refuseOK = strings.Replace(t.label, "sessiondb", "sessiondb reject", 1), true
}

func (t *sessiondbTarget) name() string { return t.label }
func (t *sessiondbTarget) supports(w string) bool {
	return !t.cache || w == "validate"
}
func (t *sessiondbTarget) create(ctx context.Context, user int) (string, error) {
	s, err := t.m.Create(ctx, userName(t.userBase+user), time.Hour, metadata)
	if t.refuseOK && errors.Is(err, sessiondb.ErrSessionLimit) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(s.Token), nil
}
func (t *sessiondbTarget) validate(ctx context.Context, h string) error {
	_, err := t.m.Validate(ctx, h)
	return err
}
func (t *sessiondbTarget) invalidate(ctx context.Context, h string) error {
	return t.m.Invalidate(ctx, h)
}
func (t *sessiondbTarget) close() { t.m.Store().Close(); t.c.Close() }

// --- sessiond over HTTP ------------------------------------------------------

// sessiondTarget talks HTTP/1.1 to sessiond over kept-alive connections, with
// a minimal hand-written client (like wrk): Go's net/http client costs more
// CPU per request than the server it measures, and on a small machine that
// would be most of what the figure showed.
type sessiondTarget struct {
	counter
	addr, key string
	conns     chan *httpConn
}

type httpConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
}

func newSessiond(base, key string, conns int) *sessiondTarget {
	return &sessiondTarget{addr: strings.TrimPrefix(base, "http://"), key: key, conns: make(chan *httpConn, conns*2)}
}

func (t *sessiondTarget) name() string { return "sessiond http" }

func (t *sessiondTarget) conn() (*httpConn, error) {
	select {
	case c := <-t.conns:
		return c, nil
	default:
	}
	c, err := net.Dial("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return &httpConn{c: c, r: bufio.NewReaderSize(c, 4096)}, nil
}

func (t *sessiondTarget) release(c *httpConn) {
	select {
	case t.conns <- c:
	default:
		c.c.Close()
	}
}

// post sends one request and returns the body of an answer with status want.
func (t *sessiondTarget) post(path string, body []byte, want int) ([]byte, error) {
	c, err := t.conn()
	if err != nil {
		return nil, err
	}
	c.buf = append(c.buf[:0], "POST "...)
	c.buf = append(c.buf, path...)
	c.buf = append(c.buf, " HTTP/1.1\r\nHost: sessiond\r\nAuthorization: Bearer "...)
	c.buf = append(c.buf, t.key...)
	c.buf = append(c.buf, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.buf = strconv.AppendInt(c.buf, int64(len(body)), 10)
	c.buf = append(c.buf, "\r\n\r\n"...)
	c.buf = append(c.buf, body...)
	if _, err := c.c.Write(c.buf); err != nil {
		c.c.Close()
		return nil, err
	}
	status, out, err := readResponse(c.r)
	if err != nil {
		c.c.Close()
		return nil, err
	}
	t.release(c)
	if status != want {
		return nil, fmt.Errorf("%s: status %d: %s", path, status, out)
	}
	return out, nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length body.
func readResponse(r *bufio.Reader) (int, []byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 {
		return 0, nil, errors.New("short status line")
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, err
	}
	n := 0
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 16 && (h[0] == 'C' || h[0] == 'c') && strings.EqualFold(string(h[:15]), "content-length:") {
			n, _ = strconv.Atoi(strings.TrimSpace(string(h[15:])))
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return status, body, err
}

func (t *sessiondTarget) create(_ context.Context, user int) (string, error) {
	body, _ := json.Marshal(map[string]any{"user_id": userName(user), "ttl_seconds": 3600, "metadata": metadata})
	out, err := t.post("/v1/sessions", body, http.StatusCreated)
	if err != nil {
		return "", err
	}
	var s struct {
		Token string `json:"token"`
	}
	return s.Token, json.Unmarshal(out, &s)
}
func (t *sessiondTarget) validate(_ context.Context, h string) error {
	_, err := t.post("/v1/sessions/validate", []byte(`{"token":"`+h+`"}`), http.StatusOK)
	return err
}
func (t *sessiondTarget) invalidate(_ context.Context, h string) error {
	_, err := t.post("/v1/sessions/invalidate", []byte(`{"token":"`+h+`"}`), http.StatusNoContent)
	return err
}
func (t *sessiondTarget) close() {
	for {
		select {
		case c := <-t.conns:
			c.c.Close()
		default:
			return
		}
	}
}

// --- alexedwards/scs with its redisstore -------------------------------------

type scsTarget struct {
	counter
	sm   *scs.SessionManager
	pool *redigo.Pool
}

func newSCS(addr string, conns int) *scsTarget {
	t := &scsTarget{}
	t.pool = &redigo.Pool{
		MaxIdle: conns, MaxActive: conns, Wait: true,
		Dial: func() (redigo.Conn, error) {
			c, err := redigo.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			return countingRedigo{c, &t.n}, nil
		},
	}
	t.sm = scs.New()
	t.sm.Store = scsredis.New(t.pool)
	t.sm.Lifetime = time.Hour
	return t
}

type countingRedigo struct {
	redigo.Conn
	n *atomic.Int64
}

func (c countingRedigo) Do(cmd string, args ...any) (any, error) {
	if cmd != "" { // Do("") only flushes and reads what is pending
		c.n.Add(1)
	}
	return c.Conn.Do(cmd, args...)
}

func (t *scsTarget) name() string { return "scs redisstore" }
func (t *scsTarget) create(ctx context.Context, user int) (string, error) {
	ctx, err := t.sm.Load(ctx, "")
	if err != nil {
		return "", err
	}
	t.sm.Put(ctx, "user_id", userName(user))
	t.sm.Put(ctx, "ip", metadata["ip"])
	t.sm.Put(ctx, "user_agent", userAgent)
	tok, _, err := t.sm.Commit(ctx)
	return tok, err
}
func (t *scsTarget) validate(ctx context.Context, h string) error {
	ctx, err := t.sm.Load(ctx, h)
	if err != nil {
		return err
	}
	if t.sm.GetString(ctx, "user_id") == "" {
		return errors.New("scs: session not found")
	}
	return nil
}
func (t *scsTarget) invalidate(ctx context.Context, h string) error {
	ctx, err := t.sm.Load(ctx, h)
	if err != nil {
		return err
	}
	return t.sm.Destroy(ctx)
}
func (t *scsTarget) close() { t.pool.Close() }

// --- gorilla/sessions with a minimal Redis store ------------------------------

// gorillaStore is the smallest useful Redis store for gorilla/sessions: the
// cookie carries the session id, signed with securecookie; Redis holds the
// gob-encoded values under the id with a TTL.
type gorillaStore struct {
	counter
	c      *goredis.Client
	codecs []securecookie.Codec
}

func newGorilla(addr string, pool int) *gorillaStore {
	t := &gorillaStore{codecs: securecookie.CodecsFromPairs(securecookie.GenerateRandomKey(32))}
	t.c = goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: pool, MinIdleConns: pool / 2, DisableIdentity: true})
	t.c.AddHook(countHook{&t.n})
	return t
}

func (t *gorillaStore) name() string { return "gorilla/sessions" }
func (t *gorillaStore) create(ctx context.Context, user int) (string, error) {
	s := sessions.NewSession(nil, "sid")
	s.Values["user_id"] = userName(user)
	s.Values["ip"] = metadata["ip"]
	s.Values["user_agent"] = userAgent
	s.ID = hex.EncodeToString(securecookie.GenerateRandomKey(32))
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(s.Values); err != nil {
		return "", err
	}
	if err := t.c.Set(ctx, "gorilla:"+s.ID, buf.Bytes(), time.Hour).Err(); err != nil {
		return "", err
	}
	return securecookie.EncodeMulti(s.Name(), s.ID, t.codecs...)
}
func (t *gorillaStore) load(ctx context.Context, cookie string) (*sessions.Session, error) {
	s := sessions.NewSession(nil, "sid")
	if err := securecookie.DecodeMulti(s.Name(), cookie, &s.ID, t.codecs...); err != nil {
		return nil, err
	}
	b, err := t.c.Get(ctx, "gorilla:"+s.ID).Bytes()
	if err != nil {
		return nil, err
	}
	return s, gob.NewDecoder(bytes.NewReader(b)).Decode(&s.Values)
}
func (t *gorillaStore) validate(ctx context.Context, h string) error {
	_, err := t.load(ctx, h)
	return err
}
func (t *gorillaStore) invalidate(ctx context.Context, h string) error {
	s := sessions.NewSession(nil, "sid")
	if err := securecookie.DecodeMulti(s.Name(), h, &s.ID, t.codecs...); err != nil {
		return err
	}
	return t.c.Del(ctx, "gorilla:"+s.ID).Err()
}
func (t *gorillaStore) close() { t.c.Close() }

// --- a Spring-Session-style layout --------------------------------------------

// springStyle keeps the layout of Spring Session's RedisIndexedSessionRepository
// (docs: shared ANCHORS.md): a hash per session, an expiry key, a per-user
// index set and the expirations sorted set; every access rewrites the access
// time and the expiries. pipelined sends each group of commands at once.
type springStyle struct {
	counter
	c         *goredis.Client
	pipelined bool
}

const springIdle = 30 * time.Minute

func newSpring(addr string, pool int, pipelined bool) *springStyle {
	t := &springStyle{pipelined: pipelined}
	t.c = goredis.NewClient(&goredis.Options{Addr: addr, PoolSize: pool, MinIdleConns: pool / 2, DisableIdentity: true})
	t.c.AddHook(countHook{&t.n})
	return t
}

func (t *springStyle) name() string {
	if t.pipelined {
		return "spring-style pipelined"
	}
	return "spring-style"
}

func springKey(id string) string { return "spring:session:sessions:" + id }
func springExpKey(id string) string {
	return "spring:session:sessions:expires:" + id
}
func springIndex(user string) string {
	return "spring:session:index:org.springframework.session.FindByIndexNameSessionRepository.PRINCIPAL_NAME_INDEX_NAME:" + user
}

const springExpirations = "spring:session:sessions:expirations"

// run sends the commands one by one, or as one pipeline.
func (t *springStyle) run(ctx context.Context, cmds func(goredis.Cmdable) []goredis.Cmder) error {
	if t.pipelined {
		_, err := t.c.Pipelined(ctx, func(p goredis.Pipeliner) error { cmds(p); return nil })
		return err
	}
	for _, cmd := range cmds(t.c) {
		if err := cmd.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (t *springStyle) create(ctx context.Context, user int) (string, error) {
	id := randomID()
	now := time.Now().UnixMilli()
	u := userName(user)
	err := t.run(ctx, func(c goredis.Cmdable) []goredis.Cmder {
		return []goredis.Cmder{
			c.HSet(ctx, springKey(id), "creationTime", now, "lastAccessedTime", now, "maxInactiveInterval", int(springIdle/time.Second),
				"sessionAttr:principal", u, "sessionAttr:ip", metadata["ip"], "sessionAttr:userAgent", userAgent),
			c.Expire(ctx, springKey(id), springIdle+5*time.Minute),
			c.Set(ctx, springExpKey(id), "", springIdle),
			c.SAdd(ctx, springIndex(u), id),
			c.ZAdd(ctx, springExpirations, goredis.Z{Score: float64(now + springIdle.Milliseconds()), Member: id}),
		}
	})
	return id, err
}

func (t *springStyle) validate(ctx context.Context, id string) error {
	vals, err := t.c.HGetAll(ctx, springKey(id)).Result()
	if err != nil {
		return err
	}
	if len(vals) == 0 {
		return errors.New("spring: session not found")
	}
	now := time.Now().UnixMilli()
	return t.run(ctx, func(c goredis.Cmdable) []goredis.Cmder {
		return []goredis.Cmder{
			c.HSet(ctx, springKey(id), "lastAccessedTime", now),
			c.Expire(ctx, springKey(id), springIdle+5*time.Minute),
			c.Set(ctx, springExpKey(id), "", springIdle),
			c.ZAdd(ctx, springExpirations, goredis.Z{Score: float64(now + springIdle.Milliseconds()), Member: id}),
		}
	})
}

func (t *springStyle) invalidate(ctx context.Context, id string) error {
	user, err := t.c.HGet(ctx, springKey(id), "sessionAttr:principal").Result()
	if err != nil {
		return err
	}
	return t.run(ctx, func(c goredis.Cmdable) []goredis.Cmder {
		return []goredis.Cmder{
			c.Del(ctx, springKey(id)),
			c.Del(ctx, springExpKey(id)),
			c.SRem(ctx, springIndex(user), id),
			c.ZRem(ctx, springExpirations, id),
		}
	})
}
func (t *springStyle) close() { t.c.Close() }
