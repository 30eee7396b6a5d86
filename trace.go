package main

// trace.go is -trace: it prints what crosses the wire, laid out as the
// article lays it out, so the reader can see 3.3 and 3.4 happen. Without
// -trace a connection has no tracer (nil), and every hook here returns at
// once on a nil tracer, so the reading path calls them without a check.
// -trace=ws and -trace=http print one kind of connection only (traceScope);
// tracedraw.go lays the bytes out.

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// tracePreview is how many payload bytes a frame's trace shows.
const tracePreview = 16

// traceScope is which connections -trace prints: every one, or only the
// WebSocket ones (-trace=ws: with push.html open, its polls and streams
// would bury the frames), or only the plain HTTP ones (-trace=http).
type traceScope uint8

const (
	traceAll  traceScope = iota // -trace alone, or -trace=true
	traceWS                     // -trace=ws
	traceHTTP                   // -trace=http
)

// traceFlag is the -trace flag: a bool flag, so that -trace alone still
// means every connection, that also takes ws or http. It sets config's
// trace (on or off) and traceOnly (which connections).
type traceFlag struct {
	on   *bool
	only *traceScope
}

// IsBoolFlag lets -trace stand alone, as it did when it was a bool.
func (f traceFlag) IsBoolFlag() bool { return true }

// String is the value as -trace takes it; the flag package also calls it
// on a zero traceFlag, which is off.
func (f traceFlag) String() string {
	switch {
	case f.on == nil || !*f.on:
		return "false"
	case *f.only == traceWS:
		return "ws"
	case *f.only == traceHTTP:
		return "http"
	}
	return "true"
}

// Set reads ws, http, or a bool as strconv.ParseBool reads it (true, false, t, f...).
func (f traceFlag) Set(s string) error {
	switch s {
	case "ws":
		*f.on, *f.only = true, traceWS
	case "http":
		*f.on, *f.only = true, traceHTTP
	default:
		on, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true, false, ws (WebSocket connections only) or http (plain HTTP only)")
		}
		*f.on, *f.only = on, traceAll
	}
	return nil
}

// lockedWriter lets every connection's tracer share stderr, a block at a time.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p whole before another tracer's block.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tracer watches one connection's handshake and frames, for -trace (it
// prints them) and for the page's inspector (inspect.go; it reports them).
type tracer struct {
	mu     sync.Mutex   // the reader and a writer (a ping, the shutdown's Close) may trace at once
	out    io.Writer    // -trace: where the text goes, shared by all connections; nil: not printed
	prefix string       // "[remote] " before every block
	remote string       // the client's address, for the inspector: the connection's, or the one a trusted proxy forwarded (via)
	b      bytes.Buffer // the block being written

	// only is -trace=ws or -trace=http until the connection's first
	// request shows which kind it is (handshake); then out is kept or
	// dropped, and only is traceAll.
	only traceScope

	insp  *inspection // the page's inspector for this connection; nil: none
	drawn bool        // the diagram's boxes were printed for this connection

	unmasked [inspectPreview]byte // the first payload bytes of the frame being read, unmasked
	seen     int                  // how many of them were captured
}

// newTracer traces the connection from remote to out.
func newTracer(out io.Writer, remote string) *tracer {
	return &tracer{out: out, prefix: "[" + remote + "] ", remote: remote}
}

// via says that the connection from proxy is a trusted proxy's, for the
// client at address client (proxy.go).
func (t *tracer) via(client, proxy string) {
	if t != nil {
		t.prefix = "[" + client + " via " + proxy + "] "
		t.remote = client
	}
}

// tracerFor is a new connection's tracer: one writing to stderr with
// -trace, nil without (its hooks then do nothing). With -trace=ws or
// -trace=http every connection gets one all the same: which kind a
// connection is, only its first request tells (handshake).
func (s *server) tracerFor(remote string) *tracer {
	if !s.cfg.trace {
		return nil
	}
	t := newTracer(s.traceOut, remote)
	t.only = s.cfg.traceOnly
	return t
}

// flush writes the block with the connection's prefix on its first line.
func (t *tracer) flush() {
	t.out.Write(append([]byte(t.prefix), t.b.Bytes()...))
	t.b.Reset()
}

