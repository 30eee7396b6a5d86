//go:build !linux

package main

// sockopt_other.go: the socket options of sockopt_linux.go are Linux's;
// elsewhere the server runs with only what Go's net sets, and without TCP
// keepalive, which listen turns off for tuneConn to set.

import (
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
	return "socket options: only what Go's net sets, no TCP keepalive (the tuned ones are Linux's)\n"
}

// openFileLimit is a conservative guess where the limit is not read.
func openFileLimit() int { return 1024 }

// drainReadable does nothing here: the close may then be a reset.
func drainReadable(net.Conn) {}
