package main

// dial.go: opening many connections. One source address has a range of
// ephemeral ports, so more connections than that need several; and a
// process may open only as many files as its soft limit allows.

import (
	"crypto/rand"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// dialer hands out local source addresses in turn, so that more
// connections than one address's ephemeral ports can be opened.
type dialer struct {
	sources []net.IP
	next    atomic.Uint64
}

// newDialer uses the given sources, or as many 127.0.R.x as n connections need.
func newDialer(sources string, n int) *dialer {
	d := &dialer{}
	if sources == "auto" {
		// 127.0.R.1, 127.0.R.2, ...: one address per 10,000 connections, as
		// the ephemeral range is about 28,000 ports; R is new each run, so
		// that the last run's ports in TIME_WAIT are not in the way.
		var r [1]byte
		rand.Read(r[:])
		for i := range n/10000 + 1 {
			d.sources = append(d.sources, net.IPv4(127, 0, 1+r[0]%250, byte(1+i)))
		}
	} else {
		for s := range strings.SplitSeq(sources, ",") {
			if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil {
				d.sources = append(d.sources, ip)
			}
		}
	}
	return d
}

// dial opens one connection from the next source address.
func (d *dialer) dial(addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, rc syscall.RawConn) error {
		// IP_BIND_ADDRESS_NO_PORT: with a source address bound, the port is
		// chosen at connect(2) for the whole 4-tuple, so ports in TIME_WAIT
		// from an earlier run towards another address stay usable.
		return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1) })
	}}
	if len(d.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[d.next.Add(1)%uint64(len(d.sources))]}
	}
	return nd.Dial("tcp", addr)
}
