package main

// abuse_test.go: the bounds an attacker cannot walk past (issue 15), each
// over a real socket: the memory budget, a message that must make
// progress, push endpoints that stop listening, every connection counted,
// exact HTTP, the shutdown's word, and small logs.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawConn dials addr, writes req, and returns the connection with a reader.
func rawConn(t *testing.T, addr, req string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	return nc, bufio.NewReader(nc)
}

// TestMemoryBudget: messages being assembled share -max-buffered. One
// client's unfinished message takes most of it; a second client whose
// message would pass it is closed with 1013, and the first goes on and is
// echoed whole. Once both are gone the budget is back to zero.
func TestMemoryBudget(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 4 << 20 })
	first, second := dial(t, addr), dial(t, addr)
	part := bytes.Repeat([]byte("a"), 1536<<10)     // its buffer doubles as the bytes arrive, to half the budget
	first.send(testFrame{opcode: 2, payload: part}) // no FIN: the message stays open
	waitFor(t, "the first message holds its buffer", func() bool { return srv.budget.used.Load() >= 2<<20 })
	second.send(testFrame{opcode: 2, payload: part})
	second.expectClose(1013)

	first.send(testFrame{fin: true, opcode: 0, payload: []byte("end")})
	if f := first.read(); f.opcode != 2 || len(f.payload) != len(part)+3 {
		t.Fatalf("the first message's echo: opcode %d, %d bytes", f.opcode, len(f.payload))
	}
	first.send(closeFrame(1000, ""))
	first.expectCloseReply(1000)
	waitFor(t, "every buffer is given back to the budget", func() bool { return srv.budget.used.Load() == 0 })
	freshEcho(t, addr)
}

// TestMessageMustProgress: a message whose client answers every ping but
// never finishes it, and a frame that trickles in a byte at a time, are
// both closed with 1008 once -message-timeout has passed.
func TestMessageMustProgress(t *testing.T) {
	addr, _ := startServer(t, func(c *config) {
		c.messageTimeout = 400 * time.Millisecond
		c.pingInterval = 50 * time.Millisecond
	})
	t.Run("unfinished, with pongs", func(t *testing.T) {
		c := dial(t, addr)
		c.send(testFrame{opcode: 1, payload: []byte("never finished")})
		start := time.Now()
		for {
			f := c.read()
			if f.opcode == 0x9 {
				c.send(testFrame{fin: true, opcode: 0xA, payload: f.payload})
				continue
			}
			if f.opcode != 0x8 || closeCodeOf(f) != 1008 {
				t.Fatalf("opcode %#x code %d; want Close 1008", f.opcode, closeCodeOf(f))
			}
			break
		}
		if d := time.Since(start); d < 350*time.Millisecond || d > 3*time.Second {
			t.Fatalf("closed after %v; want about the message timeout", d)
		}
	})
	t.Run("a byte at a time", func(t *testing.T) {
		c := dial(t, addr)
		wire := frames(text("slow, slow, slow"))
		closed := make(chan testFrame, 1)
		go func() {
			for {
				f, err := readServerFrame(c.br)
				if err != nil || f.opcode == 0x8 {
					closed <- f
					return
				}
			}
		}()
		for _, b := range wire {
			select {
			case f := <-closed:
				if closeCodeOf(f) != 1008 {
					t.Fatalf("closed with %d; want 1008", closeCodeOf(f))
				}
				return
			case <-time.After(100 * time.Millisecond):
			}
			c.nc.Write([]byte{b})
		}
		t.Fatal("the whole frame went through at a byte per 100 ms")
	})
}

// TestPushStopsListening: a client that writes on after its request to a
// push endpoint has its connection ended once it has sent more than
// maxIgnored: the server's FIN comes while the client is still sending, and
// the server then reads no more than closeTCP drains before it resets the
// connection. A server that merely stopped reading would never end the
// connection, and one that read on would take all the client sent.
func TestPushStopsListening(t *testing.T) {
	fakeTime(t) // no event or answer comes: the client reads a stream's head at most, then the end
	addr, _ := startServer(t, nil)
	for _, path := range []string{"/clock/events", "/clock/long"} {
		nc, br := rawConn(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		junk := bytes.Repeat([]byte("y"), 1<<10)
		for range 4 * maxIgnored / len(junk) { // few enough for the socket buffers: no write waits
			if _, err := nc.Write(junk); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: %v; want the server to end the connection", path, err)
		}
		// The server's FIN has come. Write on until its reset: what it took
		// meanwhile is what closeTCP drains, and what the sockets' buffers hold.
		sent, err := 0, error(nil)
		for ; err == nil && sent <= maxSent; sent += len(junk) {
			_, err = nc.Write(junk)
		}
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: the server took %d bytes after its FIN and did not reset the connection (%v)", path, sent, err)
		}
		t.Logf("%s: %d bytes sent after the server's FIN, then %v", path, sent, err)
	}
}

// maxSent bounds what TestPushStopsListening's client can send after the
// server's FIN: what closeTCP drains, and room for what the client's send
// buffer and the server's receive buffer hold.
const maxSent = closeDrain + 8<<20

