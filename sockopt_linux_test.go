package main

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSocketOptions: the listening and the accepted sockets carry the
// options that sockopt_linux.go sets and Go's net package does not.
// TCP_NODELAY and SO_REUSEADDR are left out: Go sets the first on every
// TCP connection and the second on every listening socket, so they would
// read the same without our code, and a check of them could not fail.
func TestSocketOptions(t *testing.T) {
	// The kernel keeps TCP_DEFER_ACCEPT as a number of SYN-ACK retransmissions
	// and reads it back as the seconds they take: this timeout is one it
	// keeps exactly.
	const handshakeTimeout = 3 * time.Second
	ln, err := listen("127.0.0.1:0", handshakeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	checked := make(chan struct{})
	defer close(checked)
	go func() {
		nc, _ := net.Dial("tcp", ln.Addr().String())
		if nc != nil {
			nc.Write([]byte("G")) // TCP_DEFER_ACCEPT waits for data
			<-checked             // the client stays until the options are read
			nc.Close()
		}
	}()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := tuneConn(nc); err != nil {
		t.Fatal(err)
	}
	get := func(c any, level, opt int) (v int) {
		rc, err := c.(interface {
			SyscallConn() (syscall.RawConn, error)
		}).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), level, opt) })
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, o := range []struct {
		name       string
		sock       any
		level, opt int
		want       int
	}{
		{"TCP_DEFER_ACCEPT", ln, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, int(handshakeTimeout / time.Second)},
		{"SO_KEEPALIVE", nc, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", nc, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepIdle / time.Second)},
		{"TCP_KEEPINTVL", nc, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, int(keepInterval / time.Second)},
		{"TCP_KEEPCNT", nc, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepCount},
		{"TCP_USER_TIMEOUT", nc, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout / time.Millisecond)},
	} {
		if got := get(o.sock, o.level, o.opt); got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
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
