package main

// client_test.go: a small WebSocket client for the tests, written from
// RFC 6455 independently of the server's code paths, so that a bug in the
// server's decoder is not mirrored by the client that checks it.

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testFrame is a frame as the tests build and read them.
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
var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// encode lays out a client frame, masked with testKey unless noMask.
func (f testFrame) encode() []byte {
	var b bytes.Buffer
	b0 := f.opcode | f.rsv
	if f.fin {
		b0 |= 0x80
	}
	b.WriteByte(b0)
	maskBit := byte(0x80)
	if f.noMask {
		maskBit = 0
	}
	n := uint64(len(f.payload))
	if f.declare != 0 {
		n = f.declare
	}
	form := f.lenForm
	if form == 0 {
		switch {
		case n <= 125:
			form = 7
		case n <= 0xFFFF:
			form = 16
		default:
			form = 64
		}
	}
	switch form {
	case 7:
		b.WriteByte(maskBit | byte(n))
	case 16:
		b.WriteByte(maskBit | 126)
		binary.Write(&b, binary.BigEndian, uint16(n))
	case 64:
		b.WriteByte(maskBit | 127)
		binary.Write(&b, binary.BigEndian, n)
	}
	p := append([]byte(nil), f.payload...)
	if !f.noMask {
		b.Write(testKey[:])
		for i := range p {
			p[i] ^= testKey[i%4]
		}
	}
	b.Write(p)
	return b.Bytes()
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
// asks of every server frame: unmasked, RSV 0, unfragmented (we never
// fragment), shortest length encoding, control payload at most 125 bytes.
func readServerFrame(r io.Reader) (testFrame, error) { return readServerFrameExt(r, false) }

// readServerFrameExt is readServerFrame for a connection where an extension
// (permessage-deflate) may set RSV1, on a data frame only (RFC 7692 §6).
func readServerFrameExt(r io.Reader, rsv1 bool) (testFrame, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return testFrame{}, err
	}
	f := testFrame{fin: h[0]&0x80 != 0, rsv: h[0] & 0x70, opcode: h[0] & 0x0F}
	if h[1]&0x80 != 0 {
		return f, fmt.Errorf("server frame is masked")
	}
	if f.rsv != 0 && !(rsv1 && f.rsv == 0x40 && f.opcode < 0x8) || !f.fin {
		return f, fmt.Errorf("server frame has RSV %#x, FIN %v", f.rsv, f.fin)
	}
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
		if n < 126 {
			return f, fmt.Errorf("length %d in 16 bits: not the shortest form", n)
		}
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(e[:])
		if n <= 0xFFFF {
			return f, fmt.Errorf("length %d in 64 bits: not the shortest form", n)
		}
	}
	if f.opcode >= 0x8 && n > 125 {
		return f, fmt.Errorf("control frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(r, f.payload)
	return f, err
}

// parseServerFrames reads every frame in out, failing the test on a frame
// the server should never send.
func parseServerFrames(t testing.TB, out []byte) []testFrame {
	t.Helper()
	r := bytes.NewReader(out)
	var fs []testFrame
	for r.Len() > 0 {
		f, err := readServerFrame(r)
		if err != nil {
			t.Fatalf("server output frame %d: %v (output % x)", len(fs), err, out[:min(len(out), 64)])
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
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Connection: Upgrade\r\n" +
		"Upgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		strings.Join(extra, "") +
		"\r\n"
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
// Sec-WebSocket-Accept, computed here from RFC 6455 §1.3 and not by the
// server's acceptKey.
func dialWS(addr, path string, extra ...string) (*testClient, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	if _, err := io.WriteString(nc, upgradeRequestPath(addr, path, key, extra...)); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, err
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	want := base64.StdEncoding.EncodeToString(sum[:])
	if got := resp.Header.Get("Sec-WebSocket-Accept"); resp.StatusCode != 101 || got != want {
		nc.Close()
		return nil, fmt.Errorf("handshake: status %d, Sec-WebSocket-Accept %q (want %q)", resp.StatusCode, got, want)
	}
	nc.SetDeadline(time.Time{})
	return &testClient{nc: nc, br: br, header: resp.Header}, nil
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
