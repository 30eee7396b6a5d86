package main

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleConnectionMemory: a quiet WebSocket keeps its goroutine at the
// smallest stack (2 KiB) until it first writes, and holds no read or
// message buffer while it waits, which keeps an idle connection under
// 5 KiB and one that has echoed under 8 KiB (LOAD.md). It fails if the
// frame loop's stack frames outgrow what a 2 KiB stack holds, or if a
// quiet connection keeps its 4 KiB bufio.Reader or its message buffer.
func TestIdleConnectionMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every stack and object larger")
	}
	addr, _ := startServer(t, nil)
	const n = 1000
	var m0, m1, m2 runtime.MemStats
	measure := func(m *runtime.MemStats) {
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(m)
	}
	measure(&m0)
	var cs []*testClient
	for range n {
		c, err := dialWS(addr, "/")
		if err != nil {
			t.Fatal(err)
		}
		c.t = t
		cs = append(cs, c)
	}
	defer func() {
		for _, c := range cs {
			c.nc.Close()
		}
	}()
	measure(&m1)
	for _, c := range cs {
		c.send(binaryMsg(make([]byte, 1024)))
		c.read()
	}
	measure(&m2)
	per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / n }
	stackIdle, stackAfter := per(m0.StackInuse, m1.StackInuse), per(m0.StackInuse, m2.StackInuse)
	// Heap: the server's share and the test client's (a bufio.Reader of 4 KiB and a connection each).
	heapAfter := per(m0.HeapInuse, m2.HeapInuse)
	t.Logf("per connection: stack %.0f B idle, %.0f B after an echo; heap (server and test client) %.0f B after an echo",
		stackIdle, stackAfter, heapAfter)
	if stackIdle > 2.5*1024 {
		t.Errorf("%.0f bytes of stack per idle connection, want the 2 KiB minimum", stackIdle)
	}
	if stackAfter > 4.5*1024 {
		t.Errorf("%.0f bytes of stack per connection after an echo, want at most 4 KiB", stackAfter)
	}
	if heapAfter > 10*1024 { // holding its bufio.Reader and message buffer, the server alone would add 8 KiB
		t.Errorf("%.0f bytes of heap per quiet connection: buffers are held while idle", heapAfter)
	}
}
