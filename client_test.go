package main

// client_test.go: the tests' WebSocket client, on internal/wstest, which
// is written from RFC 6455 independently of the server's code paths, so
// that a bug in the server's decoder is not mirrored by the client that
// checks it; here under the names the tests use, with the server they
// talk to (startServer).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"wsecho/internal/wstest"
)

// testFrame is a frame as the tests build and read them (wstest.Frame).
type testFrame struct {
	fin     bool
	rsv     byte // RSV1..3 as the three bits 0x40, 0x20, 0x10
	opcode  byte
	payload []byte
	noMask  bool   // send it unmasked (a protocol error from a client)
	lenForm int    // force the length encoding: 7, 16 or 64 bits (0: the shortest)
	declare uint64 // announce this length instead of len(payload) (if non-zero)
}

// testKey is the masking key the test client uses: the one in RFC 6455 §5.7.
var testKey = wstest.Key

// encode lays out a client frame, masked with testKey unless noMask.
func (f testFrame) encode() []byte {
	return wstest.Frame{Fin: f.fin, RSV: f.rsv, Opcode: f.opcode, Payload: f.payload,
		NoMask: f.noMask, LenForm: f.lenForm, Declare: f.declare}.Append(nil, testKey)
}

// text, binary, ping, closeFrame: the common single frames.
func text(s string) testFrame      { return testFrame{fin: true, opcode: 0x1, payload: []byte(s)} }
func binaryMsg(p []byte) testFrame { return testFrame{fin: true, opcode: 0x2, payload: p} }
func ping(p string) testFrame      { return testFrame{fin: true, opcode: 0x9, payload: []byte(p)} }
func frag(op byte, s string, fin bool) testFrame {
	return testFrame{fin: fin, opcode: op, payload: []byte(s)}
}

// fragments cuts msg into a message of op in frames of piece bytes (the
// last may be shorter): op first, continuations after, FIN on the last.
func fragments(op byte, msg string, piece int) []testFrame {
	var fs []testFrame
	for off := 0; off < len(msg); off += piece {
		if off > 0 {
			op = 0
		}
		fs = append(fs, frag(op, msg[off:min(off+piece, len(msg))], off+piece >= len(msg)))
	}
	return fs
}

// closeFrame is a Close with a code and reason; code 0 makes it empty.
func closeFrame(code uint16, reason string) testFrame {
	f := testFrame{fin: true, opcode: 0x8}
	if code != 0 {
		f.payload = binary.BigEndian.AppendUint16(nil, code)
		f.payload = append(f.payload, reason...)
	}
	return f
}

// frames concatenates encoded frames.
func frames(fs ...testFrame) []byte {
	var b []byte
	for _, f := range fs {
		b = append(b, f.encode()...)
	}
	return b
}

// readServerFrame reads one frame the server sent and checks what RFC 6455
// asks of every server frame (wstest.ReadHeader: unmasked, RSV 0, shortest
// length encoding, control payload at most 125 bytes), that it is
// unfragmented, as this server never fragments, that its text is UTF-8
// (§8.1; a compressed one is checked by whoever inflates it), and that a
// Close carries no payload or a code valid on the wire (§5.5.1, §7.4).
func readServerFrame(r io.Reader) (testFrame, error) { return readServerFrameExt(r, false) }

// readServerFrameExt is readServerFrame for a connection where an extension
// (permessage-deflate) may set RSV1, on a data frame only (RFC 7692 §6).
func readServerFrameExt(r io.Reader, rsv1 bool) (testFrame, error) {
	f, err := wstest.ReadFrame(r, rsv1)
	if err != nil {
		return testFrame{}, err
	}
	switch {
	case !f.Fin || f.Opcode == 0:
		return testFrame{}, fmt.Errorf("server frame %#x, FIN %v: this server never fragments", f.Opcode, f.Fin)
	case f.Opcode == 1 && f.RSV == 0 && !utf8.Valid(f.Payload):
		return testFrame{}, fmt.Errorf("server text frame is not UTF-8: % x", f.Payload[:min(len(f.Payload), 32)])
	case f.Opcode == 8 && len(f.Payload) == 1:
		return testFrame{}, errors.New("server Close with a 1-byte payload")
	case f.Opcode == 8 && len(f.Payload) >= 2 && !closeCode(binary.BigEndian.Uint16(f.Payload)).validOnWire():
		return testFrame{}, fmt.Errorf("server Close with code %d, not valid on the wire", binary.BigEndian.Uint16(f.Payload))
	}
	return testFrame{fin: f.Fin, rsv: f.RSV, opcode: f.Opcode, payload: f.Payload}, nil
}

