package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketOptions: an accepted connection carries the keepalive and the
// TCP_USER_TIMEOUT that tuneConn sets; the tests below show what
// TCP_DEFER_ACCEPT and TCP_USER_TIMEOUT do. TCP_NODELAY and SO_REUSEADDR
// are left out: Go sets the first on every TCP connection and the second
// on every listening socket, so a check of them could not fail.
func TestSocketOptions(t *testing.T) {
	ln, err := listen("127.0.0.1:0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, server := acceptOne(t, ln, nil)
	defer client.Close()
	defer server.Close()
	if err := tuneConn(server); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepIdle / time.Second)},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepInterval / time.Second)},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepCount},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout / time.Millisecond)},
	} {
		if got := getInt(t, server, o.level, o.opt); got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
}

// TestSockDeferAccept: on listen's socket (TCP_DEFER_ACCEPT), a client that
// connects and sends nothing is not handed to Accept while one that sends
// a byte is, and is handed on once the deferring seconds are over. The
// silent client dials first, so without the option it would be accepted
// first, or be waiting in the queue when the second Accept asks.
func TestSockDeferAccept(t *testing.T) {
	// The kernel counts TCP_DEFER_ACCEPT in SYN-ACK retransmissions and may
	// round the seconds up; these seconds it keeps exactly.
	const handshakeTimeout = 3 * time.Second
	ln, err := listen("127.0.0.1:0", handshakeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := ln.(*net.TCPListener)
	start := time.Now()
	// The silent client's handshake takes seconds, and the kernel keeps that
	// round-trip time for its address (forgetRTT): it dials from its own.
	silentFrom := net.IPv4(127, 0, 0, 78)
	t.Cleanup(func() { forgetRTT(silentFrom) })
	silent, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: silentFrom}}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	talker, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	if _, err := talker.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}

	accept := func(within time.Duration) (net.Conn, error) {
		tl.SetDeadline(time.Now().Add(within))
		return ln.Accept()
	}
	// The talker's byte arrives at once on loopback.
	nc, err := accept(time.Second)
	if err != nil {
		t.Fatalf("the client that sent a byte was not accepted: %v", err)
	}
	nc.Close()
	if nc.RemoteAddr().String() != talker.LocalAddr().String() {
		t.Fatalf("accepted %v, the client that sent nothing; want %v", nc.RemoteAddr(), talker.LocalAddr())
	}
	// Half the deferring time, measured from the silent client's dial.
	if nc, err := accept(handshakeTimeout/2 - time.Since(start)); err == nil {
		nc.Close()
		t.Fatalf("the client that sent nothing was accepted after %v, within TCP_DEFER_ACCEPT", time.Since(start))
	} else if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	// After the deferring seconds the kernel hands it on all the same.
	nc, err = accept(handshakeTimeout + 5*time.Second - time.Since(start))
	if err != nil {
		t.Fatalf("the client that sent nothing was not accepted after TCP_DEFER_ACCEPT's seconds: %v", err)
	}
	nc.Close()
	if took := time.Since(start); took < handshakeTimeout/2 || nc.RemoteAddr().String() != silent.LocalAddr().String() {
		t.Fatalf("accepted %v after %v; want %v after at least %v", nc.RemoteAddr(), took, silent.LocalAddr(), handshakeTimeout/2)
	}
}

// TestSockUserTimeout: with TCP_USER_TIMEOUT the kernel closes a connection
// whose data has waited too long, and a blocked write fails with ETIMEDOUT
// instead of waiting on. The peer here stops reading: its receive window
// shuts and the server's data cannot be sent, which tcp(7) counts against
// the user timeout as it does data sent and never acknowledged; a peer that
// vanished is TestSockUserTimeoutVanishedPeer's. The timeout here is short, not userTimeout, so that
// the test takes seconds; without the option the write would block
// until its deadline, since the peer goes on answering the window probes.
func TestSockUserTimeout(t *testing.T) {
	client, server := loopbackPair(t, nil)
	client.SetReadBuffer(4 << 10) // small buffers fill sooner
	server.SetWriteBuffer(4 << 10)
	userTimeoutOn(t, server, time.Second)
	const bound = 15 * time.Second
	start := time.Now()
	server.SetWriteDeadline(start.Add(bound))
	buf := make([]byte, 64<<10)
	var err error
	for {
		if _, err = server.Write(buf); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("write to a peer that stopped reading: %v after %v; want ETIMEDOUT, the kernel's close", err, time.Since(start))
	}
}

