package main

// server_test.go: end-to-end tests over loopback, with the test client of
// client_test.go against a real listening server.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEchoOverLoopback(t *testing.T) {
	addr, _ := startServer(t, nil)
	c := dial(t, addr)
	for _, n := range []int{0, 125, 126, 127, 65535, 65536, 1 << 20} {
		for _, op := range []byte{1, 2} {
			p := bytes.Repeat([]byte("abcdefg"), n/7+1)[:n]
			c.send(testFrame{fin: true, opcode: op, payload: p})
			if f := c.read(); f.opcode != op || !bytes.Equal(f.payload, p) {
				t.Fatalf("n=%d op=%d: echo opcode %d, %d bytes", n, op, f.opcode, len(f.payload))
			}
		}
	}
	c.send(text("你好，世界 🌍"), ping("are you there"))
	if f := c.read(); string(f.payload) != "你好，世界 🌍" {
		t.Fatalf("got %q", f.payload)
	}
	if f := c.read(); f.opcode != 0xA || string(f.payload) != "are you there" {
		t.Fatalf("got opcode %#x %q, want the pong", f.opcode, f.payload)
	}
	c.send(closeFrame(1000, "bye"))
	c.expectCloseReply(1000)
	c.expectEOF()
}

// TestHandshakeStatusesOverLoopback: every handshake answer, on a real
// socket: the response, then the server closes, with nothing else sent.
func TestHandshakeStatusesOverLoopback(t *testing.T) {
	addr, _ := startServer(t, nil)
	for _, tt := range handshakeCases {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(nc, tt.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(nc)
			checkResponse(t, br, tt.status, tt.header)
			c := &testClient{t: t, nc: nc, br: br}
			if tt.status == 101 {
				c.send(closeFrame(0, ""))
				c.expectCloseReply(0)
			}
			c.expectEOF()
		})
	}
}

// TestHandshakeInPieces: a request that arrives in many TCP segments, whose
// last one carries the first frame too, is upgraded and the frame echoed.
func TestHandshakeInPieces(t *testing.T) {
	addr, srv := startServer(t, nil)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	wire := []byte(upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="))
	wire = append(wire, rfcMaskedHello...)
	for len(wire) > 0 {
		n := min(len(wire), 17)
		if _, err := nc.Write(wire[:n]); err != nil { // a segment of its own: Go sets TCP_NODELAY
			t.Fatal(err)
		}
		wire = wire[n:]
		awaitRead(t, srv, nc) // and a read of its own
	}
	br := bufio.NewReader(nc)
	checkResponse(t, br, 101, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
	got := make([]byte, len(rfcUnmaskedHello))
	if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, rfcUnmaskedHello) {
		t.Fatalf("echo % x, %v; want % x", got, err, rfcUnmaskedHello)
	}
}

// TestHandshakeTimeout: a request that never finishes is dropped.
func TestHandshakeTimeout(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.handshakeTimeout = 300 * time.Millisecond })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n")
	start := time.Now()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, nc)
	if err != nil || n != 0 {
		t.Fatalf("read %d bytes, %v: want the server to close without answering", n, err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("dropped after %v", d)
	}
}

// TestFailureOverLoopback: a protocol error closes with its code and then
// the server closes TCP.
func TestFailureOverLoopback(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.maxMessage = 1000 })
	for _, tt := range []struct {
		f    testFrame
		code uint16
	}{
		{testFrame{fin: true, opcode: 1, payload: []byte("x"), noMask: true}, 1002},
		{text("\xff"), 1007},
		{binaryMsg(make([]byte, 1001)), 1009},
	} {
		c := dial(t, addr)
		c.send(text("first"), tt.f)
		if f := c.read(); string(f.payload) != "first" {
			t.Fatalf("got %q", f.payload)
		}
		c.expectClose(tt.code)
	}
}

// TestManyClients: concurrent clients each get their own messages back, in order.
func TestManyClients(t *testing.T) {
	addr, _ := startServer(t, nil)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			c := dial(t, addr)
			for j := range 20 {
				msg := fmt.Sprintf("client %d message %d", i, j)
				c.send(text(msg))
				if f := c.read(); string(f.payload) != msg {
					t.Errorf("client %d got %q, want %q", i, f.payload, msg)
					return
				}
			}
			c.send(closeFrame(1000, ""))
			c.expectCloseReply(1000)
		})
	}
	wg.Wait()
}