// TestEveryConnectionCounts: connections still sending their request count
// against -max-conns; past it a new one is answered 503 at once, before its
// own request is complete, and past -max-conns-per-ip likewise.
func TestEveryConnectionCounts(t *testing.T) {
	t.Run("max-conns", func(t *testing.T) {
		addr, _ := startServer(t, func(c *config) { c.maxConns = 3 })
		for range 3 {
			rawConn(t, addr, "GET / HTT") // half a request line: held, and counted
		}
		start := time.Now()
		_, br := rawConn(t, addr, "GET / HTT")
		checkResponse(t, br, 503, "Retry-After: 5")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("503 after %v; want it at once", d)
		}
	})
	t.Run("max-conns-per-ip", func(t *testing.T) {
		addr, _ := startServer(t, func(c *config) { c.maxConnsPerIP = 2 })
		a, b := dial(t, addr), dial(t, addr)
		_, br := rawConn(t, addr, upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="))
		checkResponse(t, br, 503, "Retry-After: 5")
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		nc, err := d.Dial("tcp", addr)
		if err != nil {
			t.Skip("no second loopback address:", err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(nc, upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="))
		checkResponse(t, bufio.NewReader(nc), 101, "")
		for _, c := range []*testClient{a, b} {
			c.send(text("still here"))
			if f := c.read(); string(f.payload) != "still here" {
				t.Fatalf("got %q", f.payload)
			}
		}
	})
}

// TestExactHTTP: the request head read as RFC 9112 says.
func TestExactHTTP(t *testing.T) {
	addr, _ := startServer(t, nil)
	for _, tt := range []struct {
		name, req string
		status    int
	}{
		{"a URL in the query is not the target", "GET /nothing?next=http://evil/clock HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"a path with :// in it is a path", "GET /x://y/push.html HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"absolute form", "GET http://x/push.html HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"HTTP/1.0, no Host", "GET / HTTP/1.0\r\n\r\n", 200},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"HTTP/0.9", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505},
		{"an empty line first", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"a GET with a body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400},
		{"an upgrade with a body", strings.TrimSuffix(upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="), "\r\n") +
			"Content-Length: 5\r\n\r\nhello", 400},
		{"an upgrade over HTTP/1.0", strings.Replace(upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="), "HTTP/1.1", "HTTP/1.0", 1), 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, br := rawConn(t, addr, tt.req)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatal("no X-Content-Type-Options: nosniff")
			}
		})
	}
	t.Run("Last-Event-ID out of range", func(t *testing.T) {
		clk := fakeTime(t)
		resp := get(t, addr, "/clock/events", "Last-Event-ID: 9223372036854775807\r\n")
		clk.tick(t, fakeSecond(52), 1)
		if id := readEvent(t, bufio.NewReader(resp.Body)).id; id != "0" {
			t.Fatalf("first id %q; want 0", id)
		}
	})
	t.Run("an event stream to HTTP/1.0 is not chunked", func(t *testing.T) {
		clk := fakeTime(t)
		_, br := rawConn(t, addr, "GET /clock/events HTTP/1.0\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || len(resp.TransferEncoding) != 0 {
			t.Fatalf("%v, Transfer-Encoding %v", err, resp.TransferEncoding)
		}
		clk.tick(t, fakeSecond(52), 1)
		if line, _ := br.ReadString('\n'); line != "id: 0\n" {
			t.Fatalf("body starts %q; want an event, unchunked", line)
		}
	})
}

// TestShutdownReadsTheStreamedFrame: a large binary frame that starts after
// the server's Close 1001 is read to its end, not echoed, and the client's
// Close completes the closing handshake.
func TestShutdownReadsTheStreamedFrame(t *testing.T) {
	var logs syncBuffer
	addr, srv := startServerLog(t, nil, &logs)
	c := dial(t, addr)
	ws := onlyWS(t, srv)
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	waitFor(t, "the server's Close is sent", writerState(ws, func(o *frameWriter) bool { return o.closeSent }))
	c.send(binaryMsg(bytes.Repeat([]byte{7}, 100<<10)))
	c.expectCloseReply(1001)
	c.send(closeFrame(1001, ""))
	c.expectEOF()
	<-done
	waitFor(t, "the server logs the close", func() bool { return strings.Contains(logs.String(), "msg=closed") })
	if want := `code=1001 reason="server shutting down" by=server messages=0`; !strings.Contains(logs.String(), want) {
		t.Fatalf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestLogsStaySmall: a long request target is logged as a short preview,
// and connections turned away are logged a few times a second, with a count.
func TestLogsStaySmall(t *testing.T) {
	var logs syncBuffer
	addr, _ := startServerLog(t, func(c *config) { c.maxConns = 1 }, &logs)
	_, br := rawConn(t, addr, "GET /"+strings.Repeat("\x01", 7000)+" HTTP/1.1\r\nHost: x\r\n\r\n")
	io.Copy(io.Discard, br)
	waitFor(t, "the request is logged", func() bool { return strings.Contains(logs.String(), "msg=") })
	for line := range strings.SplitSeq(logs.String(), "\n") {
		if len(line) > 600 {
			t.Fatalf("a log line of %d bytes", len(line))
		}
	}

	held, _ := rawConn(t, addr, "GET / HTT") // the one connection allowed
	_ = held
	for range 50 {
		_, br := rawConn(t, addr, "GET / HTTP/1.1\r\n\r\n")
		io.Copy(io.Discard, br)
	}
	if n := strings.Count(logs.String(), "too many connections"); n == 0 || n > 2*logBurst {
		t.Fatalf("%d lines for 50 connections turned away; want a few", n)
	}
}