// handshake prints the request as received, the accept computation of
// article 3.3.3 step by step, and the response as sent.
func (t *tracer) handshake(req *request, response []byte) {
	if t == nil {
		return
	}
	if t.insp != nil && req != nil {
		t.insp.handshakeEvent(req, response, t.remote)
	}
	if t.only != traceAll && req != nil {
		// The first request decides for the connection's whole life: one
		// that upgrades never carries plain HTTP again, and answerPlain
		// (page.go) ends a plain one whose later request is an upgrade.
		if (t.only == traceWS) != req.isWebSocket() {
			t.out = nil
		}
		t.only = traceAll
	}
	if t.out == nil || req == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	what, answer := "upgrade request as received (%d bytes), article 3.3.1:\n", "  response as sent, article 3.3.2:\n"
	if !req.isWebSocket() {
		what, answer = "HTTP request as received (%d bytes), "+plainSection(requestPath(req.target))+":\n", "  response as sent:\n"
	}
	fmt.Fprintf(&t.b, what, len(req.head))
	quoteLines(&t.b, req.head)
	if req != nil && req.keys == 1 && bytes.HasPrefix(response, []byte("HTTP/1.1 101")) {
		sum := sha1.Sum([]byte(req.key + websocketGUID))
		fmt.Fprintf(&t.b, "  Sec-WebSocket-Accept, article 3.3.3:\n")
		fmt.Fprintf(&t.b, "    key + GUID  = %q + %q\n", req.key, websocketGUID)
		fmt.Fprintf(&t.b, "    SHA-1 (hex) = %x\n", sum)
		fmt.Fprintf(&t.b, "    base64      = %s\n", base64.StdEncoding.EncodeToString(sum[:]))
	}
	if req.extensions != "" && bytes.HasPrefix(response, []byte("HTTP/1.1 101")) {
		agreed := "none: the 101 names no extension, so frames go uncompressed (RFC 6455 §9.1)"
		if _, v, ok := bytes.Cut(response, []byte("Sec-WebSocket-Extensions: ")); ok {
			v, _, _ = bytes.Cut(v, []byte("\r\n"))
			agreed = string(v) + " (RFC 7692; RSV1=1 marks a compressed message)"
		}
		fmt.Fprintf(&t.b, "  extensions offered: %s\n  extensions agreed:  %s\n", req.extensions, agreed)
	}
	if len(response) > 0 {
		fmt.Fprint(&t.b, answer)
		head, _, _ := bytes.Cut(response, []byte("\r\n\r\n"))
		quoteLines(&t.b, append(head, "\r\n\r\n"...))
	}
	t.flush()
}

// plainSection names what a plain HTTP path is, by the article's sections.
func plainSection(path string) string {
	switch path {
	case "/clock":
		return "article 2.1, polling"
	case "/clock/long":
		return "article 2.2, long polling"
	case "/clock/iframe":
		return "article 2.3, an iframe stream"
	case "/clock/events":
		return "article 2.4, EventSource"
	case "/inspect":
		return "the page's inspector, an EventSource as in article 2.4 (inspect.go)"
	case "/", "/index.html":
		return "the page, article 3.2.2's client"
	case "/push.html":
		return "the page of the article's section 2"
	}
	return "plain HTTP"
}

// pushed prints what a plain response sends after its head: an event of
// an event stream, a chunk of the iframe stream, a long poll's answer.
func (t *tracer) pushed(what string, p []byte) {
	if t == nil || t.out == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.b, "-> %s, as sent (%d bytes):\n", what, len(p))
	quoteLines(&t.b, p)
	t.flush()
}

// payload records the first bytes of the payload of the frame being read,
// after unmasking; pos is chunk's offset in the payload. The bytes as
// received are worked out again from the key when the frame is printed.
func (t *tracer) payload(pos int, chunk []byte) {
	if t == nil || pos >= len(t.unmasked) {
		return
	}
	t.seen = pos + copy(t.unmasked[pos:], chunk)
}

