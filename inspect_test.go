package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// inspectEvent is one event of an inspector stream.
type inspectEvent struct {
	name string
	data map[string]any
}

// openInspectStream sends GET /inspect?token=token and returns the events
// as they come, on a channel closed when the stream ends.
func openInspectStream(t *testing.T, addr, token string) (*http.Response, chan inspectEvent) {
	t.Helper()
	_, br := rawConn(t, addr, "GET /inspect?token="+token+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan inspectEvent, 1000)
	if resp.StatusCode != 200 {
		close(events)
		return resp, events
	}
	go func() {
		defer close(events)
		r := bufio.NewReader(resp.Body)
		var e inspectEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "":
				if e.name != "" {
					events <- e
				}
				e = inspectEvent{}
			case strings.HasPrefix(line, "event: "):
				e.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e.data)
				if e.data == nil {
					e.data = map[string]any{"value": strings.TrimPrefix(line, "data: ")}
				}
			}
		}
	}()
	return resp, events
}

// nextEvent waits for the stream's next event.
func nextEvent(t *testing.T, events chan inspectEvent) inspectEvent {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s")
	}
	return inspectEvent{}
}

// wantFields checks an event's fields against want (numbers as JSON gives them).
func wantFields(t *testing.T, e inspectEvent, name string, want map[string]any) {
	t.Helper()
	if e.name != name {
		t.Fatalf("event %q %v; want %q", e.name, e.data, name)
	}
	for k, v := range want {
		if fmt.Sprint(e.data[k]) != fmt.Sprint(v) {
			t.Errorf("%s.%s = %v, want %v", name, k, e.data[k], v)
		}
	}
}

const testToken = "0123456789abcdefABCDEF_-x"

