package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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
	return readInspectStream(t, br)
}

// readInspectStream reads an inspector stream's response from br, and
// returns its events as openInspectStream does.
func readInspectStream(t *testing.T, br *bufio.Reader) (*http.Response, chan inspectEvent) {
	t.Helper()
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

// dialPath opens a WebSocket on path, with the extra header lines,
// closed when the test ends.
func dialPath(t *testing.T, addr, path string, extra ...string) *testClient {
	t.Helper()
	c, err := dialWS(addr, path, extra...)
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
	io.WriteString(nc, "GET /inspect?token="+testToken+" HTTP/1.1\r\nHost: x\r\n\r\n") // and read nothing, for now
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

// inspectionOf is the server's inspection for token, or nil.
func inspectionOf(srv *server, token string) *inspection {
	srv.inspector.mu.Lock()
	defer srv.inspector.mu.Unlock()
	return srv.inspector.m[token]
}

// queueState is what x holds: the bytes queued and the capacity they
// take, the events queued, and how many were dropped, those its queue's
// notes tell of and those no note tells of yet.
func queueState(x *inspection) (queued, capacity, events, dropped int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for e := range strings.SplitAfterSeq(string(x.queue), "\n\n") {
		if n, ok := strings.CutPrefix(e, "event: dropped\ndata: "); ok {
			k, _ := strconv.Atoi(strings.TrimSpace(n))
			dropped += k
		} else if e != "" {
			events++
		}
	}
	return len(x.queue), cap(x.queue), events, dropped + x.dropped
}

// queuedText is the events x's queue holds, as the stream will send them.
func queuedText(x *inspection) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return string(x.queue)
}

// pingPayload is a ping's largest payload, 125 bytes (RFC 6455 §5.5).
var pingPayload = strings.Repeat("p", 125)

// TestInspectBoundedWithoutStream: a connection with a token that no
// stream reads, a head of some 8,000 bytes, nearly all "<" (which
// encoding/json would make six bytes each), and 130 pings of 125 bytes
// keeps at most inspectEarlyBytes queued: the handshake, cut short and
// saying so, and a few frames. A stream that opens then gets them, and
// how many were dropped.
func TestInspectBoundedWithoutStream(t *testing.T) {
	addr, srv := startServer(t, nil)
	head := upgradeRequestPath(addr, "/?inspect="+testToken, "dGhlIHNhbXBsZSBub25jZQ==")
	pad := "X-Pad: " + strings.Repeat("<", 8000-len(head)) + "\r\n" // the head stays under -max-header-bytes, 8192
	head = upgradeRequestPath(addr, "/?inspect="+testToken, "dGhlIHNhbXBsZSBub25jZQ==", pad)
	c := dialPath(t, addr, "/?inspect="+testToken, pad)
	const pings = 130
	for range pings {
		c.send(ping(pingPayload))
		if f := c.read(); f.opcode != 0xA {
			t.Fatalf("opcode %#x; want a pong", f.opcode)
		}
	}
	x := inspectionOf(srv, testToken)
	made := 1 + 2*pings // the handshake, each ping and its pong
	waitFor(t, "every event is queued or counted dropped", func() bool {
		_, _, events, dropped := queueState(x)
		return events+dropped >= made
	})
	queued, capacity, events, dropped := queueState(x)
	if queued > inspectEarlyBytes || capacity > inspectEarlyBytes || dropped == 0 {
		t.Fatalf("%d bytes queued in %d, %d events, %d dropped; want at most %d bytes, and some dropped",
			queued, capacity, events, dropped, inspectEarlyBytes)
	}
	if raw := queuedText(x); !strings.Contains(raw, strings.Repeat("<", 100)) {
		t.Fatalf("the queued handshake does not show \"<\" as one byte:\n%.300s", raw)
	}

	_, stream := openInspectStream(t, addr, testToken)
	e := nextEvent(t, stream)
	wantFields(t, e, "handshake", map[string]any{"truncated": true, "requestLength": len(head), "key": "dGhlIHNhbXBsZSBub25jZQ=="})
	if req := e.data["request"].(string); !strings.HasPrefix(head, req) || len(req) < inspectRequestShown/2 {
		t.Fatalf("the handshake shows %d bytes, not the head's start", len(req))
	}
	frames := 0
	for e = nextEvent(t, stream); e.name == "frame"; e = nextEvent(t, stream) {
		frames++
	}
	wantFields(t, e, "dropped", map[string]any{"value": made - 1 - frames})
	c.send(closeFrame(1000, "bye"))
	c.expectCloseReply(1000)
	nextEvent(t, stream) // the Close frame in
	nextEvent(t, stream) // and ours out
	wantFields(t, nextEvent(t, stream), "close", map[string]any{"code": 1000, "reason": "bye", "by": "client"})
}

// TestInspectStalledStreamBounded: a stream that stops reading holds its
// connection's queue to inspectQueueBytes; what does not fit is dropped,
// and when the stream reads again it says how many, so that the events it
// carries and the numbers in its notes add up to every event made. The
// stream's socket buffers fill first, and then the queue.
func TestInspectStalledStreamBounded(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.writeTimeout = time.Minute }) // the stalled stream waits, not dies
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "GET /inspect?token="+testToken+" HTTP/1.1\r\nHost: x\r\n\r\n") // and read nothing, for now
	waitFor(t, "the stream is open", func() bool {
		x := inspectionOf(srv, testToken)
		if x == nil {
			return false
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.streaming
	})
	x := inspectionOf(srv, testToken)
	c := dialPath(t, addr, "/?inspect="+testToken)
	pings := fillQueue(t, c, x)
	c.send(closeFrame(1000, ""))
	c.expectCloseReply(1000)
	made := 1 + 2*pings + 2 + 1 // the handshake, pings and pongs, the two Close frames, the close event

	nc.SetDeadline(time.Now().Add(30 * time.Second))
	_, events := readInspectStream(t, bufio.NewReader(nc))
	shown, dropped, notes := 0, 0, 0
	last := ""
	for e := range events {
		if e.name == "dropped" {
			n, _ := strconv.Atoi(fmt.Sprint(e.data["value"]))
			dropped += n
			notes++
		} else {
			shown++
		}
		last = e.name
	}
	if notes == 0 || shown+dropped != made || last != "close" {
		t.Fatalf("the stream carried %d events and %d notes of %d dropped, ending with %q; want notes, %d in all, the close last",
			shown, notes, dropped, last, made)
	}
}