// badHeader prints a frame header the rules refused (a *closeError); the
// end of the stream between frames, or a read that failed, is not a frame.
func (t *tracer) badHeader(h *frameHeader, err error) {
	if t == nil {
		return
	}
	if _, ok := errors.AsType[*closeError](err); ok {
		t.frameIn(h, err)
	}
}

// frameIn prints a frame the client sent, after its payload (or as much
// of it as arrived), and readies the preview for the next frame.
func (t *tracer) frameIn(h *frameHeader, err error) {
	if t != nil { // small enough to inline: off, a hook costs one comparison
		t.printFrameIn(h, err)
	}
}

// captured is how many of h's payload bytes the tracer holds: t.seen, or
// the frame's length if that is less. The length is compared as it came: a
// refused header may announce one that no int holds.
func (t *tracer) captured(h *frameHeader) int {
	if h.length < uint64(t.seen) {
		return int(h.length)
	}
	return t.seen
}

// printFrameIn is frameIn's work.
func (t *tracer) printFrameIn(h *frameHeader, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { t.seen = 0 }()
	if t.insp != nil {
		t.insp.frameIn(h, t.unmasked[:t.captured(h)])
	}
	if t.out == nil {
		return
	}
	hdr := clientHeaderBytes(h)
	fmt.Fprintf(&t.b, "<- frame from the client, %d header bytes: % x\n", len(hdr), hdr)
	t.diagram(h)
	// Where the article's app2.js finds each field: it assumes a 7-bit length,
	// so its buffers.slice(2, 6) is the key only then.
	ext := len(hdr) - 6
	fmt.Fprintf(&t.b, "    in the article's code: buffers[0] = %02x (FIN, RSV, opcode), buffers[1] = %02x (MASK, Payload len)", hdr[0], hdr[1])
	if ext > 0 {
		fmt.Fprintf(&t.b, ", buffers.slice(2, %d) = %d-bit length", 2+ext, 8*ext)
	}
	fmt.Fprintf(&t.b, "\n")
	if h.mask {
		n := min(t.captured(h), tracePreview)
		unmasked := t.unmasked[:n]
		var masked [tracePreview]byte
		copy(masked[:], unmasked)
		maskBytesSimple(h.maskingKey, 0, masked[:n]) // masking again gives the bytes as they came
		where := fmt.Sprintf("buffers.slice(%d, %d)", 2+ext, 6+ext)
		if ext > 0 {
			where += ", not the article's buffers.slice(2, 6), which holds the length here"
		}
		fmt.Fprintf(&t.b, "    Masking-key: % x = %s\n", h.maskingKey, where)
		fmt.Fprintf(&t.b, "    Payload Data, %d bytes = buffers.slice(%d):\n", h.length, 6+ext)
		fmt.Fprintf(&t.b, "      as received (masked): %s\n", hexPreview(masked[:n], h.length))
		fmt.Fprintf(&t.b, "      unmasked (3.4.2):     %s\n", previewBytes(unmasked, h.length, h.opcode))
	}
	if err != nil {
		fmt.Fprintf(&t.b, "    rejected: %v\n", err)
	}
	t.flush()
}

// clientHeaderBytes lays out a client frame's header again as it came: the
// length in the form the client chose, then the key.
func clientHeaderBytes(h *frameHeader) []byte {
	return appendClientHeader(make([]byte, 0, maxFrameHeaderLen), h)
}

// appendClientHeader is clientHeaderBytes appended to hdr, which the
// inspector keeps on its stack (inspectevents.go:frameIn).
func appendClientHeader(hdr []byte, h *frameHeader) []byte {
	b0, b1 := byte(h.opcode), h.payloadLen
	for i, bit := range []bool{h.fin, h.rsv1, h.rsv2, h.rsv3} {
		if bit {
			b0 |= 0x80 >> i
		}
	}
	if h.mask {
		b1 |= 0x80
	}
	hdr = append(hdr, b0, b1)
	switch h.payloadLen {
	case 126:
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(h.length))
	case 127:
		hdr = binary.BigEndian.AppendUint64(hdr, h.length)
	}
	if h.mask {
		hdr = append(hdr, h.maskingKey[:]...)
	}
	return hdr
}

