package httpapi

import (
	"context"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiondb/sessiondb"
)

// consoleForms are the console's form posts, the request bodies sessiond
// accepts besides the API's JSON.
var consoleForms = []string{"/ui/login", "/ui/users/revoke", "/ui/sessions/revoke", "/ui/logout"}

// fuzzConsoleUser is the user whose sessions FuzzConsoleForms watches.
const fuzzConsoleUser = "alice"

// FuzzConsoleForms sends arbitrary bodies and content types to the console's
// form posts, signed in or not, as a same-origin browser would. "$ID" in a
// body stands for one of alice's three live sessions. Besides never a 5xx,
// it checks what each post did: alice's sessions change only on a confirmed
// (confirmed=1), signed-in revocation of alice or of one of her sessions,
// and then exactly as the form asked; a cookie is set only by a sign-in with
// the admin key; a redirect stays in the console.
func FuzzConsoleForms(f *testing.F) {
	s := newConsoleServer(f, "app:"+testAppKey+",admin:"+testAdminKey)
	s.log.Reset()
	ctx := context.Background()
	for route := range uint8(len(consoleForms)) {
		for _, body := range []string{
			"", "key=" + testAdminKey, "key=" + testAppKey, "key=", "key=x&key=" + testAdminKey,
			"user_id=alice", "user_id=alice&confirmed=1", "user_id=alice&except=$ID&confirmed=1",
			"user_id=alice&except=nope&confirmed=1", "user_id=&confirmed=1", "user_id=bob&confirmed=1",
			"id=$ID", "id=$ID&confirmed=1", "id=$ID&user_id=alice&confirmed=1", "id=&confirmed=1",
			"id=000AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&confirmed=1", "id=%2E%2E%2F&confirmed=1",
			"confirmed=1&confirmed=0&user_id=alice", "confirmed=0&confirmed=1&user_id=alice",
			"user_id=alice;confirmed=1", "user_id=%zz&confirmed=1", "user_id=a%00b&confirmed=1",
			"user_id=" + strings.Repeat("u", 300) + "&confirmed=1", "id=" + strings.Repeat("%41", 2000),
			"\xff\xfe=\x00", "&&&=&=", "user_id=alice&confirmed=1&" + strings.Repeat("x", 70000),
		} {
			f.Add(route, true, "application/x-www-form-urlencoded", []byte(body))
		}
		f.Add(route, false, "application/x-www-form-urlencoded", []byte("user_id=alice&confirmed=1"))
		f.Add(route, false, "application/x-www-form-urlencoded", []byte("key="+testAdminKey))
		f.Add(route, true, "application/json", []byte(`{"user_id":"alice","confirmed":"1"}`))
		f.Add(route, true, "application/x-www-form-urlencoded; charset=utf-8", []byte("id=$ID&confirmed=1"))
		f.Add(route, true, "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"confirmed\"\r\n\r\n1\r\n--x--\r\n"))
		f.Add(route, true, "", []byte("user_id=alice&confirmed=1"))
	}

	// A cookie minted here lives two seconds, so that the tokens signed out
	// by a long run leave the server's list of signed-out tokens quickly.
	var (
		cookie    string
		cookieExp time.Time
		ids       []string // alice's sessions
	)
	f.Fuzz(func(t *testing.T, route uint8, signedIn bool, contentType string, body []byte) {
		now := time.Now()
		if cookie == "" || now.After(cookieExp.Add(-time.Second)) {
			cookieExp = now.Add(2 * time.Second)
			cookie = newConsoleToken(testAdminKey, cookieExp)
		}
		for len(ids) < 3 {
			sess, err := s.m.Create(ctx, fuzzConsoleUser, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sess.ID)
		}
		target := consoleForms[int(route)%len(consoleForms)]
		text := strings.ReplaceAll(string(body), "$ID", ids[int(route)%len(ids)])
		req := httptest.NewRequest("POST", target, strings.NewReader(text))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if signedIn {
			req.Header.Set("Cookie", consoleCookie+"="+cookie)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		what := "POST " + target + " " + contentType + " " + strings.ToValidUTF8(text[:min(len(text), 200)], "?")
		if w.Code >= 500 {
			t.Fatalf("%s: %d\n%s", what, w.Code, w.Body)
		}
		if loc := w.Header().Get("Location"); w.Code == http.StatusSeeOther && !strings.HasPrefix(loc, "/ui/") {
			t.Fatalf("%s: 303 to %q, outside the console", what, loc)
		}

		// What the form asked, read as the handlers read it.
		mt, _, mtErr := mime.ParseMediaType(contentType)
		form, err := url.ParseQuery(text)
		formOK := mtErr == nil && err == nil && mt == "application/x-www-form-urlencoded" && len(text) <= maxFormBytes
		confirmed := formOK && signedIn && form.Get("confirmed") == "1"

		var setCookie string
		for _, c := range w.Result().Cookies() {
			if c.Name == consoleCookie {
				setCookie = c.Value
			}
		}
		signsIn := target == "/ui/login" && formOK && form.Get("key") == testAdminKey
		if signsIn != (setCookie != "") {
			t.Fatalf("%s: %d set the cookie to %q; a sign-in with the admin key sets it, nothing else does", what, w.Code, setCookie)
		}
		if target == "/ui/logout" && signedIn {
			cookie = "" // signed out: the next run signs in anew
		}

		want := ids
		switch {
		case !confirmed:
		case target == "/ui/users/revoke" && form.Get("user_id") == fuzzConsoleUser:
			switch except := form.Get("except"); {
			case slices.Contains(ids, except):
				want = []string{except}
			case except == "":
				want = nil
			default:
				if _, err := sessiondb.ParseID(except); err == nil {
					want = nil // another user's session, or none: all of alice's go
				}
			}
		case target == "/ui/sessions/revoke" && slices.Contains(ids, form.Get("id")):
			want = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == form.Get("id") })
		}
		live, err := s.m.UserSessions(ctx, fuzzConsoleUser)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sess := range live {
			got = append(got, sess.ID)
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d left alice's sessions %q, want %q", what, w.Code, got, want)
		}
		ids = got
		if target == "/ui/login" && strings.Contains(s.log.String(), testAdminKey) {
			t.Fatalf("%s: the admin key is in the log", what)
		}
		s.log.Reset()
	})
}