// fillQueue pings over c until x's queue, which a stalled stream no longer
// empties, drops an event, never holding more than inspectQueueBytes; it
// returns the number of pings.
func fillQueue(t *testing.T, c *testClient, x *inspection) int {
	t.Helper()
	for pings := 1; pings <= 100000; pings++ {
		c.send(ping(pingPayload))
		c.read()
		queued, capacity, _, dropped := queueState(x)
		if queued > inspectQueueBytes || capacity > inspectQueueBytes {
			t.Fatalf("after %d pings, %d bytes queued in %d; want at most %d", pings, queued, capacity, inspectQueueBytes)
		}
		if dropped > 0 {
			t.Logf("the queue dropped its first event after %d pings", pings)
			return pings
		}
	}
	t.Fatal("100,000 pings and the stalled stream's queue has dropped nothing")
	return 0
}

// TestInspectQueueTrimmedWhenStreamLeaves: a stream that stopped reading
// and then went away leaves no queue of inspectQueueBytes behind for the
// rest of its connection's life (streamLeft): the queue goes back to the
// bound of a token no stream reads, and its events count as dropped, the
// ones a note stands for as that many, so that a stream that comes back
// for the token is told how many it missed.
func TestInspectQueueTrimmedWhenStreamLeaves(t *testing.T) {
	x := &inspection{wake: make(chan struct{}, 1), streaming: true}
	e := []byte("event: frame\ndata: {\"dir\":\"in\",\"reason\":\"a\\n\\nb\"}\n\n") // a blank line escaped in its JSON
	for {
		if x.push(e, 0); x.dropped > 0 {
			break
		}
	}
	x.push(e, 0) // dropped again: the next event that fits goes after a note
	x.mu.Lock()
	x.queue = x.queue[:len(x.queue)-4*len(e)] // room for the note and one event
	x.mu.Unlock()
	x.push(e, 0)
	queued, capacity, events, dropped := queueState(x)
	if capacity <= inspectEarlyBytes || !strings.Contains(queuedText(x), "event: dropped") {
		t.Fatalf("the stream's queue: %d bytes in %d, no note; want it past %d with a note", queued, capacity, inspectEarlyBytes)
	}
	x.streamLeft()
	_, capacityAfter, _, droppedAfter := queueState(x)
	if capacityAfter > inspectEarlyBytes || droppedAfter != events+dropped {
		t.Fatalf("after the stream left: capacity %d, %d dropped; want at most %d, and the %d events queued and the %d dropped before",
			capacityAfter, droppedAfter, inspectEarlyBytes, events, dropped)
	}
}

