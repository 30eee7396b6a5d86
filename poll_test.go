package main

// poll_test.go: push.html's kept-alive poll (push.go:keepsAlive) between
// its requests: what a connection holds while it waits for the next one,
// and that it is still answered, counted and logged, and ends with the
// keep-alive time and with the shutdown.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pollPage is the page the kept-alive polls of these tests name themselves as (pushstats.go).
const pollPage = "keptAlivePollTest0123456789"

// keptPoll sends a kept-alive poll on nc and reads its answer, which must
// keep the connection open. The answer is read through a bufio.Reader of
// its own, which the answer fills no further than its end: the server
// sends nothing more until the next poll.
func keptPoll(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, "GET /clock?keepalive=1&client="+pollPage+" HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Close || !clockPattern.MatchString(strings.TrimSpace(string(body))) || br.Buffered() > 0 {
		t.Fatalf("status %d, close %v, body %q, %d bytes more", resp.StatusCode, resp.Close, body, br.Buffered())
	}
}

// goroutinesIn counts the goroutines whose stack holds a call to each of
// the given functions (named as in a traceback, after the package path).
func goroutinesIn(funcs ...string) []int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	counts := make([]int, len(funcs))
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		for i, f := range funcs {
			if strings.Contains(g, f+"(") {
				counts[i]++
			}
		}
	}
	return counts
}

// TestKeptAlivePollsWaitSmall: a kept-alive poll waiting for its next
// request holds no more than an idle WebSocket (idle.go): no bufio.Reader
// (it waits for the socket to be readable, not inside readRequest) and a
// goroutine at the smallest stack, not the one the answer and its log line
// grew. The connections then still answer, each poll counted for the page
// and logged; the shutdown ends them at once. Then, on a server with
// -trace, a connection polled three times (keptAliveUntilIdle) is
// traced three times and closed keepAliveIdle after its last answer.
func TestKeptAlivePollsWaitSmall(t *testing.T) {
	var logs syncBuffer
	addr, srv := startServerLog(t, nil, &logs)
	const n = 1000
	var m0, m1 runtime.MemStats
	measure := func(m *runtime.MemStats) {
		runtime.GC()
		runtime.GC() // the second one frees what the pools (pool.go) dropped at the first
		runtime.ReadMemStats(m)
	}
	measure(&m0)
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		keptPoll(t, nc)
		conns[i] = nc
	}
	var inRead, inWait int
	waitFor(t, "every kept-alive connection waits for its next request", func() bool {
		c := goroutinesIn(".readRequest", ".(*connReader).readReady")
		inRead, inWait = c[0], c[1]
		return inRead+inWait == n
	})
	if inRead > 0 {
		t.Errorf("%d of %d kept-alive connections wait inside readRequest, each holding a bufio.Reader", inRead, n)
	}
	if !raceEnabled { // the race detector makes every stack and object larger
		measure(&m1)
		per := func(a, b uint64) float64 { return float64(int64(b)-int64(a)) / n }
		stack, heap := per(m0.StackInuse, m1.StackInuse), per(m0.HeapInuse, m1.HeapInuse)
		t.Logf("per kept-alive connection waiting: stack %.0f B, heap (server and test client) %.0f B", stack, heap)
		if stack > 3*1024 { // a stack that grew is at least twice the smallest
			t.Errorf("%.0f bytes of stack per waiting connection, want the 2 KiB minimum", stack)
		}
		if heap > 1.5*readBufferSize { // the sockets and the connection's state, and no bufio.Reader
			t.Errorf("%.0f bytes of heap per waiting connection: a buffer is held while it waits", heap)
		}
	}

	for _, nc := range conns { // the wait hands the next request on whole
		keptPoll(t, nc)
	}
	stats := get(t, addr, "/clock/stats?client="+pollPage)
	var got map[string]map[string]int64
	if err := json.NewDecoder(stats.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if p := got["poll"]; p["connections"] != n || p["requests"] != 2*n || p["updates"] != 2*n {
		t.Errorf("the page's counts: %v; want %d connections, %d requests and updates", p, n, 2*n)
	}
	waitFor(t, "every poll is logged", func() bool { return strings.Count(logs.String(), "msg=http") >= 2*n })

	start := time.Now()
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	for i, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if b, err := io.ReadAll(nc); err != nil || len(b) > 0 {
			t.Fatalf("connection %d at shutdown: %q, %v; want the server's FIN", i, b, err)
		}
		nc.Close() // as a browser does once the server has closed
	}
	<-done
	if d := time.Since(start); d > time.Second {
		t.Errorf("the shutdown took %v to end %d waiting polls", d, n)
	}

	var traced syncBuffer
	idleAddr, idleSrv := startServerTrace(t, func(c *config) { c.trace = true }, nil, &traced)
	if err := keptAliveUntilIdle(idleAddr); err != nil {
		t.Error(err)
	}
	if got := strings.Count(traced.String(), "HTTP request as received"); got != 3 {
		t.Errorf("-trace shows %d requests on the connection polled three times, want 3:\n%s", got, traced.String())
	}
	waitFor(t, "the server lets go of the connection", func() bool { return plainCount(idleSrv) == 0 })
}

// keptAliveUntilIdle sends two polls at once on one connection, the second
// before the first is answered (RFC 9112 §9.3.2), then a third once both
// are answered, and checks that the server answers each and closes the
// connection keepAliveIdle after the last answer.
func keptAliveUntilIdle(addr string) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	const poll = "GET /clock?keepalive=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	for i, send := range []string{poll + poll, "", poll} {
		io.WriteString(nc, send)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("poll %d: %v", i, err)
		}
		io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			return fmt.Errorf("poll %d: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
	answered := time.Now()
	if b, err := io.ReadAll(br); err != nil || len(b) > 0 {
		return fmt.Errorf("after the keep-alive time: %q, %v; want the server's FIN", b, err)
	}
	if d := time.Since(answered); d < keepAliveIdle-100*time.Millisecond || d > keepAliveIdle+time.Second {
		return fmt.Errorf("closed %v after the last answer, want keepAliveIdle (%v)", d, keepAliveIdle)
	}
	return nil
}
