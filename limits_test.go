package main

// limits_test.go: keepalive, slow and hostile clients, connection limits,
// origins, shutdown with a message in flight, panics. Each hostile case
// ends by checking that a fresh client still gets an echo within a second.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// freshEcho checks that the server still serves a new client quickly.
func freshEcho(t *testing.T, addr string) {
	t.Helper()
	start := time.Now()
	c := dial(t, addr)
	c.send(text("still there?"))
	if f := c.read(); string(f.payload) != "still there?" {
		t.Fatalf("fresh client got %q", f.payload)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("fresh client's echo took %v", d)
	}
	c.send(closeFrame(1000, ""))
	c.expectCloseReply(1000)
}

// waitFor waits until cond holds, polling, for at most 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// onlyWS is the server's one WebSocket connection, once there is exactly one.
func onlyWS(t testing.TB, srv *server) *wsConn {
	t.Helper()
	var ws *wsConn
	waitFor(t, "the server holds one WebSocket", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		ws = nil
		for _, tr := range srv.conns {
			if tr.ws != nil {
				if ws != nil {
					return false
				}
				ws = tr.ws
			}
		}
		return ws != nil
	})
	return ws
}

// writerState reads a flag of ws's sending side under its lock.
func writerState(ws *wsConn, flag func(o *frameWriter) bool) func() bool {
	return func() bool {
		ws.out.mu.Lock()
		defer ws.out.mu.Unlock()
		return flag(&ws.out)
	}
}

// plainCount is how many connections the server is answering plain HTTP on.
func plainCount(srv *server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	n := 0
	for _, tr := range srv.conns {
		if tr.plain {
			n++
		}
	}
	return n
}

// waitIdle waits until the server holds no connection and the goroutine
// count is back to at most before.
func waitIdle(t *testing.T, srv *server, before int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		srv.mu.Lock()
		open := len(srv.conns)
		srv.mu.Unlock()
		if open == 0 && runtime.NumGoroutine() <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d connections tracked, %d goroutines (had %d)\n%s", open, runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeepalive: a quiet client is pinged; its pong keeps it; a client
// that stops answering is closed with 1001 after the idle timeout.
func TestKeepalive(t *testing.T) {
	addr, _ := startServer(t, func(c *config) {
		c.pingInterval = 200 * time.Millisecond
		c.idleTimeout = 700 * time.Millisecond
	})
	c := dial(t, addr)
	for range 3 { // three rounds of silence, each answered with a pong
		start := time.Now()
		f := c.read()
		if f.opcode != 0x9 {
			t.Fatalf("got opcode %#x, want a ping", f.opcode)
		}
		if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
			t.Fatalf("ping after %v of silence, want about 200ms", d)
		}
		c.send(testFrame{fin: true, opcode: 0xA, payload: f.payload})
	}
	c.send(text("alive"))
	if f := c.read(); string(f.payload) != "alive" {
		t.Fatalf("got %q", f.payload)
	}
	// Now say nothing at all: pings come, then Close 1001.
	start := time.Now()
	for {
		f := c.read()
		if f.opcode == 0x9 {
			continue
		}
		if f.opcode != 0x8 || closeCodeOf(f) != 1001 || !strings.Contains(string(f.payload), "idle") {
			t.Fatalf("got opcode %#x %q, want Close 1001 idle timeout", f.opcode, f.payload)
		}
		break
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %v of silence, want about 700ms", d)
	}
	c.send(closeFrame(1001, ""))
	c.expectEOF()
}

// TestKeepaliveOff: 0 turns each half of the keepalive off, alone or both:
// with pings off the idle timeout still closes, and nothing is pinged
// first; with the idle timeout off a client that never answers a ping
// stays open; with both off a connection sets no read deadline at all.
func TestKeepaliveOff(t *testing.T) {
	t.Run("no pings", func(t *testing.T) {
		addr, _ := startServer(t, func(c *config) { c.pingInterval, c.idleTimeout = 0, 300*time.Millisecond })
		c := dial(t, addr)
		if f := c.read(); f.opcode != 0x8 || closeCodeOf(f) != 1001 {
			t.Fatalf("first frame: opcode %#x code %d; want Close 1001 with no ping before it", f.opcode, closeCodeOf(f))
		}
	})
	t.Run("no idle timeout", func(t *testing.T) {
		addr, _ := startServer(t, func(c *config) { c.pingInterval, c.idleTimeout = 30*time.Millisecond, 0 })
		c := dial(t, addr)
		for i := range 20 { // 600 ms of pings unanswered, twenty times the interval
			if f := c.read(); f.opcode != 0x9 {
				t.Fatalf("frame %d: opcode %#x; want only pings", i, f.opcode)
			}
		}
		c.send(text("still open"))
		for f := c.read(); string(f.payload) != "still open"; f = c.read() {
			if f.opcode != 0x9 {
				t.Fatalf("opcode %#x; want pings, then the echo", f.opcode)
			}
		}
	})
	t.Run("both", func(t *testing.T) {
		cfg, err := parseFlags([]string{"-ping-interval", "0", "-idle-timeout", "0"}, io.Discard)
		if err != nil || cfg.pingInterval != 0 || cfg.idleTimeout != 0 {
			t.Fatalf("parseFlags: %+v, %v; want both 0", cfg, err)
		}
		addr, srv := startServer(t, func(c *config) { c.pingInterval, c.idleTimeout = cfg.pingInterval, cfg.idleTimeout })
		dial(t, addr)
		ws := onlyWS(t, srv)
		if kr := ws.kr; kr.step() != 0 || !kr.deadline.IsZero() {
			t.Fatalf("keepalive step %v, read deadline %v; want none", kr.step(), kr.deadline)
		}
	})
}

