package httpsession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Source says where the middleware looks for the session token.
type Source int

const (
	// FromCookie reads the token from the session cookie only. The default.
	FromCookie Source = iota
	// FromBearer reads the token from an "Authorization: Bearer" header
	// only. Login then sets no cookie: hand the returned token to the client.
	FromBearer
	// FromCookieOrBearer reads a bearer header when the request has one, and
	// the cookie otherwise. A request with a bearer header is judged by that
	// header alone, even if it also carries a cookie.
	FromCookieOrBearer
)

func (s Source) String() string {
	switch s {
	case FromCookie:
		return "cookie"
	case FromBearer:
		return "bearer"
	case FromCookieOrBearer:
		return "cookie or bearer"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Defaults.
const (
	// DefaultCookieName is the session cookie's name. The __Host- prefix
	// makes browsers accept the cookie only with Secure, Path=/ and no
	// Domain, so neither plain HTTP nor a sibling subdomain can set it.
	DefaultCookieName = "__Host-session"

	// DevCookieName is the cookie's name under InsecureLoopbackHTTP, where the
	// __Host- prefix cannot be used (it requires Secure).
	DevCookieName = "session"

	// DefaultProxyHeader is the header read from trusted proxies.
	DefaultProxyHeader = "X-Forwarded-For"

	// MaxUserAgentBytes is the longest user agent kept in a session's
	// metadata; longer ones are cut.
	MaxUserAgentBytes = 512
)

// Options configure a Middleware. The zero value is valid and safe: a
// __Host- cookie with every secure attribute, no trusted proxies, the
// cross-origin check on, 401 JSON answers to requests without a session.
type Options struct {
	// Source says where tokens are read from. Default FromCookie.
	Source Source

	// CookieName is the session cookie's name. Default "__Host-session"
	// ("session" under InsecureLoopbackHTTP). A name with the __Host- or
	// __Secure- prefix cannot be combined with InsecureLoopbackHTTP.
	CookieName string

	// SameSite is the cookie's SameSite attribute: http.SameSiteLaxMode (the
	// default, also for the zero value) or http.SameSiteStrictMode. Lax lets
	// a link from another site arrive logged in; Strict does not. None is
	// refused: the cookie would then go with every cross-site request.
	SameSite http.SameSite

	// InsecureLoopbackHTTP is for development only, over plain HTTP on a
	// loopback address: the cookie is set without Secure, and its default name
	// loses the __Host- prefix (browsers refuse a __Host- cookie without
	// Secure). Login refuses (ErrInsecureCookie) any request that did not
	// arrive at a loopback address, so the setting cannot leak a session
	// cookie over a real network. Default false.
	InsecureLoopbackHTTP bool

	// TTL is the lifetime of the sessions Login creates. Default 0: the
	// session service's default TTL.
	TTL time.Duration

	// LoginURL, when set, makes Require answer a request without a valid
	// session with a 303 redirect to it (for pages), instead of the 401 JSON
	// error (for APIs). Default "": 401.
	LoginURL string

	// Unauthenticated, when set, answers the requests Require turns away for
	// want of a session; it overrides LoginURL. Default: see LoginURL.
	Unauthenticated http.Handler

	// Unavailable answers requests that presented a token when the session
	// store could not be asked (an outage, a timeout). Default: 503 with
	// Retry-After: 1 and {"error":{"code":"unavailable",...}}. It never
	// redirects to the login page: an outage is not a logout.
	Unavailable http.Handler

	// CrossOriginDenied answers the unsafe cross-origin requests that the
	// cross-origin check refuses. Default: 403 with
	// {"error":{"code":"permission_denied",...}}.
	CrossOriginDenied http.Handler

	// TrustedOrigins are origins ("https://app.example.com", scheme, host and
	// port if not the default) allowed to send cookie-authenticated unsafe
	// requests from another origin, for example a front end served from a
	// sibling host. Default none.
	TrustedOrigins []string

	// InsecureBypassPatterns are http.ServeMux patterns ("POST /webhooks/")
	// whose requests skip the cross-origin check. Default none.
	InsecureBypassPatterns []string

	// DisableCrossOriginCheck turns the cross-origin check off, for services
	// that defend against CSRF some other way. Default false: on.
	DisableCrossOriginCheck bool

	// TrustedProxies lists the reverse proxies (CIDR prefixes such as
	// "10.0.0.0/8", or single addresses) whose ProxyHeader is believed when
	// finding the client's address. Default none: the client's address is the
	// connection's peer (RemoteAddr) and forwarding headers are ignored, since
	// any client can send them.
	TrustedProxies []string

	// ProxyHeader is the header the trusted proxies append the client's
	// address to: "X-Forwarded-For" (the default) or "Forwarded" (RFC 7239).
	// It is read from right to left, skipping trusted proxies; the first
	// other address is the client.
	ProxyHeader string

	// Logger receives a line for each store failure, with the error and never
	// a token. Default: discard.
	Logger *slog.Logger
}

// config is Options checked and with defaults filled in.
type config struct {
	Options
	proxies []netip.Prefix
	csrf    *http.CrossOriginProtection // nil when disabled
}

func (o Options) config() (*config, error) {
	c := &config{Options: o}
	switch o.Source {
	case FromCookie, FromBearer, FromCookieOrBearer:
	default:
		return nil, fmt.Errorf("httpsession: unknown Source %d", int(o.Source))
	}
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
		if o.InsecureLoopbackHTTP {
			c.CookieName = DevCookieName
		}
	}
	if !validCookieName(c.CookieName) {
		return nil, fmt.Errorf("httpsession: CookieName %q is not a valid cookie name", c.CookieName)
	}
	if o.InsecureLoopbackHTTP && (hasPrefixFold(c.CookieName, "__Host-") || hasPrefixFold(c.CookieName, "__Secure-")) {
		return nil, fmt.Errorf("httpsession: CookieName %q needs Secure, which InsecureLoopbackHTTP drops; use a name without the prefix", c.CookieName)
	}
	switch o.SameSite {
	case 0, http.SameSiteDefaultMode, http.SameSiteLaxMode:
		c.SameSite = http.SameSiteLaxMode
	case http.SameSiteStrictMode:
	default:
		return nil, errors.New("httpsession: SameSite must be Lax or Strict")
	}
	if o.TTL < 0 {
		return nil, fmt.Errorf("httpsession: negative TTL %v", o.TTL)
	}
	if o.LoginURL != "" && strings.ContainsAny(o.LoginURL, "\r\n") {
		return nil, errors.New("httpsession: LoginURL contains a line break")
	}
	switch {
	case o.ProxyHeader == "":
		c.ProxyHeader = DefaultProxyHeader
	case strings.EqualFold(o.ProxyHeader, "X-Forwarded-For"), strings.EqualFold(o.ProxyHeader, "Forwarded"):
		c.ProxyHeader = http.CanonicalHeaderKey(o.ProxyHeader)
	default:
		return nil, fmt.Errorf("httpsession: ProxyHeader %q: want X-Forwarded-For or Forwarded", o.ProxyHeader)
	}
	for _, p := range o.TrustedProxies {
		prefix, err := parsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("httpsession: TrustedProxies: %q is neither an address nor a CIDR prefix", p)
		}
		c.proxies = append(c.proxies, prefix)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Unavailable == nil {
		c.Unavailable = http.HandlerFunc(unavailable)
	}
	if c.CrossOriginDenied == nil {
		c.CrossOriginDenied = http.HandlerFunc(crossOriginDenied)
	}
	if c.Unauthenticated == nil {
		if c.LoginURL != "" {
			c.Unauthenticated = http.RedirectHandler(c.LoginURL, http.StatusSeeOther)
		} else {
			c.Unauthenticated = http.HandlerFunc(c.unauthenticated)
		}
	}
	if o.DisableCrossOriginCheck {
		if len(o.TrustedOrigins) > 0 || len(o.InsecureBypassPatterns) > 0 {
			return nil, errors.New("httpsession: TrustedOrigins and InsecureBypassPatterns mean nothing with DisableCrossOriginCheck")
		}
		return c, nil
	}
	c.csrf = http.NewCrossOriginProtection()
	for _, origin := range o.TrustedOrigins {
		if err := c.csrf.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("httpsession: TrustedOrigins: %w", err)
		}
	}
	for _, pattern := range o.InsecureBypassPatterns {
		if err := addBypass(c.csrf, pattern); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// addBypass adds a bypass pattern, turning the panic that
// AddInsecureBypassPattern raises for a bad pattern into an error.
func addBypass(p *http.CrossOriginProtection, pattern string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("httpsession: InsecureBypassPatterns: %q: %v", pattern, r)
		}
	}()
	p.AddInsecureBypassPattern(pattern)
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			if p.Bits() < 96 {
				return netip.Prefix{}, errors.New("IPv4-mapped prefix shorter than 96 bits")
			}
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked(), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// validCookieName reports whether s is an RFC 6265 token.
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}