// TestVanishingClientsLeaveNothing: clients that disappear in the middle of
// a frame or a handshake leave no goroutine behind.
func TestVanishingClientsLeaveNothing(t *testing.T) {
	addr, srv := startServer(t, nil)
	before := runtime.NumGoroutine()
	for i := range 100 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\n") // half a handshake
		} else {
			io.WriteString(nc, upgradeRequestText(addr, "dGhlIHNhbXBsZSBub25jZQ=="))
			nc.Write(frames(binaryMsg(make([]byte, 5000)))[:3000]) // half a frame
			bufio.NewReader(nc).ReadString('\n')                   // the 101 has come
		}
		nc.Close()
	}
	waitIdle(t, srv, before)
}

// TestShutdown: every open WebSocket gets Close 1001; the server waits for
// the replies, and no longer than the shutdown timeout for a silent client.
func TestShutdown(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.shutdownTimeout = 1500 * time.Millisecond })
	polite := []*testClient{dial(t, addr), dial(t, addr)}
	silent := dial(t, addr)
	for _, c := range append(polite, silent) { // all three are past their handshake
		c.send(text("hi"))
		c.read()
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	for _, c := range polite {
		c.expectClose(1001)
	}
	silent.expectCloseReply(1001) // and never answers
	select {
	case <-done:
		t.Fatal("shutdown returned while a client had not answered")
	case <-time.After(500 * time.Millisecond):
	}
	<-done
	if d := time.Since(start); d < 1400*time.Millisecond || d > 5*time.Second {
		t.Fatalf("shutdown took %v, want about the 1.5 s timeout", d)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestFlags(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil || cfg.addr != "127.0.0.1:9999" || cfg.maxMessage != 64<<20 || cfg.maxHeaderBytes != 8192 ||
		cfg.handshakeTimeout != 10*time.Second || cfg.shutdownTimeout != 5*time.Second {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
	if cfg.maxMessage < 16<<20 {
		t.Fatal("the default -max-message must allow the conformance suite's 16 MiB messages")
	}
	cfg, err = parseFlags([]string{"-addr", ":0", "-max-message", "16MiB", "-max-header-bytes", "4096"}, io.Discard)
	if err != nil || cfg.addr != ":0" || cfg.maxMessage != 16<<20 || cfg.maxHeaderBytes != 4096 {
		t.Fatalf("parsed %+v, %v", cfg, err)
	}
	var help bytes.Buffer
	parseFlags([]string{"-h"}, &help)
	for _, want := range []string{"-addr", "127.0.0.1:9999", "-max-message", "64MiB", "-max-header-bytes", "8KiB",
		"-handshake-timeout", "10s", "-shutdown-timeout", "5s", "-ping-interval", "30s", "-idle-timeout", "1m0s",
		"-write-timeout", "-max-conns", "-origin", "-trace"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("-h does not show %q:\n%s", want, help.String())
		}
	}
	if cfg.maxConns < 1 || cfg.pingInterval != 30*time.Second || cfg.idleTimeout != time.Minute || cfg.writeTimeout != 10*time.Second {
		t.Fatalf("limits: %+v", cfg)
	}
	if got := (config{origins: " http://a.example ,null,, "}).originList(); len(got) != 2 || got[0] != "http://a.example" || got[1] != "null" {
		t.Fatalf("originList = %q", got)
	}
	for _, bad := range [][]string{{"-max-message", "lots"}, {"-max-message", "0"}, {"extra"}, {"-ping-interval", "-1s"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestUTF8FailFastOverLoopback: the conformance suite's fail-fast case on a
// real socket: the first part of a text frame, read by the server on its
// own, then the bytes that make it invalid; the Close 1007 must come
// before the rest is sent.
func TestUTF8FailFastOverLoopback(t *testing.T) {
	addr, srv := startServer(t, nil)
	c := dial(t, addr)
	payload := []byte("κόσμε\xf4\x90\x80\x80edited")
	wire := frames(text(string(payload)))
	head := len(wire) - len(payload)
	c.nc.Write(wire[:head+len("κόσμε")])
	awaitRead(t, srv, c.nc)
	c.nc.Write(wire[head+len("κόσμε") : head+len("κόσμε")+2]) // F4 90: no code point can follow
	c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	c.expectClose(1007) // without the rest of the frame
}

// serverHasRead says whether the server has read every byte that the
// client sent on a connection, given the client's end and the server's.
// Only some systems let a test see that: sockopt_linux_test.go sets it,
// and elsewhere it is nil.
var serverHasRead func(client, server net.Conn) bool

// awaitRead waits until srv, which holds this one connection, has read all
// that client sent on it, so that what the client sends next comes to the
// server in a read of its own. Where serverHasRead cannot tell, it returns
// at once, and the server may read the next bytes with these.
func awaitRead(t *testing.T, srv *server, client net.Conn) {
	t.Helper()
	if serverHasRead == nil {
		return
	}
	waitFor(t, "the server has read all that was sent", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for server := range srv.conns {
			return len(srv.conns) == 1 && serverHasRead(client, server)
		}
		return false
	})
}
