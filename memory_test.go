package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// TestIdleConnectionMemory: a quiet WebSocket keeps its goroutine at the
// smallest stack the runtime gives until it first writes, and holds no
// read or message buffer while it waits. It fails if the frame loop's
// stack frames outgrow that smallest stack, or if a quiet connection keeps
// its bufio.Reader or its message buffer. (LOAD.md has what a connection
// costs in all, measured by cmd/load on a server of its own.)
//
// It measures in a process of its own, the test binary run again for this
// test alone: in the process of the other tests, the connections they left
// closing, and their goroutines and buffers, would count for or against it.
func TestIdleConnectionMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every stack and object larger")
	}
	if os.Getenv(measuringEnv) == "" {
		// Not verbose: the server would log every connection while it is measured.
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleConnectionMemory$")
		cmd.Env = append(os.Environ(), measuringEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(measuredLine)) {
			t.Fatalf("the measuring process: %v\n%s", err, out)
		}
		_, line, _ := bytes.Cut(out, []byte(measuredLine))
		line, _, _ = bytes.Cut(line, []byte("\n"))
		t.Logf("%s%s", measuredLine, line)
		return
	}

	addr, _ := startServer(t, nil)
	const n = 1000
	base := runtime.NumGoroutine() // every goroutine there is before the connections
	var cs []*testClient
	var m0, m1, m2 runtime.MemStats
	measure := func(m *runtime.MemStats) {
		t.Helper()
		// Each connection has one goroutine, its frame loop's, once the
		// handshake's has returned; the client side has none.
		waitFor(t, "one goroutine a connection", func() bool { return runtime.NumGoroutine() == base+len(cs) })
		runtime.GC()
		runtime.ReadMemStats(m)
	}
	measure(&m0)
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
	// Heap: the server's share and the test client's (a bufio.Reader and a connection each).
	heapIdle, heapAfter := per(m0.HeapInuse, m1.HeapInuse), per(m0.HeapInuse, m2.HeapInuse)
	fmt.Printf("%s stack %.0f B idle, %.0f B after an echo; heap (server and test client) %.0f B idle, %.0f B after an echo\n",
		measuredLine, stackIdle, stackAfter, heapIdle, heapAfter) // for the test that started this process
	if stackIdle > smallestStack+stackSlack {
		t.Errorf("%.0f bytes of stack per idle connection, want the smallest stack, %d", stackIdle, smallestStack)
	}
	if stackAfter > 2*smallestStack+stackSlack {
		t.Errorf("%.0f bytes of stack per connection after an echo, want the smallest stack doubled at most", stackAfter)
	}
	if heapAfter > quietHeap {
		t.Errorf("%.0f bytes of heap per quiet connection, want at most %d: buffers are held while idle", heapAfter, quietHeap)
	}
	if heapAfter-heapIdle > readBufferSize/2 {
		t.Errorf("%.0f bytes of heap per connection more after an echo than before: buffers are held after the message", heapAfter-heapIdle)
	}
}

// What TestIdleConnectionMemory allows a connection.
const (
	smallestStack = 2 << 10           // a goroutine's first stack, the runtime's smallest
	stackSlack    = smallestStack / 4 // StackInuse counts every stack, not the connections' alone: room for the others, spread over the connections
	// quietHeap is the heap of a quiet connection, the server's share and
	// the test client's, with less room to spare than a read buffer takes:
	// a read buffer held while quiet passes it.
	quietHeap = 10 << 10
)

// measuringEnv, set, makes TestIdleConnectionMemory measure, in the
// process it starts; measuredLine starts the line that says what it found,
// which that process prints and the test that started it logs.
const (
	measuringEnv = "WSECHO_MEASURE_IDLE_MEMORY"
	measuredLine = "per connection:"
)