// parseServerFrames reads every frame in out, failing the test on a frame
// that breaks readServerFrame's rules, or one after the server's Close.
func parseServerFrames(t testing.TB, out []byte) []testFrame {
	t.Helper()
	r := bytes.NewReader(out)
	var fs []testFrame
	for r.Len() > 0 {
		f, err := readServerFrame(r)
		if err != nil {
			t.Fatalf("server output frame %d: %v (output % x)", len(fs), err, out[:min(len(out), 64)])
		}
		if len(fs) > 0 && fs[len(fs)-1].opcode == 8 {
			t.Fatalf("server output frame %d follows its Close (§5.5.1)", len(fs))
		}
		fs = append(fs, f)
	}
	return fs
}

// closeCodeOf is the code in a Close frame's payload (0 for an empty one).
func closeCodeOf(f testFrame) uint16 {
	if len(f.payload) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(f.payload)
}

// startServer runs a server on a loopback port for the test's duration.
func startServer(t testing.TB, mod func(*config)) (addr string, srv *server) {
	t.Helper()
	return startServerLog(t, mod, nil)
}

// startServerLog is startServer with the server's log written to logTo.
func startServerLog(t testing.TB, mod func(*config), logTo io.Writer) (addr string, srv *server) {
	t.Helper()
	return startServerTrace(t, mod, logTo, nil)
}

// startServerTrace is startServerLog with -trace's output going to traceTo
// (if not nil), set before the server starts.
func startServerTrace(t testing.TB, mod func(*config), logTo, traceTo io.Writer) (addr string, srv *server) {
	t.Helper()
	// The defaults a user gets, on a loopback port, with a shorter wait
	// for handshakes and shutdowns and room for the tests' many clients.
	cfg, err := parseFlags([]string{"-addr", "127.0.0.1:0", "-handshake-timeout", "5s", "-shutdown-timeout", "2s",
		"-max-conns", "10000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	ln, err := listen(cfg.addr, cfg.handshakeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if logTo != nil {
		log = slog.New(slog.NewTextHandler(logTo, nil))
	} else if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	srv = newServer(cfg, log)
	if traceTo != nil {
		srv.traceOut = traceTo
	}
	done := make(chan struct{})
	go func() { srv.serve(ln); close(done) }()
	t.Cleanup(func() {
		if !srv.isClosing() {
			srv.shutdown()
		}
		<-done
	})
	return ln.Addr().String(), srv
}

// testWriter sends the server's log to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// testClient is one client connection after a successful handshake.
type testClient struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	header http.Header // the 101's header fields
}

// upgradeRequestText is a handshake request as a browser sends it, for "/".
func upgradeRequestText(host, key string, extra ...string) string {
	return upgradeRequestPath(host, "/", key, extra...)
}

// upgradeRequestPath is a handshake request for path.
func upgradeRequestPath(host, path, key string, extra ...string) string {
	return wstest.Upgrade{Host: host, Path: path, Key: key, Extra: extra}.Request()
}

// dial connects to our server as a page from disk would (Origin: null) and
// completes the opening handshake.
func dial(t testing.TB, addr string) *testClient {
	t.Helper()
	c, err := dialWS(addr, "/", "Origin: null\r\n")
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	c.nc.SetDeadline(time.Now().Add(30 * time.Second)) // a test never hangs on a silent server
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// dialWS connects to any WebSocket server and checks its 101 and its
// Sec-WebSocket-Accept, computed by wstest from RFC 6455 §1.3 and not by
// the server's acceptKey.
func dialWS(addr, path string, extra ...string) (*testClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := wstest.Dial(ctx, addr, wstest.Upgrade{Path: path, Key: wstest.SampleKey, Extra: extra})
	if err != nil {
		return nil, err
	}
	return &testClient{nc: c.NC, br: c.BR, header: c.Header}, nil
}

// send writes frames to the server.
func (c *testClient) send(fs ...testFrame) {
	c.t.Helper()
	if _, err := c.nc.Write(frames(fs...)); err != nil {
		c.t.Fatal(err)
	}
}

// read reads the server's next frame.
func (c *testClient) read() testFrame {
	c.t.Helper()
	f, err := readServerFrame(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	return f
}

// expectClose reads the server's Close with code (0: empty), answers it as
// a client must, and checks that the server then closes the TCP connection.
func (c *testClient) expectClose(code uint16) {
	c.t.Helper()
	c.expectCloseReply(code)
	c.send(closeFrame(code, ""))
	c.expectEOF()
}

// expectCloseReply reads a Close frame with code (0: empty): the server's
// answer to the client's Close, or the start of its own.
func (c *testClient) expectCloseReply(code uint16) {
	c.t.Helper()
	f := c.read()
	if f.opcode != 0x8 || closeCodeOf(f) != code || len(f.payload) == 1 {
		c.t.Fatalf("got opcode %#x payload %q, want Close %d", f.opcode, f.payload, code)
	}
}

// expectEOF checks that the server has closed the connection.
func (c *testClient) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.Copy(io.Discard, c.br); err != nil || n != 0 {
		c.t.Fatalf("after close: %d more bytes, err %v; want a clean EOF", n, err)
	}
	c.nc.Close() // as a client does once the server has closed
}