// dialPath opens a WebSocket on path, closed when the test ends.
func dialPath(t *testing.T, addr, path string) *testClient {
	t.Helper()
	c, err := dialWS(addr, path)
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// TestInspectRFCHello: the masked "Hello" of RFC 6455 §5.7 (key 37fa213d)
// on a connection with a token, event by event on the token's stream:
// the handshake as received and sent, the frame as it came, its echo, the
// close; and the stream then ends.
func TestInspectRFCHello(t *testing.T) {
	addr, _ := startServer(t, nil)
	_, events := openInspectStream(t, addr, testToken)
	c := dialPath(t, addr, "/?inspect="+testToken)
	e := nextEvent(t, events)
	wantFields(t, e, "handshake", map[string]any{
		"key": "dGhlIHNhbXBsZSBub25jZQ==", "guid": websocketGUID,
		"sha1": "b37a4f2cc0624f1690f64606cf385945b2bec4ea", "accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
	})
	if req := e.data["request"].(string); !strings.HasPrefix(req, "GET /?inspect="+testToken+" HTTP/1.1\r\n") ||
		!strings.HasSuffix(req, "\r\n\r\n") {
		t.Fatalf("request %q: want the head as sent", req)
	}
	if resp := e.data["response"].(string); !strings.HasPrefix(resp, "HTTP/1.1 101 Switching Protocols\r\n") ||
		!strings.Contains(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") {
		t.Fatalf("response %q", resp)
	}

	c.nc.Write(rfcMaskedHello)
	c.read()
	wantFields(t, nextEvent(t, events), "frame", map[string]any{
		"dir": "in", "header": "818537fa213d", "fin": true, "rsv1": false, "rsv2": false, "rsv3": false,
		"opcode": 1, "mask": true, "length": 5, "maskingKey": "37fa213d",
		"payloadMasked": "7f9f4d5158", "payload": "48656c6c6f", "truncated": false,
	})
	wantFields(t, nextEvent(t, events), "frame", map[string]any{
		"dir": "out", "header": "8105", "fin": true, "opcode": 1, "mask": false, "length": 5,
		"maskingKey": "", "payloadMasked": "48656c6c6f", "payload": "48656c6c6f", "truncated": false,
	})

	c.send(binaryMsg(make([]byte, 300)))
	c.read()
	wantFields(t, nextEvent(t, events), "frame", map[string]any{"dir": "in", "length": 300, "truncated": true})
	if e := nextEvent(t, events); len(e.data["payload"].(string)) != 2*inspectPreview {
		t.Fatalf("the echo's preview has %d hex digits; want %d", len(e.data["payload"].(string)), 2*inspectPreview)
	}

	c.send(closeFrame(1000, "bye"))
	c.expectCloseReply(1000)
	nextEvent(t, events) // the Close frame in
	nextEvent(t, events) // and ours out
	wantFields(t, nextEvent(t, events), "close", map[string]any{"code": 1000, "reason": "bye", "by": "client"})
	select {
	case _, open := <-events:
		if open {
			t.Fatal("an event after the close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after its connection")
	}
}

// TestInspectOnlyItsOwn: a token's stream never carries another
// connection's bytes, a second connection with the same token is not
// inspected, and a token no connection uses stays silent.
func TestInspectOnlyItsOwn(t *testing.T) {
	addr, _ := startServer(t, nil)
	silent := strings.Repeat("s", 32)
	_, quiet := openInspectStream(t, addr, silent)
	_, events := openInspectStream(t, addr, testToken)
	mine := dialPath(t, addr, "/?inspect="+testToken)
	nextEvent(t, events) // the handshake
	for _, path := range []string{"/", "/?inspect=" + testToken, "/?inspect=" + strings.Repeat("o", 32)} {
		other := dialPath(t, addr, path)
		other.send(text("not yours"))
		other.read()
		other.nc.Close()
	}
	mine.send(text("mine"))
	mine.read()
	e := nextEvent(t, events)
	if e.name != "frame" || e.data["payload"] != "6d696e65" {
		t.Fatalf("first event after the handshake: %s %v; want my frame", e.name, e.data)
	}
	select {
	case e := <-quiet:
		t.Fatalf("the silent token's stream sent %s %v", e.name, e.data)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestInspectStalledReader: a stream nobody reads does not slow the echo.
func TestInspectStalledReader(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.writeTimeout = time.Minute }) // the stalled stream waits, not dies
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // the reader stalls soon
	}
	io.WriteString(nc, "GET /inspect?token="+testToken+" HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, "the stream is open", func() bool { return plainCount(srv) == 1 })
	c := dialPath(t, addr, "/?inspect="+testToken)
	msg := strings.Repeat("x", 100)
	start := time.Now()
	for range 10000 {
		c.send(text(msg))
		c.read()
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("10,000 echoes took %v with a stalled stream", d)
	}
}

// TestInspectDropsWithANote: past its queue, an inspection drops events
// rather than wait for its reader, and its stream then says how many.
func TestInspectDropsWithANote(t *testing.T) {
	srv := newServer(config{inspect: true}, nil)
	x := srv.inspector.get(testToken)
	for i := range maxInspectQueue + 44 {
		x.send("frame", map[string]int{"n": i})
	}
	x.mu.Lock()
	queued, dropped := len(x.events), x.dropped
	x.mu.Unlock()
	if queued != maxInspectQueue || dropped != 44 {
		t.Fatalf("%d queued, %d dropped; want %d and 44", queued, dropped, maxInspectQueue)
	}
	srv.inspector.detach(x)
	server, client := net.Pipe()
	defer client.Close()
	req := &request{method: "GET", minor: 1}
	go func() {
		srv.serveInspect(&pushConn{s: srv, nc: server}, req, x)
		server.Close()
	}()
	all, _ := io.ReadAll(client)
	if !strings.Contains(string(all), "event: dropped\ndata: 44\n\n") || strings.Count(string(all), "event: frame") != maxInspectQueue {
		t.Fatalf("the stream does not say that 44 events were dropped, or lacks the %d queued:\n%.300s", maxInspectQueue, all)
	}
}

// TestInspectOff: with -inspect=false, /inspect is not found and a token
// is ignored.
func TestInspectOff(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.inspect = false })
	resp, _ := openInspectStream(t, addr, testToken)
	if resp.StatusCode != 404 {
		t.Fatalf("status %d; want 404", resp.StatusCode)
	}
	c := dialPath(t, addr, "/?inspect="+testToken)
	c.send(text("still echoed"))
	if f := c.read(); string(f.payload) != "still echoed" {
		t.Fatalf("got %q", f.payload)
	}
}
