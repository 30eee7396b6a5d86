package main

// sockopt_linux.go sets, through golang.org/x/sys/unix, the two socket
// options that Go's net package has no call for: TCP_DEFER_ACCEPT on the
// listener and TCP_USER_TIMEOUT on each connection. Go already sets
// SO_REUSEADDR on every listener, TCP_NODELAY on every TCP connection, and
// the keepalive of sockopt.go, so this file does not set them again.

import (
	"fmt"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeout is TCP_USER_TIMEOUT: how long sent data may stay unacknowledged.
const userTimeout = 60 * time.Second

// listenControl returns the function that sets the listening socket's
// options before bind(2).
func listenControl(handshakeTimeout time.Duration) func(network, address string, rc syscall.RawConn) error {
	return func(network, address string, rc syscall.RawConn) error {
		return setDeferAccept(rc, deferSeconds(handshakeTimeout))
	}
}

// deferSeconds is TCP_DEFER_ACCEPT's value for a handshake timeout: whole
// seconds, and at least one, since zero would turn the option off.
func deferSeconds(handshakeTimeout time.Duration) int {
	return max(1, int(handshakeTimeout/time.Second))
}

// setDeferAccept sets TCP_DEFER_ACCEPT: the kernel completes a connection
// and hands it to accept(2) only once its first bytes (the upgrade request)
// have arrived, so a client that connects and says nothing costs no
// goroutine, only a kernel entry. Once the seconds are over (the kernel
// counts them in SYN-ACK retransmissions, so it may wait longer)
// it hands the connection on all the same, and the handshake timeout then
// closes it.
func setDeferAccept(rc syscall.RawConn, seconds int) error {
	return setInt(rc, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, seconds)
}

// setUserTimeout sets TCP_USER_TIMEOUT: the kernel closes the connection
// once data it sent has gone unacknowledged for d, or could not be sent for
// d because the peer's window stayed shut. Keepalive probes are not sent
// while data is in flight, so without it a peer that vanished while we were
// sending to it would be retried for many minutes (tcp_retries2).
func setUserTimeout(rc syscall.RawConn, d time.Duration) error {
	return setInt(rc, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d/time.Millisecond))
}

// setInt sets one integer socket option on rc's socket.
func setInt(rc syscall.RawConn, level, opt, value int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), level, opt, value) }); err != nil {
		return err
	}
	return serr
}

// tuneConn sets the option of one accepted connection that net has no
// call for: TCP_USER_TIMEOUT.
func tuneConn(nc net.Conn) error {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	return setUserTimeout(rc, userTimeout)
}

// sockoptSummary says, for -trace, which options every socket gets and why.
func sockoptSummary(handshakeTimeout time.Duration) string {
	return fmt.Sprintf(`socket options (sockopt_linux.go):
    set by Go's net, not here: SO_REUSEADDR on the listener, TCP_NODELAY on every connection
    listener, x/sys:   TCP_DEFER_ACCEPT=%ds (accept only once the request's first bytes arrived,
                       or at least that long passed)
    connection, x/sys: TCP_USER_TIMEOUT=%dms (close once sent data went unacknowledged that long)
    connection, net's KeepAliveConfig: SO_KEEPALIVE=1 TCP_KEEPIDLE=%ds TCP_KEEPINTVL=%ds TCP_KEEPCNT=%d
                       (find quiet peers that vanished; TCP_USER_TIMEOUT, not the count, says when to give up)
`, deferSeconds(handshakeTimeout), int(userTimeout/time.Millisecond),
		int(keepIdle/time.Second), int(keepInterval/time.Second), keepCount)
}

// openFileLimit is the process's open-file limit (RLIMIT_NOFILE): each
// connection is one file. At start Go raises the soft limit to one below
// the hard one, if it was lower (syscall/rlimit.go).
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
