package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// traceOf runs input through a traced wsConn and returns the trace.
func traceOf(t *testing.T, input []byte) string {
	t.Helper()
	var trace bytes.Buffer
	c := newWSConn(bufio.NewReader(bytes.NewReader(input)), io.Discard, 1<<20)
	c.trace = newTracer(&trace, "test")
	c.serve()
	return trace.String()
}

// wantLines checks that each line appears in the trace, in this order.
func wantLines(t *testing.T, trace string, lines ...string) {
	t.Helper()
	rest := trace
	for _, l := range lines {
		i := strings.Index(rest, l)
		if i < 0 {
			t.Fatalf("trace lacks (after the lines before it) %q:\n%s", l, trace)
		}
		rest = rest[i+len(l):]
	}
}

// TestTraceRFCMaskedHello: the trace of RFC 6455 §5.7's masked "Hello",
// field by field, and of its echo.
func TestTraceRFCMaskedHello(t *testing.T) {
	trace := traceOf(t, rfcMaskedHello)
	wantLines(t, trace,
		"[test] <- frame from the client, 6 header bytes: 81 85 37 fa 21 3d",
		"    |F|R|R|R| opcode|M| Payload len |",
		"    |1|0|0|0|0 0 0 1|1|0 0 0 0 1 0 1|",
		"    FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text) MASK=1 Payload len=5",
		"    Extended payload length: none",
		"    in the article's code: buffers[0] = 81 (FIN, RSV, opcode), buffers[1] = 85 (MASK, Payload len)",
		"    Masking-key: 37 fa 21 3d = buffers.slice(2, 6)",
		"    Payload Data, 5 bytes = buffers.slice(6):",
		"      as received (masked): 7f 9f 4d 51 58",
		`      unmasked (3.4.2):     48 65 6c 6c 6f  "Hello"`,
		"[test] -> frame to the client (2 header bytes + 5 payload bytes, in one write), header: 81 05",
		"    |1|0|0|0|0 0 0 1|0|0 0 0 0 1 0 1|",
		"    FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text) MASK=0 Payload len=5",
		"    Masking-key: none",
		`    Payload Data, 5 bytes: 48 65 6c 6c 6f  "Hello"`,
	)
	if n := strings.Count(trace, "|F|R|R|R| opcode|M| Payload len |"); n != 1 {
		t.Fatalf("the diagram's boxes drawn %d times for two frames; want once a connection", n)
	}
}

// TestTraceLengthsAndClose: the 16- and 64-bit lengths, a preview cut short,
// the close handshake, and a rejected frame.
func TestTraceLengthsAndClose(t *testing.T) {
	trace := traceOf(t, frames(binaryMsg(make([]byte, 300)), text(strings.Repeat("é", 40000)), closeFrame(1000, "bye")))
	wantLines(t, trace,
		"<- frame from the client, 8 header bytes: 82 fe 01 2c 37 fa 21 3d",
		"|1|0|0|0|0 0 1 0|1|1 1 1 1 1 1 0|", "Extended payload length (16 bits): 300",
		"buffers.slice(2, 4) = 16-bit length",
		"Masking-key: 37 fa 21 3d = buffers.slice(4, 8), not the article's buffers.slice(2, 6), which holds the length here",
		"Payload Data, 300 bytes = buffers.slice(8):",
		"unmasked (3.4.2):     00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ...",
		"|1|0|0|0|0 0 0 1|1|1 1 1 1 1 1 1|", "Extended payload length (64 bits): 80000",
		"buffers.slice(2, 10) = 64-bit length", "= buffers.slice(10, 14)", "Payload Data, 80000 bytes = buffers.slice(14):",
		`"éééééééé" ...`,
		`<- Close from the client: 1000 (Normal Closure), reason "bye"`,
		"opcode=0x8 (close) MASK=0 Payload len=2", "03 e8  code 1000 (Normal Closure)",
	)
	trace = traceOf(t, frames(testFrame{fin: true, rsv: 0x40, opcode: 1, payload: []byte("x")}))
	wantLines(t, trace,
		"|1|1|0|0|0 0 0 1|1|0 0 0 0 0 0 1|",
		"rejected: 1002 Protocol error: RSV bit set",
		"failing the connection (RFC 6455 §7.1.7): Close 1002",
		"-> frame to the client", "Payload Data, 44 bytes: 03 ea 52 53", "code 1002 (Protocol error)  \"RSV bit set wi\" ...",
	)
}