// TestInspectSecondStreamConflict: a token has one stream; a second one
// is refused with 409 Conflict (RFC 9110 §15.5.10).
func TestInspectSecondStreamConflict(t *testing.T) {
	addr, _ := startServer(t, nil)
	if resp, _ := openInspectStream(t, addr, testToken); resp.StatusCode != 200 {
		t.Fatalf("the first stream: %s", resp.Status)
	}
	_, br := rawConn(t, addr, "GET /inspect?token="+testToken+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
	if line, err := br.ReadString('\n'); line != "HTTP/1.1 409 Conflict\r\n" {
		t.Fatalf("the second stream: %q (%v); want HTTP/1.1 409 Conflict", line, err)
	}
}

// TestInspectHandshakeWorstCase: a head of control bytes, which JSON
// writes as six bytes each, a byte that is not UTF-8, and a key as long,
// make a handshake event that still fits in the early queue with room
// for the close event: cut short, saying so, and valid JSON.
func TestInspectHandshakeWorstCase(t *testing.T) {
	for _, fill := range []string{"\x01", "<", "\xff", "\"", "é"} {
		srv := newServer(config{inspect: true}, nil)
		x := srv.inspector.attach(testToken)
		head := "GET /?inspect=" + testToken + " HTTP/1.1\r\nX: " + strings.Repeat(fill, 64<<10) + "\r\n\r\n"
		x.handshakeEvent(&request{head: []byte(head), key: strings.Repeat(fill, 8<<10)}, []byte(strings.Repeat(fill, 8<<10)), strings.Repeat(fill, 1<<10))
		queued, _, events, dropped := queueState(x)
		if events != 1 || queued > handshakeEventMax || handshakeEventMax > inspectEarlyBytes-inspectCloseRoom {
			t.Fatalf("fill %q: a handshake event of %d bytes (%d events, %d dropped); want one of at most %d, under %d",
				fill, queued, events, dropped, handshakeEventMax, inspectEarlyBytes-inspectCloseRoom)
		}
		data, _ := strings.CutPrefix(strings.TrimSuffix(queuedText(x), "\n\n"), "event: handshake\ndata: ")
		var h struct {
			Request   string
			Truncated bool
		}
		if err := json.Unmarshal([]byte(data), &h); err != nil || !h.Truncated ||
			!strings.HasPrefix(strings.Map(func(r rune) rune { return r }, head), h.Request) || len(h.Request) < inspectRequestShown/6 {
			t.Fatalf("fill %q: %v, truncated %v, request %.40q", fill, err, h.Truncated, h.Request)
		}
	}
}

// TestInspectJSONStrings: appendJSONString writes what encoding/json
// reads back as the string, every byte that is not UTF-8 as U+FFFD, and
// when cut short, a prefix of it within the limit.
func TestInspectJSONStrings(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	for _, s := range []string{"", "plain", string(all), "é中😀<>&\"\\\u2028", "\xe4\xb8", strings.Repeat("\x01é", 300)} {
		want := strings.Map(func(r rune) rune { return r }, s)
		for _, limit := range []int{0, 1, 5, 7, 100, 1 << 20} {
			b, cut := appendJSONString([]byte("x"), s, limit)
			var got string
			if err := json.Unmarshal(b[1:], &got); err != nil || len(b)-3 > limit || !strings.HasPrefix(want, got) ||
				cut != (got != want) || b[0] != 'x' {
				t.Fatalf("%.20q, limit %d: %q (cut %v, %v); want a prefix of %.20q within the limit", s, limit, b, cut, err, want)
			}
		}
	}
}

// TestInspectDropsWithANote: past its bound, an inspection drops events
// rather than wait for its reader, keeps room for the close event, and
// its stream says how many it dropped, where it dropped them.
func TestInspectDropsWithANote(t *testing.T) {
	srv := newServer(config{inspect: true}, nil)
	x := srv.inspector.attach(testToken)
	frame := append([]byte{0x82, 126, 0x01, 0x00}, make([]byte, 256)...) // a binary echo of 256 bytes
	const sent = 100
	for range sent {
		x.frameOut(frame)
	}
	x.closeEvent(closeNormalClosure, "bye", "client")
	queued, capacity, events, dropped := queueState(x)
	if queued > inspectEarlyBytes || capacity > inspectEarlyBytes || events+dropped != sent+1 || dropped == 0 {
		t.Fatalf("%d bytes queued in %d, %d events, %d dropped; want at most %d bytes, %d events in all",
			queued, capacity, events, dropped, inspectEarlyBytes, sent+1)
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
	want := fmt.Sprintf("event: dropped\ndata: %d\n\nevent: close\ndata: ", dropped)
	if got := strings.Count(string(all), "event: frame"); got != sent-dropped || !strings.Contains(string(all), want) {
		t.Fatalf("the stream has %d frames, and no note of %d dropped just before the close:\n%s", got, dropped, all)
	}
}

// benchDropping says whether x has dropped an event since its last note.
func benchDropping(x *inspection) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.dropped > 0
}

// benchDrain empties x's queue, as a stream that keeps up does.
func benchDrain(x *inspection) {
	x.mu.Lock()
	x.queue, x.dropped = x.queue[:0], 0
	x.mu.Unlock()
}

// BenchmarkInspectedPing is the inspector's part of an inspected ping of
// 125 bytes, as the server does it: the ping's event as read, and the
// pong's as written. "kept": a stream keeps up and empties the queue every
// time; "dropped": nobody reads and the queue is full, as for a client
// that asks to be inspected and never opens the stream: every event is
// made and then counted as dropped.
func BenchmarkInspectedPing(b *testing.B) {
	payload := make([]byte, 125)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	h := frameHeader{fin: true, opcode: opPing, mask: true, payloadLen: 125, length: 125, maskingKey: [4]byte{0x37, 0xfa, 0x21, 0x3d}}
	pong := append([]byte{0x8A, 125}, payload...)
	for _, mode := range []string{"kept", "dropped"} {
		b.Run(mode, func(b *testing.B) {
			srv := newServer(config{inspect: true}, nil)
			x := srv.inspector.attach(testToken)
			tr := &tracer{insp: x}
			ping := func() {
				tr.payload(0, payload)
				tr.frameIn(&h, nil)
				tr.frameOut(pong)
			}
			if mode == "dropped" {
				for !benchDropping(x) {
					ping()
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				ping()
				if mode == "kept" {
					benchDrain(x)
				}
			}
		})
	}
}