// TestPingInsideAFrame: a client that stops in the middle of a frame gets
// pinged, and the frame goes on where it stopped when the rest comes.
func TestPingInsideAFrame(t *testing.T) {
	addr, _ := startServer(t, func(c *config) {
		c.pingInterval = 150 * time.Millisecond
		c.idleTimeout = 5 * time.Second
	})
	c := dial(t, addr)
	msg := bytes.Repeat([]byte("0123456789"), 1000)
	wire := frames(binaryMsg(msg))
	for _, cut := range []int{1, 7, 5000} { // inside the header, at the key, inside the payload
		c.nc.Write(wire[:cut])
		if f := c.read(); f.opcode != 0x9 {
			t.Fatalf("cut at %d: opcode %#x, want a ping", cut, f.opcode)
		}
		c.nc.Write(wire[cut:])
		if f := c.read(); f.opcode != 2 || !bytes.Equal(f.payload, msg) {
			t.Fatalf("cut at %d: echo of %d bytes, opcode %#x", cut, len(f.payload), f.opcode)
		}
	}
}

// TestClientThatNeverReads: the server's writes block; the write timeout
// ends the connection, which frees everything, and others are unaffected.
func TestClientThatNeverReads(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.writeTimeout = 300 * time.Millisecond })
	before := runtime.NumGoroutine()
	c := dial(t, addr)
	msg := frames(binaryMsg(make([]byte, 1<<20)))
	c.nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
	sent := 0
	for ; sent < 300; sent++ { // at most 300 MiB, bounded in time by the deadline above
		if _, err := c.nc.Write(msg); err != nil {
			break // the server has given up on us
		}
	}
	if sent == 300 {
		t.Fatal("the server kept taking messages from a client that never reads")
	}
	t.Logf("the server dropped the client after %d MiB sent", sent)
	c.nc.Close()
	waitIdle(t, srv, before)
	freshEcho(t, addr)
}