// frameOut prints a frame the server sends, decoded from its bytes: the
// whole frame, or for a streamed echo (stream.go) its header and first piece.
func (t *tracer) frameOut(frame []byte) {
	if t != nil {
		t.printFrameOut(frame)
	}
}

// printFrameOut is frameOut's work.
func (t *tracer) printFrameOut(frame []byte) {
	if t.insp != nil {
		t.insp.frameOut(frame)
	}
	if t.out == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var h frameHeader
	hl, _ := decodeFrameHeader(frame, &h) // frame.go
	n := h.length
	if piece := uint64(len(frame) - hl); piece < n {
		fmt.Fprintf(&t.b, "-> frame to the client, streamed (header and the first %d of %d payload bytes; the rest follows as it arrives), header: % x\n", piece, n, frame[:hl])
	} else if len(frame) <= maxWriteChunk {
		fmt.Fprintf(&t.b, "-> frame to the client (%d header bytes + %d payload bytes, in one write), header: % x\n", hl, n, frame[:hl])
	} else { // write.go: with a write timeout, it goes in pieces
		fmt.Fprintf(&t.b, "-> frame to the client (%d header bytes + %d payload bytes), header: % x\n", hl, n, frame[:hl])
	}
	t.diagram(&h)
	fmt.Fprintf(&t.b, "    Masking-key: none (a server never masks, RFC 6455 §5.1)\n")
	fmt.Fprintf(&t.b, "    Payload Data, %d bytes: %s\n", n, previewBytes(frame[hl:min(len(frame), hl+tracePreview)], n, h.opcode))
	t.flush()
}

// inflated prints what a compressed message (RSV1=1, deflate.go) inflated
// to: the frames above showed its bytes as received, compressed.
func (t *tracer) inflated(compressed int, msg []byte) {
	if t == nil {
		return
	}
	if t.insp != nil {
		t.insp.inflatedEvent(compressed, msg)
	}
	if t.out == nil {
		return
	}
	n := min(len(msg), tracePreview)
	// opContinuation: the message may be text or binary, and this hook is
	// not told which, so its bytes are shown as text only if they read as text.
	t.note("   permessage-deflate (RSV1=1): %d compressed bytes + 00 00 ff ff put back (RFC 7692 §7.2.2) inflate to %d bytes: %s",
		compressed, len(msg), previewBytes(msg[:n], uint64(len(msg)), opContinuation))
}

// deflated says that the echo below is the message compressed.
func (t *tracer) deflated(plain, compressed int) {
	if t == nil || t.out == nil {
		return // before note's arguments are boxed: off, it costs nothing
	}
	t.note("   permessage-deflate: the echo's %d bytes compressed to %d (00 00 ff ff cut off, RFC 7692 §7.2.1), RSV1=1", plain, compressed)
}

// echoedAsReceived says that the echo below carries the compressed bytes
// as they came (deflate.go: newDeflater says why that is allowed).
func (t *tracer) echoedAsReceived(compressed int) {
	if t == nil || t.out == nil {
		return
	}
	t.note("   permessage-deflate: the echo carries the %d compressed bytes as received, RSV1=1: the client's window for our messages holds what its own held, the same messages", compressed)
}

// note prints one line about the connection: the close handshake, say.
func (t *tracer) note(format string, args ...any) {
	if t == nil || t.out == nil || t.only == traceWS {
		return // -trace=ws, and no request yet: nothing says this is a WebSocket
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(&t.b, format+"\n", args...)
	t.flush()
}

// failing notes that the server closes the connection with e's code.
func (t *tracer) failing(e *closeError) {
	what := "failing the connection (RFC 6455 §7.1.7)"
	if e.code == closeGoingAway {
		what = "going away (RFC 6455 §7.4.1)"
	}
	t.note("%s: Close %d (%s) %q, then TCP close", what, e.code, e.code, e.reason)
}

// closed reports how the connection ended to the inspector (the log line
// says it for -trace).
func (t *tracer) closed(code closeCode, reason, by string) {
	if t != nil && t.insp != nil {
		t.insp.closeEvent(code, reason, by)
	}
}
