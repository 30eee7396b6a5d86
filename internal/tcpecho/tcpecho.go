// Package tcpecho is the yardstick the WebSocket server is measured
// against (BENCH.md): a plain TCP echo, each connection's bytes copied
// back to it with io.Copy, which on Linux splices them in the kernel. It
// accepts as the server does (server.go:serve), so that under the same
// load it holds as many connections as the server.
package tcpecho

import (
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Serve accepts connections on ln and echoes each on a goroutine of its
// own, until ln is closed, when it returns nil. An Accept that fails for
// a while (out of file descriptors, or a timeout) is retried after a wait
// that doubles each time, as the server's is, rather than ending the
// echo; any other failure is returned.
func Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !retry(err) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go echo(c)
	}
}

// retry says whether an Accept error passes: a timeout, or a process or
// system out of file descriptors, which closing connections gives back.
func retry(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// echo copies what c sends back to it until c ends.
func echo(c net.Conn) {
	defer c.Close()
	io.Copy(c, c)
}
