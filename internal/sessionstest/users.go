package sessionstest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiondb/sessiondb"
)

func testInvalidate(e *env) {
	s := e.create("u", 0, nil)
	other := e.create("u", 0, nil)
	if err := e.s.Invalidate(e.ctx, string(s.Token)); err != nil {
		e.t.Fatalf("Invalidate: %v", err)
	}
	_, err := e.s.Validate(e.ctx, string(s.Token))
	e.wantNotFound("Validate after Invalidate", err)
	e.wantNotFound("second Invalidate", e.s.Invalidate(e.ctx, string(s.Token)))
	if ids := e.ids("u"); len(ids) != 1 || ids[0] != other.ID {
		e.t.Errorf("UserSessions after Invalidate = %v, want [%s]", ids, other.ID)
	}
	e.validate(other.Token)
}

func testInvalidateByID(e *env) {
	s := e.create("u", 0, nil)
	if err := e.s.InvalidateByID(e.ctx, s.ID); err != nil {
		e.t.Fatalf("InvalidateByID: %v", err)
	}
	_, err := e.s.Validate(e.ctx, string(s.Token))
	e.wantNotFound("Validate after InvalidateByID", err)
	e.wantNotFound("second InvalidateByID", e.s.InvalidateByID(e.ctx, s.ID))
	for _, id := range []string{"", "nope", string(s.Token)} {
		e.wantNotFound(fmt.Sprintf("InvalidateByID(%.24q)", id), e.s.InvalidateByID(e.ctx, id))
	}
}

func testInvalidateUser(e *env) {
	a := e.create("alice", 0, nil)
	b := e.create("alice", 0, nil)
	c := e.create("alice", 0, nil)
	bob := e.create("bob", 0, nil)
	n, err := e.s.InvalidateUser(e.ctx, "alice", b.ID)
	if err != nil || n != 2 {
		e.t.Fatalf("InvalidateUser(alice, except b) = %d, %v, want 2", n, err)
	}
	for _, s := range []*sessiondb.Session{a, c} {
		_, err := e.s.Validate(e.ctx, string(s.Token))
		e.wantNotFound("Validate of an invalidated session", err)
	}
	e.validate(b.Token)
	e.validate(bob.Token)
	if ids := e.ids("alice"); len(ids) != 1 || ids[0] != b.ID {
		e.t.Errorf("UserSessions(alice) = %v, want [%s]", ids, b.ID)
	}
	if n, err := e.s.InvalidateUser(e.ctx, "alice", ""); err != nil || n != 1 {
		e.t.Errorf("InvalidateUser(alice) = %d, %v, want 1", n, err)
	}
	if n, err := e.s.InvalidateUser(e.ctx, "nobody", ""); err != nil || n != 0 {
		e.t.Errorf("InvalidateUser(unknown user) = %d, %v, want 0", n, err)
	}
	_, err = e.s.InvalidateUser(e.ctx, "bob", "not-an-id")
	e.wantInvalid("InvalidateUser with a malformed except", err, "except")
	_, err = e.s.InvalidateUser(e.ctx, "bob", string(bob.Token))
	e.wantInvalid("InvalidateUser with a token as except", err, "except")
	_, err = e.s.InvalidateUser(e.ctx, "", "")
	e.wantInvalid("InvalidateUser(\"\")", err, "user_id")
	e.validate(bob.Token)
}

