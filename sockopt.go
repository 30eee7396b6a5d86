package main

// sockopt.go is the TCP keepalive every accepted connection gets, on every
// system: Go's net sets it through ListenConfig.KeepAliveConfig (listen).
// The options only x/sys reaches are Linux's, in sockopt_linux.go.

import (
	"net"
	"time"
)

// The keepalive's values, in one place so that -trace and the tests can name them.
const (
	keepIdle     = 60 * time.Second // TCP_KEEPIDLE: quiet time before the first probe
	keepInterval = 10 * time.Second // TCP_KEEPINTVL: time between probes
	keepCount    = 6                // TCP_KEEPCNT: unanswered probes before the peer is declared dead
)

// keepAlive is the keepalive of every accepted connection: a client whose
// machine vanished (no FIN, no RST) while the connection was quiet is found
// out by unanswered probes, and its connection freed. On Linux, where
// tuneConn also sets TCP_USER_TIMEOUT, the kernel ignores keepCount (tcp(7)):
// it closes the connection at the first probe after nothing was heard for
// the user timeout (sockopt_linux_test.go:TestSockUserTimeoutVanishedPeer).
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: keepIdle, Interval: keepInterval, Count: keepCount}