// TestTraceHugeLength: a 64-bit length with its most significant bit set,
// which RFC 6455 §5.2 forbids, is refused with 1002 and traced as such; the
// tracer once took that length for an int, and a negative one panicked
// (FuzzLab found it).
func TestTraceHugeLength(t *testing.T) {
	trace := traceOf(t, frames(testFrame{fin: true, opcode: 1, lenForm: 64, declare: 0xc030303030303030, payload: []byte("x")}))
	wantLines(t, trace,
		"|1|0|0|0|0 0 0 1|1|1 1 1 1 1 1 1|",
		"rejected: 1002 Protocol error",
		"failing the connection (RFC 6455 §7.1.7): Close 1002",
	)
}

// TestTraceHandshake: article 3.3's request, the accept computation spelled
// out (the SHA-1 computed independently of the server), and the 101.
func TestTraceHandshake(t *testing.T) {
	var trace bytes.Buffer
	tr := newTracer(&trace, "test")
	if _, err := handshakeOf(bufio.NewReader(strings.NewReader(articleRequest)), io.Discard, defaultMaxHeaderBytes, tr); err != nil {
		t.Fatal(err)
	}
	wantLines(t, trace.String(),
		fmt.Sprintf("[test] upgrade request as received (%d bytes), article 3.3.1:", len(articleRequest)),
		`    | GET ws://localhost:8888/ HTTP/1.1\r\n`,
		`    | Sec-WebSocket-Key: IHfMdf8a0aQXbwQO1pkGdA==\r\n`,
		`    | \r\n`,
		`    key + GUID  = "IHfMdf8a0aQXbwQO1pkGdA==" + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"`,
		"    SHA-1 (hex) = 696018f95feecb3e482d91285ae59dc639e56fb1",
		"    base64      = aWAY+V/uyz5ILZEoWuWdxjnlb7E=",
		`    | HTTP/1.1 101 Switching Protocols\r\n`,
		`    | Sec-WebSocket-Accept: aWAY+V/uyz5ILZEoWuWdxjnlb7E=\r\n`,
	)
}

// TestTraceOffWritesNothing: a server without -trace has no tracer.
func TestTraceOffWritesNothing(t *testing.T) {
	var trace syncBuffer
	addr, _ := startServerTrace(t, nil, nil, &trace)
	c := dial(t, addr)
	c.send(text("quiet"))
	c.read()
	if trace.String() != "" {
		t.Fatalf("traced without -trace: %q", trace.String())
	}
}

// TestTraceStreamed: a streamed echo is traced as the client's frame, then
// the echo's header and first piece, said to be streamed.
func TestTraceStreamed(t *testing.T) {
	trace := traceOf(t, frames(binaryMsg(bytes.Repeat([]byte{7}, 600000)))) // more than one piece of the largest class
	wantLines(t, trace,
		"<- frame from the client, 14 header bytes:", "Extended payload length (64 bits): 600000",
		"unmasked (3.4.2):     07 07 07",
		"-> frame to the client, streamed (header and the first ", " of 600000 payload bytes",
		"Payload Data, 600000 bytes: 07 07 07",
	)
}

// TestTracePlainHTTP: plain HTTP is traced as plain HTTP, named by the
// article's section 2 number, with what the streams send as they send it;
// a connection that never sends a request is explained in one line.
func TestTracePlainHTTP(t *testing.T) {
	var logs, trace syncBuffer
	addr, _ := startServerTrace(t, func(c *config) { c.trace = true; c.handshakeTimeout = time.Second }, &logs, &trace)
	resp := get(t, addr, "/clock")
	resp.Body.Close()
	r := bufio.NewReader(get(t, addr, "/clock/events").Body)
	readEvent(t, r)
	waitFor(t, "the event is traced", func() bool { return strings.Contains(trace.String(), "-> article 2.4, an event, as sent") })
	wantLines(t, trace.String(),
		"HTTP request as received (", "), article 2.1, polling:", `    | GET /clock HTTP/1.1\r\n`,
		"  response as sent:", `    | HTTP/1.1 200 OK\r\n`,
		"), article 2.4, EventSource:", `    | GET /clock/events HTTP/1.1\r\n`,
		"-> article 2.4, an event, as sent (", `    | id: 0\n`, `    | event: clock\n`,
	)
	if strings.Contains(trace.String(), "upgrade request") || strings.Contains(trace.String(), "3.3.1") {
		t.Fatal("plain HTTP traced as an upgrade request")
	}

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Close() // a preconnect that was never used
	waitFor(t, "the unused connection is explained", func() bool {
		return strings.Contains(logs.String(), "a browser's preconnect, most likely")
	})
	if strings.Contains(logs.String(), "handshake abandoned") {
		t.Fatalf("an unused connection logged as a failed handshake:\n%s", logs.String())
	}
}

