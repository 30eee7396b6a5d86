package main

// proxy.go is -trust-proxy. Behind a reverse proxy (deploy/nginx.conf)
// every connection comes from the proxy's address, so the log would name
// the proxy and -max-conns-per-ip would count every client as one. The
// proxy says who its client is, in X-Forwarded-For or in Forwarded (RFC
// 7239), and the server believes it only of a connection from an address
// -trust-proxy lists: anyone can send these headers, so from anyone else
// they are ignored. The address found is the log's remote=, the one
// -max-conns-per-ip counts (admit.go:countClient), and the one -trace and
// the inspector show. The Origin check (upgrade.go) is untouched: the
// proxy passes on what the browser sent.

import (
	"errors"
	"net"
	"net/netip"
	"strings"
)

// proxyList is -trust-proxy: the addresses, or networks, of trusted proxies.
type proxyList []netip.Prefix

// String lists the networks as -trust-proxy takes them.
func (p *proxyList) String() string {
	var parts []string
	for _, n := range *p {
		parts = append(parts, n.String())
	}
	return strings.Join(parts, ",")
}

// Set reads a comma-separated list of addresses (127.0.0.1, ::1) and
// networks (10.0.0.0/8). An IPv4 address written as IPv6 (::ffff:127.0.0.1)
// is kept as the IPv4 one, which is how trusts compares a peer's.
func (p *proxyList) Set(s string) error {
	*p = nil
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return errors.New("want addresses or networks, like 127.0.0.1 or 10.0.0.0/8, comma-separated: " + part + " is neither")
			}
			if a.Zone() != "" {
				return errors.New("an address with a zone (" + part + ") names no proxy here: leave the zone out")
			}
			n = netip.PrefixFrom(a, a.BitLen())
		}
		if n.Addr().Is4In6() {
			if n.Bits() < 96 {
				return errors.New(part + " covers IPv4-mapped addresses only in part: name the IPv4 network itself")
			}
			n = netip.PrefixFrom(n.Addr().Unmap(), n.Bits()-96)
		}
		*p = append(*p, n.Masked())
	}
	return nil
}

// trusts says whether a is a trusted proxy's address.
func (p proxyList) trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("") // a link-local peer's zone names our interface, not the peer
	for _, n := range p {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// trustsIP is trusts for an address in text, as remoteIP gives it.
func (p proxyList) trustsIP(ip string) bool {
	if len(p) == 0 { // no -trust-proxy: nothing to parse on every connection
		return false
	}
	a, err := netip.ParseAddr(ip)
	return err == nil && p.trusts(a)
}

// clientAddr is the address a connection's request comes from: the
// connection's own (remote), or, from a trusted proxy, the client the
// proxy names (forwardedClient), which is then counted against
// -max-conns-per-ip (errTooMany if that address has no room left) and
// shown by the tracer.
func (s *server) clientAddr(nc net.Conn, req *request, remote string, tr *tracer) (string, error) {
	if len(s.cfg.trustProxy) == 0 {
		return remote, nil
	}
	client := remoteIP(nc) // a trusted proxy that names no client is its own client (a health check, say)
	if !s.cfg.trustProxy.trustsIP(client) {
		return remote, nil
	}
	if a, ok := s.cfg.trustProxy.forwardedClient(req); ok {
		client = a.String()
	}
	if err := s.countClient(nc, client); err != nil { // admit.go
		return client, err // the log names the client refused, not its proxy
	}
	tr.via(client, remote) // trace.go
	return client, nil
}

// forwardedClient is the client a trusted proxy names: in X-Forwarded-For
// (or, without it, in Forwarded's for= parameters) each proxy appends the
// address it received the request from, so the list is client, proxy,
// proxy... The entries on the right were added by proxies we trust; the
// first from the right that is not a trusted address was added by one,
// about the client, and is believed. Anything left of it may be whatever
// the client itself sent, and is not. If every entry is trusted, the
// leftmost is the client. ok false: no list, or an entry that is not an
// address where the walk needed one (an obfuscated "for=_hidden", say).
func (p proxyList) forwardedClient(req *request) (netip.Addr, bool) {
	var entries []string
	if req.forwardFor != "" {
		entries = strings.Split(req.forwardFor, ",")
	} else if req.forwarded != "" {
		entries = forwardedFor(req.forwarded)
	}
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseHop(entries[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !p.trusts(a) || i == 0 {
			return a.Unmap().WithZone(""), true // another host's zone means nothing here
		}
	}
	return netip.Addr{}, false
}

// forwardedFor is the for= value of each element of a Forwarded header
// (RFC 7239 §4): "for=192.0.2.60;proto=https, for=\"[2001:db8::1]:4711\"".
func forwardedFor(h string) []string {
	var out []string
	for _, element := range strings.Split(h, ",") {
		for _, pair := range strings.Split(element, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(name, "for") {
				out = append(out, value)
			}
		}
	}
	return out
}

// parseHop reads one entry of either list: an address, perhaps quoted,
// with a port, or an IPv6 one in brackets ("[2001:db8::1]:4711").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a, true
	}
	return netip.Addr{}, false
}
