// Package httpsession is net/http middleware for sessiondb sessions: it reads
// a session token from a cookie or an Authorization: Bearer header, validates
// it, and puts the session in the request context; it logs users in and out
// with safe cookies and refuses cross-site requests that ride on them.
//
// It works with any router that speaks http.Handler, and with either the
// embedded library (*sessiondb.Manager) or a remote sessiond (the Go client
// in package sessiondclient): both satisfy [Sessions].
//
//	mw, err := httpsession.New(manager, httpsession.Options{LoginURL: "/login"})
//	mux.Handle("GET /account", mw.Require(accountPage))
//	mux.Handle("GET /{$}", mw.Optional(homePage))
//
//	// in the login handler, once the password checked out:
//	s, err := mw.Login(w, r, userID, nil)
//
//	// in any handler behind Require or Optional:
//	s, ok := httpsession.FromContext(r.Context())
//
// # Cookies
//
// The session cookie is named __Host-session and carries HttpOnly, Secure,
// SameSite=Lax, Path=/ and no Domain: browsers then keep it to this one
// origin over HTTPS, out of reach of scripts and of sibling subdomains. Its
// Max-Age is the session's remaining absolute lifetime; the server, not the
// cookie, enforces every timeout. [Options.InsecureLoopbackHTTP] is the one
// explicit escape hatch for development over plain HTTP on a loopback
// address.
//
// # Session fixation
//
// [Middleware.Login] never adopts a token the request brought: it ends any
// session the request presents, whoever it belongs to, and issues a new one
// with a new token. A token planted in a browser before login therefore never
// becomes an authenticated session, and a fresh login restarts the absolute
// lifetime (a rotation would keep the old user, creation time and metadata).
//
// # Cross-site request forgery
//
// A cookie is an ambient credential: the browser sends it with requests that
// other sites trigger. For requests authenticated by the cookie, unsafe
// methods (anything but GET, HEAD and OPTIONS) go through the standard
// library's [http.CrossOriginProtection], which refuses cross-origin browser
// requests by their Sec-Fetch-Site header, or by comparing Origin with Host.
// Login, Logout and the other helpers that change state apply the same check.
// Requests authenticated by a bearer token are not checked: a page on another
// site cannot make a browser attach that header.
//
// # Errors and outages
//
// No session, or an unknown, expired or malformed token, is "not logged in":
// [Middleware.Require] answers 401 (or redirects to the login page). A store
// that cannot answer is not "logged out": the middleware answers 503 with
// Retry-After, so that a short outage never sends users to the login page.
// Tokens never appear in logs, errors or URLs.
package httpsession
