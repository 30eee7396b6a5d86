package main

// shutdown_test.go: the shutdown keeps its timeout with many connections
// open, however long it takes to send them all their Close.

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// TestShutdownOnTime: many quiet WebSockets that never answer the Close
// 1001, and clients that never read, so that the server's echo to each is
// stuck in a full socket, holding its connection's write lock (the Close
// cannot go out before that echo ends, close.go:goAway). Every Close goes
// out under one deadline, taken when the shutdown began, and the shutdown
// returns at that deadline, having closed what was left, within half a
// second.
func TestShutdownOnTime(t *testing.T) {
	const timeout = time.Second
	addr, srv := startServer(t, func(c *config) { c.shutdownTimeout = timeout })
	const quiet, stuck = 1000, 10
	var quietClients []*testClient
	for range quiet {
		c, err := dialWS(addr, "/")
		if err != nil {
			t.Fatal(err)
		}
		c.t = t
		t.Cleanup(func() { c.nc.Close() })
		quietClients = append(quietClients, c)
	}
	msg := frames(binaryMsg(bytes.Repeat([]byte{1}, 1<<20)))
	var filled sync.WaitGroup
	for range stuck {
		c := dial(t, addr)
		filled.Go(func() {
			for { // until the server stops reading: its echo waits for room in our receive buffer
				c.nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := c.nc.Write(msg); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	filled.Wait()
	var all []*wsConn
	waitFor(t, "every connection is a WebSocket", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		all = all[:0]
		for _, tr := range srv.conns {
			if tr.ws == nil {
				return false
			}
			all = append(all, tr.ws)
		}
		return len(all) == quiet+stuck
	})

	start := time.Now()
	srv.shutdown()
	d := time.Since(start)
	t.Logf("shutdown with %d quiet and %d stuck WebSockets, timeout %v: returned after %v", quiet, stuck, timeout, d)
	if d < timeout-50*time.Millisecond || d > timeout+500*time.Millisecond {
		t.Errorf("returned after %v: want the %v timeout, and at most half a second more", d, timeout)
	}
	for _, c := range quietClients {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		c.expectCloseReply(1001)
	}
	deadlines := map[time.Time]int{}
	for _, ws := range all { // the stuck ones' goAway runs once their echo has failed
		waitFor(t, "every connection's Close is under way", writerState(ws, func(o *frameWriter) bool { return o.goingAway }))
		ws.out.mu.Lock()
		deadlines[ws.out.deadline]++
		ws.out.mu.Unlock()
	}
	if len(deadlines) != 1 {
		t.Fatalf("the Close frames went out under %d different deadlines; want one", len(deadlines))
	}
	for at := range deadlines {
		if at.Before(start.Add(timeout)) || at.After(start.Add(timeout+100*time.Millisecond)) {
			t.Errorf("the deadline is %v after the shutdown began; want the %v timeout", at.Sub(start), timeout)
		}
	}
}
