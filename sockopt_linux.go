package main

// sockopt_linux.go tunes the listening and the accepted sockets with
// golang.org/x/sys/unix. Each option says what it buys an echo server.

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// socket option values, in one place so that -h and the tests can name them.
const (
	keepIdle     = 60 * time.Second // TCP_KEEPIDLE: quiet time before the first probe
	keepInterval = 10 * time.Second // TCP_KEEPINTVL: time between probes
	keepCount    = 6                // TCP_KEEPCNT: unanswered probes before the peer is declared dead
	userTimeout  = 60 * time.Second // TCP_USER_TIMEOUT: how long sent data may stay unacknowledged
)

// listenControl returns the function that sets the listening socket's
// options before bind(2).
func listenControl(handshakeTimeout time.Duration) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		return controlListener(rc, max(1, int(handshakeTimeout/time.Second)))
	}
}

// controlListener sets SO_REUSEADDR and TCP_DEFER_ACCEPT (deferSeconds).
func controlListener(rc syscall.RawConn, deferSeconds int) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		s := int(fd)
		// SO_REUSEADDR: a restarted server can bind its port at once, while
		// the previous run's connections still sit in TIME_WAIT.
		if serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		// TCP_DEFER_ACCEPT: accept(2) returns a connection only once its first
		// bytes (the upgrade request) have arrived, so a client that connects
		// and says nothing costs no goroutine, only a kernel entry, and is
		// dropped by the kernel after the handshake timeout.
		serr = unix.SetsockoptInt(s, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferSeconds)
	})
	if err != nil {
		return err
	}
	return serr
}

// tuneConn sets the options of one accepted connection.
func tuneConn(nc net.Conn) error {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	set := func(s, level, opt, value int) {
		if serr == nil {
			serr = unix.SetsockoptInt(s, level, opt, value)
		}
	}
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		// TCP_NODELAY: an echo is one small write that the client is waiting
		// for; Nagle's algorithm would hold it back for the previous one's ACK.
		set(s, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		// SO_KEEPALIVE and its timings: a client whose machine vanished (no
		// FIN, no RST) is found out and its connection freed.
		set(s, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1)
		set(s, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepIdle/time.Second))
		set(s, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepInterval/time.Second))
		set(s, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepCount)
		// TCP_USER_TIMEOUT: keepalive probes are not sent while data is in
		// flight, so a peer that vanished while we were sending to it would
		// otherwise be retried for about 15 minutes.
		set(s, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout/time.Millisecond))
	})
	if err != nil {
		return err
	}
	return serr
}

// sockoptSummary says, for -trace, which options every socket gets and why.
func sockoptSummary(handshakeTimeout time.Duration) string {
	return fmt.Sprintf(`socket options (sockopt_linux.go):
    listener:   SO_REUSEADDR=1 (rebind at once after a restart)
                TCP_DEFER_ACCEPT=%ds (accept only once the request's first bytes arrived)
    connection: TCP_NODELAY=1 (an echo leaves at once, not after the previous ACK)
                SO_KEEPALIVE=1 TCP_KEEPIDLE=%ds TCP_KEEPINTVL=%ds TCP_KEEPCNT=%d (find peers that vanished)
                TCP_USER_TIMEOUT=%dms (give up on data unacknowledged that long)
`, max(1, int(handshakeTimeout/time.Second)), int(keepIdle/time.Second), int(keepInterval/time.Second), keepCount,
		int(userTimeout/time.Millisecond))
}

// openFileLimit is the process's open-file limit (RLIMIT_NOFILE): each
// connection is one file. Go raises the soft limit to the hard one at start.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(min(rl.Cur, 1<<30))
}

// drainReadable reads and drops what the client has sent so far, without
// waiting for more (a non-blocking read, up to drainMost bytes), so that
// closing the socket right after sends a FIN, not a reset.
func drainReadable(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var buf [4 << 10]byte
	rc.Read(func(fd uintptr) bool {
		for total := 0; total < drainMost; {
			n, err := syscall.Read(int(fd), buf[:])
			if n <= 0 || err != nil {
				break
			}
			total += n
		}
		return true // done, whatever the read said: never wait
	})
}

// drainMost bounds what drainReadable reads.
const drainMost = 64 << 10
