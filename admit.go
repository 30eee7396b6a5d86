package main

// admit.go is who gets in: every accepted connection counts against
// -max-conns and -max-conns-per-ip, and one there is no room for is
// answered 503 at once, in the accept loop (server.go:serve). Behind a
// trusted proxy a connection is counted under the client's address once
// its request head names it (proxy.go), not under the proxy's.

import (
	"net"
	"time"
)

// admission is what the accept loop does with a new connection.
type admission int

// A connection is admitted, turned away for lack of room, or closed
// because the server is shutting down.
const (
	admitted admission = iota
	noRoom
	closing
)

// admit counts a new connection against -max-conns, every accepted one,
// whatever it goes on to ask for, and against -max-conns-per-ip under its
// peer's address unless that is a trusted proxy's (countClient counts
// those under the client's), and tracks it if there is room. An admitted connection's goroutine is counted in s.wg
// here, under the lock that shutdown takes to set closing, so that the
// shutdown's Wait cannot begin between the admission and the count.
func (s *server) admit(nc net.Conn) admission {
	ip := remoteIP(nc)
	if s.cfg.trustProxy.trustsIP(ip) {
		ip = "" // a proxy: its client is counted once the request names it (countClient)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return closing
	case len(s.conns) >= s.cfg.maxConns, ip != "" && s.cfg.maxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.maxConnsPerIP:
		return noRoom
	}
	s.conns[nc] = tracked{ip: ip}
	if ip != "" {
		s.perIP[ip]++
	}
	s.wg.Add(1)
	return admitted
}

// countClient counts a trusted proxy's connection under the client's
// address ip, as admit counts any other, or refuses it with 503 if that
// address holds -max-conns-per-ip already.
func (s *server) countClient(nc net.Conn, ip string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.conns[nc]
	if !ok || t.ip != "" {
		return nil
	}
	if s.cfg.maxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.maxConnsPerIP {
		return errTooMany
	}
	t.ip = ip
	s.conns[nc] = t
	s.perIP[ip]++
	return nil
}

// remoteIP is the connection's peer address without its port.
func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return nc.RemoteAddr().String()
}

// turnAway answers a connection there is no room for with 503 and closes
// it, in the accept loop: no goroutine, no wait for its request, and so no
// descriptor held past this call. What the client has already sent is
// read first (without waiting, sockopt_linux.go), so that the close is a
// FIN after the answer, not a reset that could destroy it.
func turnAway(nc net.Conn, resp []byte) {
	drainReadable(nc)
	nc.SetWriteDeadline(time.Now().Add(turnAwayWrite))
	nc.Write(resp)
	nc.Close()
}

// turnAwayWrite bounds the 503's write: a fresh socket's send buffer takes it at once.
const turnAwayWrite = 100 * time.Millisecond