// TestMaxConns: past -max-conns a handshake gets 503 with Retry-After; the
// open connections are untouched, and a slot freed is a slot usable.
func TestMaxConns(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.maxConns = 2 })
	a, b := dial(t, addr), dial(t, addr)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(nc, upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="))
	checkResponse(t, bufio.NewReader(nc), 503, "Retry-After: 5")
	nc.Close() // it too held a slot, until now
	for _, c := range []*testClient{a, b} {
		c.send(text("fine"))
		if f := c.read(); string(f.payload) != "fine" {
			t.Fatalf("open connection disturbed: %q", f.payload)
		}
	}
	a.send(closeFrame(1000, ""))
	a.expectCloseReply(1000)
	a.expectEOF()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := dialWS(addr, "/")
		if err == nil {
			c.nc.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after one closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOriginAllowList: -origin admits the listed origins (null as a word)
// and clients that send none; others get 403.
func TestOriginAllowList(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.origins = "http://good.example, null" })
	for origin, status := range map[string]int{
		"null": 101, "http://good.example": 101, "HTTP://GOOD.EXAMPLE": 101, "": 101,
		"http://evil.example": 403, "http://good.example.evil": 403,
	} {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		extra := ""
		if origin != "" {
			extra = "Origin: " + origin + "\r\n"
		}
		io.WriteString(nc, upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ==", extra))
		checkResponse(t, bufio.NewReader(nc), status, "")
		nc.Close()
	}
}

// TestShutdownMessageInFlight: a message half received when the shutdown
// begins is received, echoed in full, and only then followed by Close 1001.
func TestShutdownMessageInFlight(t *testing.T) {
	addr, srv := startServer(t, nil)
	c := dial(t, addr)
	msg := bytes.Repeat([]byte("x"), 1<<20)
	wire := frames(frag(2, string(msg[:1000]), false), frag(0, string(msg[1000:]), true))
	c.nc.Write(wire[:len(wire)/2])
	ws := onlyWS(t, srv)
	waitFor(t, "the server is inside the message", writerState(ws, func(o *frameWriter) bool { return o.inMessage }))
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	waitFor(t, "the shutdown has reached the connection", writerState(ws, func(o *frameWriter) bool { return o.goingAway }))
	c.nc.Write(wire[len(wire)/2:])
	if f := c.read(); f.opcode != 2 || !bytes.Equal(f.payload, msg) {
		t.Fatalf("got opcode %#x with %d bytes, want the whole message first", f.opcode, len(f.payload))
	}
	c.expectClose(1001)
	<-done
}

// TestTinyFragments: 10,000 one-byte fragments make one message.
func TestTinyFragments(t *testing.T) {
	addr, _ := startServer(t, nil)
	c := dial(t, addr)
	var want []byte
	for i := range 10000 {
		want = append(want, byte('a'+i%26))
	}
	c.nc.Write(frames(fragments(1, string(want), 1)...))
	if f := c.read(); f.opcode != 1 || !bytes.Equal(f.payload, want) {
		t.Fatalf("got %d bytes, want the 10,000 fragments as one message", len(f.payload))
	}
	freshEcho(t, addr)
}

// TestHostileFrames: each is answered as the RFC says, over a real socket,
// and the server goes on serving.
func TestHostileFrames(t *testing.T) {
	addr, _ := startServer(t, nil)
	for _, tt := range []struct {
		name string
		wire []byte
		code uint16
	}{
		{"64-bit length with the top bit set", append(hexBytes("82 ff 80 00 00 00 00 00 00 05"), testKey[:]...), 1002},
		{"declared 2^40 bytes, a few sent", append(append(hexBytes("82 ff 00 00 01 00 00 00 00 00"), testKey[:]...), "abc"...), 1009},
		{"unmasked", frames(testFrame{fin: true, opcode: 1, noMask: true}), 1002},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.nc.Write(tt.wire)
			c.expectClose(tt.code)
			freshEcho(t, addr)
		})
	}
}

// TestThousandVanishingClients: 1,000 clients handshake, send part of a
// frame and vanish; nothing stays behind.
func TestThousandVanishingClients(t *testing.T) {
	addr, srv := startServer(t, nil)
	before := runtime.NumGoroutine()
	wire := frames(binaryMsg(make([]byte, 5000)))[:3000]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for range 1000 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := dialWS(addr, "/")
			if err != nil {
				t.Error(err)
				return
			}
			c.nc.Write(wire)
			c.nc.Close()
		})
	}
	wg.Wait()
	waitIdle(t, srv, before)
	freshEcho(t, addr)
}

// panicConn is a connection whose reads panic after the handshake: a
// stand-in for a bug in the frame code.
type panicConn struct {
	net.Conn
	in     *bytes.Reader
	mu     sync.Mutex
	out    bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func (p *panicConn) Read(b []byte) (int, error) {
	if p.in.Len() == 0 {
		panic("a bug")
	}
	return p.in.Read(b)
}
func (p *panicConn) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}
func (p *panicConn) Close() error                     { p.once.Do(func() { close(p.closed) }); return nil }
func (p *panicConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (p *panicConn) SetDeadline(time.Time) error      { return nil }
func (p *panicConn) SetReadDeadline(time.Time) error  { return nil }
func (p *panicConn) SetWriteDeadline(time.Time) error { return nil }

// TestPanicCostsOneConnection: a panic in a connection's goroutine is
// logged with its stack and closes that connection with 1011, not the process.
func TestPanicCostsOneConnection(t *testing.T) {
	var logs syncBuffer
	addr, srv := startServerLog(t, nil, &logs)
	pc := &panicConn{in: bytes.NewReader([]byte(upgradeRequestText("x", "dGhlIHNhbXBsZSBub25jZQ=="))), closed: make(chan struct{})}
	srv.wg.Add(1)
	srv.serveConn(pc) // the panic comes in its frame goroutine; escaped, it would crash the test binary
	select {
	case <-pc.closed: // the recovery closes the connection
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was not closed after the panic")
	}
	pc.mu.Lock()
	out := pc.out.String()
	pc.mu.Unlock()
	_, frame, ok := strings.Cut(out, "\r\n\r\n")
	if !ok || !strings.HasPrefix(out, "HTTP/1.1 101") {
		t.Fatalf("no handshake: %q", out)
	}
	fs := parseServerFrames(t, []byte(frame))
	if len(fs) != 1 || closeCodeOf(fs[0]) != 1011 {
		t.Fatalf("after the panic the server wrote %q, want Close 1011", frame)
	}
	if !strings.Contains(logs.String(), "panic") || !strings.Contains(logs.String(), "goroutine") {
		t.Fatalf("panic not logged with its stack:\n%s", logs.String())
	}
	freshEcho(t, addr)
}