// TestTraceWebsocatText: websocat sends each line with its line end, and a
// text payload is shown as a Go string literal after its hex, the line end
// escaped, Chinese as it is; a preview cut inside a character stops before it.
func TestTraceWebsocatText(t *testing.T) {
	trace := traceOf(t, frames(text("hello\n"), text("你好，世界\n"), text("你好你好你好你好")))
	wantLines(t, trace,
		`      unmasked (3.4.2):     68 65 6c 6c 6f 0a  "hello\n"`,
		`    Payload Data, 6 bytes: 68 65 6c 6c 6f 0a  "hello\n"`,
		`      unmasked (3.4.2):     e4 bd a0 e5 a5 bd ef bc 8c e4 b8 96 e7 95 8c 0a  "你好，世界\n"`,
		`    Payload Data, 16 bytes: e4 bd a0 e5 a5 bd ef bc 8c e4 b8 96 e7 95 8c 0a  "你好，世界\n"`,
		`      unmasked (3.4.2):     e4 bd a0 e5 a5 bd e4 bd a0 e5 a5 bd e4 bd a0 e5 ...  "你好你好你" ...`,
	)
}

// TestTraceBytesAsHex: a binary payload is bytes, shown in hex even when it
// reads as text; so is a text payload that is not UTF-8, which is not cut
// down to the part before its first bad byte and shown as if it were text.
func TestTraceBytesAsHex(t *testing.T) {
	trace := traceOf(t, frames(binaryMsg([]byte("hello\n"))))
	wantLines(t, trace, "      unmasked (3.4.2):     68 65 6c 6c 6f 0a\n", "    Payload Data, 6 bytes: 68 65 6c 6c 6f 0a\n")
	trace = traceOf(t, frames(text("abc\xffdef")))
	wantLines(t, trace, "      unmasked (3.4.2):     61 62 63 ff 64 65 66\n", "rejected: 1007")
}

// TestTraceOnlyWS: -trace=ws prints a WebSocket's handshake and frames and
// nothing of a plain request (push.html's polls would bury them), nor of a
// connection that has sent no request yet; -trace=http the other way round.
func TestTraceOnlyWS(t *testing.T) {
	for _, only := range []traceScope{traceWS, traceHTTP} {
		var logs, trace syncBuffer
		addr, _ := startServerTrace(t, func(c *config) { c.trace, c.traceOnly = true, only }, &logs, &trace)
		resp := get(t, addr, "/clock")
		resp.Body.Close()
		c := dial(t, addr)
		c.send(text("hello\n"))
		c.read()
		ws := []string{"upgrade request as received", "<- frame from the client", `unmasked (3.4.2):     68 65 6c 6c 6f 0a  "hello\n"`}
		// All are written before the echo, or the 200, that the client waited for.
		plain := []string{"HTTP request as received", "GET /clock HTTP/1.1"}
		shown, hidden := ws, plain
		if only == traceHTTP {
			shown, hidden = plain, ws
		}
		wantLines(t, trace.String(), shown...)
		for _, h := range hidden {
			if strings.Contains(trace.String(), h) {
				t.Fatalf("traced %q with only=%d:\n%s", h, only, trace.String())
			}
		}
	}
	var trace bytes.Buffer
	tr := newTracer(&trace, "test")
	tr.only = traceWS
	tr.note("a connection that sent no request and closed")
	if trace.Len() > 0 {
		t.Fatalf("-trace=ws printed a connection with no request: %q", trace.String())
	}
}
