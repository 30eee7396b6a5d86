package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
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
		"[test] <- frame from the client:",
		"    |F|R|R|R| opcode|M| Payload len |",
		"    |1|0|0|0|0 0 0 1|1|0 0 0 0 1 0 1|",
		"    FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text) MASK=1 Payload len=5",
		"    Extended payload length: none",
		"    Masking-key: 37 fa 21 3d",
		"    Payload Data, 5 bytes:",
		"      as received (masked): 7f 9f 4d 51 58",
		`      unmasked (3.4.2):     48 65 6c 6c 6f  "Hello"`,
		"[test] -> frame to the client (2 header bytes + 5 payload bytes, in one write):",
		"    |1|0|0|0|0 0 0 1|0|0 0 0 0 1 0 1|",
		"    FIN=1 RSV1=0 RSV2=0 RSV3=0 opcode=0x1 (text) MASK=0 Payload len=5",
		"    Masking-key: none",
		`    Payload Data, 5 bytes: 48 65 6c 6c 6f  "Hello"`,
	)
}

// TestTraceLengthsAndClose: the 16- and 64-bit lengths, a preview cut short,
// the close handshake, and a rejected frame.
func TestTraceLengthsAndClose(t *testing.T) {
	trace := traceOf(t, frames(binaryMsg(make([]byte, 300)), text(strings.Repeat("é", 40000)), closeFrame(1000, "bye")))
	wantLines(t, trace,
		"|1|0|0|0|0 0 1 0|1|1 1 1 1 1 1 0|", "Extended payload length (16 bits): 300",
		"unmasked (3.4.2):     00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ...",
		"|1|0|0|0|0 0 0 1|1|1 1 1 1 1 1 1|", "Extended payload length (64 bits): 80000",
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

// TestTraceHandshake: article 3.3's request, the accept computation spelled
// out (the SHA-1 computed independently of the server), and the 101.
func TestTraceHandshake(t *testing.T) {
	var trace bytes.Buffer
	tr := newTracer(&trace, "test")
	if _, err := handshakeOf(bufio.NewReader(strings.NewReader(articleRequest)), io.Discard, handshakeRules{maxHeaderBytes: defaultMaxHeaderBytes}, tr); err != nil {
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
	trace := traceOf(t, frames(binaryMsg(bytes.Repeat([]byte{7}, 600000)))) // more than one streamPiece
	wantLines(t, trace,
		"<- frame from the client:", "Extended payload length (64 bits): 600000",
		"unmasked (3.4.2):     07 07 07",
		"-> frame to the client, streamed (header and the first ", " of 600000 payload bytes",
		"Payload Data, 600000 bytes: 07 07 07",
	)
}
