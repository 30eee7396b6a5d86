//go:build !linux

package main

// sockopt_other.go: the socket options of sockopt_linux.go are Linux's;
// elsewhere the server runs with only what Go's net sets, the keepalive of
// sockopt.go included.

import (
	"fmt"
	"net"
	"syscall"
	"time"
)

// listenControl leaves the listening socket as it is.
func listenControl(time.Duration) func(network, address string, rc syscall.RawConn) error {
	return nil
}

// tuneConn leaves the connection as it is.
func tuneConn(nc net.Conn) error { return nil }

// sockoptSummary says that only Go's own options are in use.
func sockoptSummary(time.Duration) string {
	return fmt.Sprintf("socket options: only what Go's net sets, with SO_KEEPALIVE=1 idle=%v interval=%v count=%d (sockopt.go); TCP_DEFER_ACCEPT and TCP_USER_TIMEOUT are Linux's\n",
		keepIdle, keepInterval, keepCount)
}

// openFileLimit is a conservative guess where the limit is not read.
func openFileLimit() int { return 1024 }

// drainReadable does nothing here: the close may then be a reset.
func drainReadable(net.Conn) {}