// TestSockUserTimeoutVanishedPeer: a client that vanishes (its machine
// gone: no FIN, no RST, nothing) is noticed within TCP_USER_TIMEOUT, both
// while the server sends to it and while the connection is quiet. The
// vanishing is a netfilter rule (nft) that drops every packet the client's
// port sends, so loopback stops answering for this one connection only.
// "sending": the server's data is never acknowledged; without the option
// the kernel would retransmit for many minutes (tcp_retries2), and the
// read below would wait for its deadline. "quiet": keepalive probes go
// unanswered; the count is set high to show that the kernel ignores it
// while TCP_USER_TIMEOUT is set (keepAlive's comment), so the connection
// ends after the user timeout, not after a hundred probes.
func TestSockUserTimeoutVanishedPeer(t *testing.T) {
	needTool(t, "nft", "list", "tables")
	const timeout = 2 * time.Second
	const bound = 12 * time.Second // the timeout plus the probe or retransmission that notices it
	for _, quiet := range []bool{false, true} {
		name := map[bool]string{false: "sending", true: "quiet"}[quiet]
		t.Run(name, func(t *testing.T) {
			client, server := loopbackPair(t, vanishingClient)
			if quiet {
				if err := server.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Second, Interval: time.Second, Count: 100}); err != nil {
					t.Fatal(err)
				}
			}
			userTimeoutOn(t, server, timeout)
			vanish(t, client.LocalAddr().(*net.TCPAddr).Port)
			start := time.Now()
			server.SetReadDeadline(start.Add(bound))
			if !quiet {
				if _, err := server.Write([]byte("hello")); err != nil {
					t.Fatal(err)
				}
			}
			_, err := server.Read(make([]byte, 1))
			took := time.Since(start)
			if !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("read from a vanished peer: %v after %v; want ETIMEDOUT, the kernel's close", err, took)
			}
			if took < timeout {
				t.Fatalf("closed after %v, before the user timeout of %v", took, timeout)
			}
		})
	}
}

// loopbackPair is both ends of a fresh loopback connection, on a plain
// listener (none of listen's options), the client's from the address from
// (nil: any), closed when the test ends.
func loopbackPair(t *testing.T, from net.IP) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, s := acceptOne(t, ln, from)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// userTimeoutOn sets TCP_USER_TIMEOUT to d on tc's socket, as tuneConn does.
func userTimeoutOn(t *testing.T, tc *net.TCPConn, d time.Duration) {
	t.Helper()
	rc, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := setUserTimeout(rc, d); err != nil {
		t.Fatal(err)
	}
}

// vanishingClient is the address the vanishing client dials from: a
// vanished peer's round-trip times are long (forgetRTT), so they are kept
// off 127.0.0.1, which every other test's clients use.
var vanishingClient = net.IPv4(127, 0, 0, 77)

// forgetRTT drops what the kernel keeps of ip's round-trip times after its
// connections end (ip tcp_metrics): long ones would lengthen the first
// retransmission timer of every later connection to ip.
func forgetRTT(ip net.IP) {
	exec.Command("ip", "tcp_metrics", "delete", "address", ip.String()).Run()
}

// vanish makes the client on port disappear: an nft table of the test's
// own drops every packet from that port, until the test ends.
func vanish(t *testing.T, port int) {
	t.Helper()
	table := fmt.Sprintf("wsecho_vanish_%d", port)
	rules := fmt.Sprintf("table inet %s {\n chain in {\n  type filter hook input priority 0\n  tcp sport %d drop\n }\n}\n", table, port)
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft %s: %v: %s", rules, err, out)
	}
	forgetRTT(vanishingClient)
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", table).Run(); forgetRTT(vanishingClient) })
}

// acceptOne dials ln, from the address from (nil: any), and returns both ends of the connection; the client
// sends one byte, which the server end reads, so that TCP_DEFER_ACCEPT
// lets it through.
func acceptOne(t *testing.T, ln net.Listener, from net.IP) (client, server net.Conn) {
	t.Helper()
	client, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// getInt reads one integer socket option of nc's socket.
func getInt(t *testing.T, nc net.Conn, level, opt int) (v int) {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var gerr error
	if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// On Linux a test can see whether the server has read what a client sent
// (server_test.go:awaitRead).
func init() { serverHasRead = queuesEmpty }

// queuesEmpty says whether every byte the client sent has reached the
// server and been read by it: none waits for its acknowledgment in the
// client's send queue (SIOCOUTQ), and none is left in the server's
// receive queue (SIOCINQ).
func queuesEmpty(client, server net.Conn) bool {
	return queued(client, unix.SIOCOUTQ) == 0 && queued(server, unix.SIOCINQ) == 0
}

// queued is the byte count that the ioctl req reports for nc's socket, or
// -1 if it cannot be read.
func queued(nc net.Conn, req uint) int {
	n := -1
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return n
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return n
	}
	rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), req); err == nil {
			n = v
		}
	})
	return n
}
