package httpsession

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that sent r: the connection's
// peer, or, when the peer is a trusted proxy (Options.TrustedProxies), the
// nearest address in the proxy header that is not a trusted proxy. Reading
// the header from right to left, and only behind trusted proxies, means a
// client cannot choose the address by sending the header itself. It returns
// "" when RemoteAddr is not an address (a request built by hand).
func (m *Middleware) ClientIP(r *http.Request) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return ""
	}
	if !m.trusted(peer) {
		return peer.String()
	}
	hops := m.forwardedFor(r)
	nearest := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHost(hops[i])
		if !ok {
			// "unknown", an obfuscated identifier or garbage: the client is
			// unknown beyond the nearest trusted hop.
			break
		}
		if !m.trusted(a) {
			return a.String()
		}
		nearest = a
	}
	return nearest.String()
}

func (m *Middleware) trusted(a netip.Addr) bool {
	for _, p := range m.c.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the addresses of the proxy header, client first.
func (m *Middleware) forwardedFor(r *http.Request) []string {
	var hops []string
	for _, line := range r.Header.Values(m.c.ProxyHeader) {
		for _, elem := range strings.Split(line, ",") {
			elem = strings.TrimSpace(elem)
			if m.c.ProxyHeader == "Forwarded" {
				elem = forwardedFor(elem)
			}
			hops = append(hops, elem)
		}
	}
	return hops
}

// forwardedFor returns the for= parameter of one RFC 7239 element
// (for=192.0.2.43;proto=https), unquoted, or "" when it has none.
func forwardedFor(elem string) string {
	for _, pair := range strings.Split(elem, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// parseHost parses an address with or without a port: 192.0.2.1,
// 192.0.2.1:443, 2001:db8::1, [2001:db8::1]:443. IPv4-mapped IPv6 addresses
// become IPv4, and zones are dropped.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// onLoopback reports whether r arrived at a loopback address of this host.
func onLoopback(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	a, ok := parseHost(local.String())
	return ok && a.IsLoopback()
}