func testUserSessionsNewestFirst(e *env) {
	if ids := e.ids("carol"); len(ids) != 0 {
		e.t.Errorf("UserSessions of an unknown user = %v, want none", ids)
	}
	var want []string
	for i := range 4 {
		s := e.create("carol", 0, map[string]string{"n": fmt.Sprint(i)})
		want = append([]string{s.ID}, want...)
		time.Sleep(2 * time.Millisecond) // distinct creation times, even at millisecond precision
	}
	list := e.userSessions("carol")
	var got []string
	for i, s := range list {
		got = append(got, s.ID)
		if s.UserID != "carol" || s.Metadata["n"] != fmt.Sprint(len(list)-1-i) {
			e.t.Errorf("UserSessions[%d] = %+v", i, s.Record)
		}
		if i > 0 && s.CreatedAt.After(list[i-1].CreatedAt) {
			e.t.Errorf("UserSessions not newest first: %v after %v", s.CreatedAt, list[i-1].CreatedAt)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		e.t.Errorf("UserSessions = %v, want newest first %v", got, want)
	}
}

// testUserIDs checks that user ids with characters special in URLs work
// end to end, and only for their own user.
func testUserIDs(e *env) {
	users := []string{"team/alice", ".", "..", "a b?c=d&e#f", "%41", "ü\u2028", "user@example.com", strings.Repeat("u", sessiondb.MaxUserIDBytes)}
	byUser := map[string]*sessiondb.Session{}
	for _, u := range users {
		byUser[u] = e.create(u, 0, nil)
	}
	for _, u := range users {
		if ids := e.ids(u); len(ids) != 1 || ids[0] != byUser[u].ID {
			e.t.Errorf("UserSessions(%q) = %v, want [%s]", u, ids, byUser[u].ID)
		}
		if v := e.validate(byUser[u].Token); v.UserID != u {
			e.t.Errorf("Validate: UserID = %q, want %q", v.UserID, u)
		}
	}
	for _, u := range users {
		if n, err := e.s.InvalidateUser(e.ctx, u, ""); err != nil || n != 1 {
			e.t.Errorf("InvalidateUser(%q) = %d, %v, want 1", u, n, err)
		}
	}
	if st := e.stats(); st.Active != 0 {
		e.t.Errorf("after invalidating every user: %d active sessions, want 0", st.Active)
	}
}

func testLimitEvict(e *env) {
	s1 := e.create("u", 0, nil)
	time.Sleep(2 * time.Millisecond)
	s2 := e.create("u", 0, nil)
	time.Sleep(2 * time.Millisecond)
	s3 := e.create("u", 0, nil)
	_, err := e.s.Validate(e.ctx, string(s1.Token))
	e.wantNotFound("Validate of the evicted oldest session", err)
	e.validate(s2.Token)
	e.validate(s3.Token)
	if ids := e.ids("u"); fmt.Sprint(ids) != fmt.Sprint([]string{s3.ID, s2.ID}) {
		e.t.Errorf("UserSessions = %v, want [%s %s]", ids, s3.ID, s2.ID)
	}
	if st := e.stats(); st.Evicted != 1 || st.Active != 2 || st.Created != 3 {
		e.t.Errorf("Stats: evicted %d active %d created %d, want 1 2 3", st.Evicted, st.Active, st.Created)
	}
	e.create("other", 0, nil) // another user's limit is their own
	e.validate(s2.Token)
}

func testLimitReject(e *env) {
	s1 := e.create("u", 0, nil)
	e.create("u", 0, nil)
	_, err := e.s.Create(e.ctx, "u", 0, nil)
	e.wantErr("Create over the limit", err, sessiondb.ErrSessionLimit)
	if errors.Is(err, sessiondb.ErrInvalidArgument) || errors.Is(err, sessiondb.ErrUnavailable) {
		e.t.Errorf("Create over the limit = %v, also matches another sentinel", err)
	}
	if ids := e.ids("u"); len(ids) != 2 {
		e.t.Errorf("a refused Create left %d sessions, want 2", len(ids))
	}
	if err := e.s.Invalidate(e.ctx, string(s1.Token)); err != nil {
		e.t.Fatal(err)
	}
	e.create("u", 0, nil) // room again
	if st := e.stats(); st.Created != 3 || st.Evicted != 0 {
		e.t.Errorf("Stats: created %d evicted %d, want 3 0", st.Created, st.Evicted)
	}
}

func testNoLimit(e *env) {
	var toks []sessiondb.Token
	for range sessiondb.DefaultMaxSessionsPerUser + 3 {
		toks = append(toks, e.create("u", 0, nil).Token)
	}
	for _, tok := range toks {
		e.validate(tok)
	}
}
