package main

// frame.go is article section 3.4: the data frame (3.4.1), the masking
// algorithm (3.4.2) and the server that echoes what it reads (3.4.3), made
// correct for every frame a client may send (RFC 6455 §5, §7).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
	"unicode/utf8"
)

// Opcodes, named as in RFC 6455 §5.2 and §11.8: the article's "opcode (4)".
const (
	opContinuation byte = 0x0 // continues a fragmented message (§5.4)
	opText         byte = 0x1 // a text message: UTF-8 (§5.6)
	opBinary       byte = 0x2 // a binary message (§5.6)
	opClose        byte = 0x8 // closing handshake (§5.5.1)
	opPing         byte = 0x9 // keepalive request, answered with a pong (§5.5.2)
	opPong         byte = 0xA // answer to a ping (§5.5.3)
)

// Close status codes, named as in the RFC 6455 §11.7 registry (meanings in §7.4.1).
const (
	closeNormalClosure           uint16 = 1000
	closeGoingAway               uint16 = 1001
	closeProtocolError           uint16 = 1002
	closeUnsupportedData         uint16 = 1003
	closeNoStatusRcvd            uint16 = 1005 // "no code in the Close frame": never sent on the wire
	closeAbnormalClosure         uint16 = 1006 // "closed without a Close frame": never sent on the wire
	closeInvalidFramePayloadData uint16 = 1007
	closePolicyViolation         uint16 = 1008
	closeMessageTooBig           uint16 = 1009
	closeMandatoryExt            uint16 = 1010
	closeInternalServerErr       uint16 = 1011
	closeTLSHandshake            uint16 = 1015 // never sent on the wire
)

// closeCodeName is the registry name of a close code, for logs.
func closeCodeName(code uint16) string {
	switch code {
	case closeNormalClosure:
		return "Normal Closure"
	case closeGoingAway:
		return "Going Away"
	case closeProtocolError:
		return "Protocol error"
	case closeUnsupportedData:
		return "Unsupported Data"
	case closeNoStatusRcvd:
		return "No Status Rcvd"
	case closeAbnormalClosure:
		return "Abnormal Closure"
	case closeInvalidFramePayloadData:
		return "Invalid frame payload data"
	case closePolicyViolation:
		return "Policy Violation"
	case closeMessageTooBig:
		return "Message Too Big"
	case closeMandatoryExt:
		return "Mandatory Ext."
	case closeInternalServerErr:
		return "Internal Server Error"
	case closeTLSHandshake:
		return "TLS handshake"
	}
	switch {
	case code >= 3000 && code <= 3999:
		return "registered by a library or framework"
	case code >= 4000 && code <= 4999:
		return "private use"
	}
	return "unknown"
}

// validCloseCode says whether a peer may send code in a Close frame
// (RFC 6455 §7.4.1, §7.4.2): 1000-1003, 1007-1011, 1012-1014 (added to the
// IANA registry since the RFC), and 3000-4999. 1004 is reserved, and 1005,
// 1006 and 1015 are for reporting only, never for the wire.
func validCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// protocolError is a reason to fail the connection (RFC 6455 §7.1.7). It
// carries the close code that goes into the Close frame the server sends.
type protocolError struct {
	code   uint16
	reason string // sent as the Close frame's reason: short, ASCII
}

// Error reads like "1002 Protocol error: client frame is not masked".
func (e *protocolError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, closeCodeName(e.code), e.reason)
}

// The ways a client can break the protocol, each with its close code.
var (
	errReservedBits      = &protocolError{closeProtocolError, "RSV bit set without a negotiated extension"}     // §5.2
	errReservedOpcode    = &protocolError{closeProtocolError, "reserved opcode"}                                // §5.2
	errNotMasked         = &protocolError{closeProtocolError, "client frame is not masked"}                     // §5.1
	errFragmentedControl = &protocolError{closeProtocolError, "control frame is fragmented"}                    // §5.5
	errControlTooLong    = &protocolError{closeProtocolError, "control frame payload over 125 bytes"}           // §5.5
	errLength64          = &protocolError{closeProtocolError, "64-bit payload length has its top bit set"}      // §5.2
	errNoMessage         = &protocolError{closeProtocolError, "continuation frame with no message to continue"} // §5.4
	errMessageOpen       = &protocolError{closeProtocolError, "new message before the previous one finished"}   // §5.4
	errCloseOneByte      = &protocolError{closeProtocolError, "close frame payload of 1 byte"}                  // §5.5.1
	errCloseCode         = &protocolError{closeProtocolError, "invalid close code"}                             // §7.4
	errInvalidUTF8       = &protocolError{closeInvalidFramePayloadData, "text is not valid UTF-8"}              // §8.1
	errCloseReasonUTF8   = &protocolError{closeInvalidFramePayloadData, "close reason is not valid UTF-8"}      // §5.5.1
	errMessageTooBig     = &protocolError{closeMessageTooBig, "message too big"}                                // §7.4.1
)

// frameHeader is the article's 3.4.1 diagram (RFC 6455 §5.2), one field per box:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
//	| Masking-key (continued)       |          Payload Data         |
//	+-------------------------------- - - - - - - - - - - - - - - - +
type frameHeader struct {
	fin        bool    // FIN: this frame ends its message
	rsv1       bool    // RSV1: 0 unless an extension says otherwise (we negotiate none)
	rsv2       bool    // RSV2: likewise
	rsv3       bool    // RSV3: likewise
	opcode     byte    // opcode: 4 bits, one of the op* constants
	mask       bool    // MASK: 1 on every frame from a client (§5.3)
	payloadLen byte    // Payload len: 7 bits; 126 means a 16-bit length follows, 127 a 64-bit one
	length     uint64  // the payload length itself, from Payload len or the extended length
	maskingKey [4]byte // Masking-key: 32 bits chosen by the client, present when MASK is 1
}

// maxFrameHeaderLen is the longest header: 2 bytes, a 64-bit length, a masking key.
const maxFrameHeaderLen = 2 + 8 + 4

// isControl says whether the opcode is a control frame's (§5.5): its top bit is set.
func isControl(opcode byte) bool { return opcode&0x8 != 0 }

// readFrameHeader reads one frame header from r into h, field by field as the
// diagram lays it out, and rejects what RFC 6455 §5.2 forbids a client to
// send. scratch must hold maxFrameHeaderLen bytes; it keeps the header
// reading free of allocations.
func readFrameHeader(r io.Reader, scratch []byte, h *frameHeader) error {
	*h = frameHeader{}
	b := scratch[:2]
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	h.fin = b[0]&0x80 != 0
	h.rsv1 = b[0]&0x40 != 0
	h.rsv2 = b[0]&0x20 != 0
	h.rsv3 = b[0]&0x10 != 0
	h.opcode = b[0] & 0x0F
	h.mask = b[1]&0x80 != 0
	h.payloadLen = b[1] & 0x7F

	// Rules that the first two bytes already decide: fail before reading more.
	switch {
	case h.rsv1 || h.rsv2 || h.rsv3:
		return errReservedBits
	case h.opcode > opBinary && h.opcode < opClose || h.opcode > opPong:
		return errReservedOpcode
	case !h.mask:
		return errNotMasked
	case isControl(h.opcode) && !h.fin:
		return errFragmentedControl
	case isControl(h.opcode) && h.payloadLen > 125:
		return errControlTooLong
	}

	switch h.payloadLen {
	case 126: // a 16-bit extended length
		b = scratch[2:4]
		if _, err := io.ReadFull(r, b); err != nil {
			return noEOF(err)
		}
		h.length = uint64(binary.BigEndian.Uint16(b))
	case 127: // a 64-bit extended length, whose most significant bit MUST be 0
		b = scratch[2:10]
		if _, err := io.ReadFull(r, b); err != nil {
			return noEOF(err)
		}
		h.length = binary.BigEndian.Uint64(b)
		if h.length>>63 != 0 {
			return errLength64
		}
	default:
		h.length = uint64(h.payloadLen)
	}
	// The RFC asks senders for the shortest length encoding; a longer one from
	// a client is still unambiguous, so we accept it (be liberal in what you accept).

	if _, err := io.ReadFull(r, h.maskingKey[:]); err != nil {
		return noEOF(err)
	}
	return nil
}

// noEOF turns an end of stream inside a frame into io.ErrUnexpectedEOF: only
// between frames is an EOF a (rude) end of the conversation.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// serverHeaderLen is the length of the header of a server frame (no
// masking key) with an n-byte payload, using the shortest length encoding,
// which RFC 6455 §5.2 requires and Chromium enforces.
func serverHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// putServerHeader writes the header of an unfragmented, unmasked server frame
// (FIN=1, RSV=0, MASK=0, RFC 6455 §5.1) for opcode and an n-byte payload at
// the start of dst, which must have serverHeaderLen(n) bytes, and returns
// that length.
func putServerHeader(dst []byte, opcode byte, n int) int {
	dst[0] = 0x80 | opcode
	switch {
	case n <= 125:
		dst[1] = byte(n)
		return 2
	case n <= 0xFFFF:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(n))
		return 4
	}
	dst[1] = 127
	binary.BigEndian.PutUint64(dst[2:10], uint64(n))
	return 10
}

// maskBytesSimple is the article's 3.4.2 maskOrUnmask: b[i] ^= key[i % 4],
// with pos, the offset of b[0] in the frame's payload, so that a payload can
// be unmasked piece by piece as it arrives. It returns the offset after b.
// It is the reference that maskBytes is tested against.
func maskBytesSimple(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return pos + len(b)
}

// maskBytes does what maskBytesSimple does, eight bytes at a time: the key,
// turned to start at pos and repeated twice, is one 64-bit word, and XOR
// works on a whole word as it does on each byte. The loop does 128 bytes a
// turn, indexing a slice c whose length the compiler knows, so that each of
// the sixteen lines compiles to one XOR into memory, with no bounds check.
// Measured with BenchmarkMask at 16 KiB (BENCH.md): the byte loop 1.7 GB/s;
// 64 bytes a turn by reslicing b, 0.41x copy(); 128 bytes a turn by index,
// as here, 46 GB/s, 0.51x. copy() uses vector moves, which plain Go cannot.
func maskBytes(key [4]byte, pos int, b []byte) int {
	end := pos + len(b)
	if len(b) >= 16 {
		k := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
		k32 := uint64(binary.LittleEndian.Uint32(k[:]))
		kw := k32 | k32<<32
		i := 0
		for ; i+128 <= len(b); i += 128 {
			c := b[i : i+128 : i+128]
			binary.LittleEndian.PutUint64(c[0:], binary.LittleEndian.Uint64(c[0:])^kw)
			binary.LittleEndian.PutUint64(c[8:], binary.LittleEndian.Uint64(c[8:])^kw)
			binary.LittleEndian.PutUint64(c[16:], binary.LittleEndian.Uint64(c[16:])^kw)
			binary.LittleEndian.PutUint64(c[24:], binary.LittleEndian.Uint64(c[24:])^kw)
			binary.LittleEndian.PutUint64(c[32:], binary.LittleEndian.Uint64(c[32:])^kw)
			binary.LittleEndian.PutUint64(c[40:], binary.LittleEndian.Uint64(c[40:])^kw)
			binary.LittleEndian.PutUint64(c[48:], binary.LittleEndian.Uint64(c[48:])^kw)
			binary.LittleEndian.PutUint64(c[56:], binary.LittleEndian.Uint64(c[56:])^kw)
			binary.LittleEndian.PutUint64(c[64:], binary.LittleEndian.Uint64(c[64:])^kw)
			binary.LittleEndian.PutUint64(c[72:], binary.LittleEndian.Uint64(c[72:])^kw)
			binary.LittleEndian.PutUint64(c[80:], binary.LittleEndian.Uint64(c[80:])^kw)
			binary.LittleEndian.PutUint64(c[88:], binary.LittleEndian.Uint64(c[88:])^kw)
			binary.LittleEndian.PutUint64(c[96:], binary.LittleEndian.Uint64(c[96:])^kw)
			binary.LittleEndian.PutUint64(c[104:], binary.LittleEndian.Uint64(c[104:])^kw)
			binary.LittleEndian.PutUint64(c[112:], binary.LittleEndian.Uint64(c[112:])^kw)
			binary.LittleEndian.PutUint64(c[120:], binary.LittleEndian.Uint64(c[120:])^kw)
		}
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^kw)
		}
		b = b[i:]
		pos = end - len(b) // whole words keep the key's phase: pos&3 is unchanged
	}
	maskBytesSimple(key, pos, b)
	return end
}

// msgHeadroom is room kept in front of a message's payload for the echo's
// header, so that header and payload leave in one write without a copy.
const msgHeadroom = 10

// wsConn is one connection after the upgrade: it reads frames, assembles
// messages, answers control frames and writes the echoes.
type wsConn struct {
	br         *bufio.Reader // the handshake's reader: bytes after the request are frames
	w          io.Writer     // where frames go (the TCP connection)
	maxMessage int64         // the largest message accepted (1009 above it)

	hdr     frameHeader             // the frame being read
	scratch [maxFrameHeaderLen]byte // its header bytes
	ctrl    [2 + 125]byte           // a control frame: room for the reply's header, then the payload
	msg     []byte                  // msgHeadroom bytes, then the payload of the message being assembled
	msgBuf  *[]byte                 // the pooled buffer behind msg (buffers.go), nil if msg has none
	msgOp   byte                    // opText or opBinary while a message is open, 0 between messages
	checked int                     // how much of a text message's payload is known to be valid UTF-8

	nc       net.Conn     // the TCP connection, for deadlines (nil in tests that use a plain writer)
	kr       *connReader  // what br reads from, and where the connection waits when idle (nil in tests)
	timeouts connTimeouts // keepalive and write limits (limits.go)

	wmu           sync.Mutex // one frame at a time on the wire: a ping or the shutdown's Close may come meanwhile
	closeSent     bool       // a Close went out: no data frame may follow it (§5.5.1)
	inMessage     bool       // a message is being received: the shutdown's Close waits for its echo
	streaming     bool       // an echo's frame is half-written (stream.go): no other frame may go out
	goingAway     bool       // the server is shutting down: Close 1001 after the current message
	writeDeadline time.Time  // the write deadline in force

	messages int64 // messages echoed
	bytes    int64 // payload bytes echoed

	trace *tracer // -trace: prints every frame (nil: off, and nothing is computed)

	err error // how serve ended, for the log line

	peerCode    uint16 // the code of the client's Close, closeNoStatusRcvd if empty, 0 if none came
	peerReason  string // the reason in the client's Close
	clientFirst bool   // the client's Close came before ours
	sentCode    uint16 // the code of our Close (guarded by wmu)
	sentReason  string // the reason of our Close (guarded by wmu)
}

// newWSConn starts the frame phase on the reader that read the handshake.
func newWSConn(br *bufio.Reader, w io.Writer, maxMessage int64) *wsConn {
	return &wsConn{br: br, w: w, maxMessage: maxMessage}
}

// errCloseSent reports a write refused because a Close frame already went out.
var errCloseSent = errors.New("websocket: close frame already sent")

// writeFrame writes one whole ping or pong frame in one write, unless a
// Close has gone out before it (RFC 6455 §5.5.1).
func (c *wsConn) writeFrame(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if c.streaming {
		return nil // a keepalive ping, skipped: it cannot cut into the echo being streamed
	}
	err := c.write(frame)
	if c.trace != nil {
		c.trace.frameOut(frame)
	}
	return err
}

// writeEcho writes a message's echo and marks the message done; at shutdown
// the Close 1001 the message held back follows it.
func (c *wsConn) writeEcho(frame []byte) error {
	c.wmu.Lock() // no defer: this frame is on the hot path and on the goroutine's small stack
	c.inMessage = false
	err := errCloseSent
	if !c.closeSent {
		err = c.write(frame)
		if c.trace != nil {
			c.trace.frameOut(frame)
		}
		if err == nil && c.goingAway {
			c.closeLocked(closeGoingAway, "server shutting down")
		}
	}
	c.wmu.Unlock()
	return err
}

// writeClose sends a Close frame with code and reason (RFC 6455 §5.5.1), the
// last frame this side sends. A zero code sends an empty Close, the answer
// to an empty one.
func (c *wsConn) writeClose(code uint16, reason string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.closeLocked(code, reason)
}

// closeLocked is writeClose with wmu held. The reason is cut to fit a control frame.
func (c *wsConn) closeLocked(code uint16, reason string) error {
	if c.closeSent || c.streaming { // a Close cannot cut into a half-written frame: TCP just closes
		return errCloseSent
	}
	var f [2 + 125]byte
	n := 0
	if code != 0 {
		binary.BigEndian.PutUint16(f[2:], code)
		n = 2 + copy(f[4:], reason)
	}
	putServerHeader(f[:], opClose, n)
	c.closeSent = true
	c.sentCode, c.sentReason = code, reason
	err := c.write(f[:2+n])
	if c.trace != nil {
		c.trace.frameOut(f[:2+n])
	}
	return err
}

// closeStatus says how the connection ended, for the log line: the close
// code, its reason, and who closed ("client", "server", or "none" when TCP
// simply ended, code 1006).
func (c *wsConn) closeStatus(err error) (code uint16, reason, by string) {
	c.wmu.Lock()
	sentCode, sentReason := c.sentCode, c.sentReason
	c.wmu.Unlock()
	if pe, ok := errors.AsType[*protocolError](err); ok {
		return pe.code, pe.reason, "server"
	}
	switch {
	case err != nil:
		return closeAbnormalClosure, err.Error(), "none"
	case c.clientFirst:
		return c.peerCode, c.peerReason, "client"
	}
	return sentCode, sentReason, "server"
}

// serve runs the connection until it ends. It returns nil after a complete
// closing handshake, the *protocolError it failed the connection with (the
// Close frame with its code is already sent), or the I/O error that ended it.
func (c *wsConn) serve() error {
	err := c.readFrames()
	if pe, ok := errors.AsType[*protocolError](err); ok {
		c.trace.failing(pe)
		c.writeClose(pe.code, pe.reason) // best effort: the connection is failing anyway
	}
	return err
}

// readFrames is the server loop of article 3.4.3: read a frame, unmask it,
// and echo each complete message, until the closing handshake (nil) or an error.
func (c *wsConn) readFrames() error {
	h := &c.hdr
	for {
		if c.msgOp == 0 && c.br.Buffered() == 0 {
			if err := c.idle(); err != nil { // between messages: hold no buffer while waiting
				return err
			}
		}
		if err := readFrameHeader(c.br, c.scratch[:], h); err != nil {
			if _, ok := err.(*protocolError); ok && c.trace != nil {
				c.trace.frameIn(h, err)
			}
			return err
		}
		if isControl(h.opcode) {
			done, err := c.control()
			if done || err != nil {
				return err
			}
			continue
		}
		if c.streams() { // a large binary message: echoed as it arrives (stream.go), traced there
			if err := c.streamBinary(); err != nil {
				return err
			}
			continue
		}
		err := c.dataFrame()
		if c.trace != nil {
			c.trace.frameIn(h, err)
		}
		if err != nil {
			return err
		}
		if h.fin {
			if err := c.endMessage(); err != nil {
				return err
			}
		}
	}
}

// dataFrame reads a text, binary or continuation frame's payload into the
// message, after the rules of fragmentation (RFC 6455 §5.4): a message is a
// text or binary frame, then continuation frames until one has FIN set.
func (c *wsConn) dataFrame() error {
	h := &c.hdr
	if h.opcode == opContinuation {
		if c.msgOp == 0 {
			return errNoMessage
		}
	} else {
		if c.msgOp != 0 {
			return errMessageOpen
		}
		c.startMessage(h.opcode)
	}
	if h.length > uint64(c.maxMessage)-uint64(len(c.msg)-msgHeadroom) {
		return errMessageTooBig // before reading (or allocating for) a single byte of it
	}
	return c.readPayload(int(h.length))
}

// startMessage opens a message of type op, reusing the message buffer.
func (c *wsConn) startMessage(op byte) {
	c.wmu.Lock()
	c.inMessage = true
	c.wmu.Unlock()
	c.msgOp = op
	c.checked = 0
	if c.msg == nil {
		c.takeMsgBuf(msgClasses[0])
	}
	c.msg = c.msg[:msgHeadroom]
}

// readPayload appends the current frame's n payload bytes to the message,
// unmasking them as they arrive (article 3.4.2). It reads whatever the
// connection has, not the whole frame at once, so that a text message is
// checked as its bytes come in: invalid UTF-8 fails the connection at once
// (RFC 6455 §8.1), not when the rest of a large frame arrives. The buffer
// grows as bytes arrive, never to a length the client merely announced.
func (c *wsConn) readPayload(n int) error {
	pos := 0
	for pos < n {
		if len(c.msg) == cap(c.msg) {
			c.grow(n - pos)
		}
		start := len(c.msg)
		end := min(cap(c.msg), start+n-pos)
		k, err := c.br.Read(c.msg[start:end])
		c.msg = c.msg[:start+k]
		chunk := c.msg[start : start+k]
		if c.trace != nil {
			c.trace.payloadChunk(pos, chunk, true)
		}
		pos = maskBytes(c.hdr.maskingKey, pos, chunk)
		if c.trace != nil {
			c.trace.payloadChunk(pos-k, chunk, false)
		}
		if c.msgOp == opText && !c.checkUTF8() {
			return errInvalidUTF8
		}
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// grow makes room for more of the message, doubling the buffer (through
// the pooled classes up to 64 KiB), so that a message arriving in many small
// fragments is copied about once in all, not once a fragment. It never grows
// past what can still come: the rest of this frame if it is the message's
// last, the message limit if not. The buffer grows only when full, so it is
// never more than twice the bytes that arrived.
func (c *wsConn) grow(remaining int) {
	more := max(cap(c.msg)-msgHeadroom, msgClasses[0])
	if c.hdr.fin {
		more = min(more, remaining)
	} else {
		more = int(min(int64(more), c.maxMessage-int64(len(c.msg)-msgHeadroom)))
	}
	c.takeMsgBuf(len(c.msg) + more)
}

// checkUTF8 checks the text message's new bytes. A sequence cut off at the
// end may still be completed by the next bytes, so it is only checked for
// being a valid beginning; everything before it must be valid UTF-8.
func (c *wsConn) checkUTF8() bool {
	p := c.msg[msgHeadroom:]
	cut := len(p) - incompleteUTF8Tail(p)
	if !utf8.Valid(p[c.checked:cut]) {
		return false
	}
	c.checked = cut
	return validUTF8Prefix(p[cut:])
}

// incompleteUTF8Tail is the length of a multi-byte sequence at the end of p
// that is started but not finished (0 to 3 bytes).
func incompleteUTF8Tail(p []byte) int {
	for i := 1; i <= 3 && i <= len(p); i++ {
		b := p[len(p)-i]
		if b < 0x80 {
			return 0 // ASCII: nothing is left open
		}
		if b >= 0xC0 { // a leading byte: is its sequence longer than what follows it?
			if utf8SeqLen(b) > i {
				return i
			}
			return 0
		}
	}
	return 0
}

// utf8SeqLen is how long a sequence that starts with b is meant to be
// (1 for a byte that cannot start one, which utf8.Valid then rejects).
func utf8SeqLen(b byte) int {
	switch {
	case b >= 0xC2 && b <= 0xDF:
		return 2
	case b >= 0xE0 && b <= 0xEF:
		return 3
	case b >= 0xF0 && b <= 0xF4:
		return 4
	}
	return 1
}

// validUTF8Prefix says whether p, shorter than its sequence, can still grow
// into valid UTF-8: the second byte's range depends on the first (RFC 3629
// §4), which rules out overlong forms, surrogates and code points past
// U+10FFFF as soon as the second byte arrives.
func validUTF8Prefix(p []byte) bool {
	if len(p) < 2 {
		return true // a lone leading byte that utf8SeqLen accepted
	}
	lo, hi := byte(0x80), byte(0xBF)
	switch p[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	if p[1] < lo || p[1] > hi {
		return false
	}
	return len(p) < 3 || p[2] >= 0x80 && p[2] <= 0xBF
}

// endMessage echoes the completed message as one frame of the same type,
// then readies the buffer for the next one.
func (c *wsConn) endMessage() error {
	p := c.msg[msgHeadroom:]
	if c.msgOp == opText && c.checked != len(p) {
		return errInvalidUTF8 // the message ends inside a sequence
	}
	hl := serverHeaderLen(len(p))
	frame := c.msg[msgHeadroom-hl:]
	putServerHeader(frame, c.msgOp, len(p))
	err := c.writeEcho(frame)
	if err == nil {
		c.messages++
		c.bytes += int64(len(p))
	}
	c.msgOp = 0
	if c.msgBuf == nil {
		c.msg = nil // a buffer larger than the pooled ones is not kept after its message
	}
	if err == errCloseSent {
		return nil // we are closing: the client's Close will follow
	}
	return err
}

// control handles a ping, pong or close frame (RFC 6455 §5.5), which may
// arrive between the fragments of a message. done reports the end of the
// closing handshake.
func (c *wsConn) control() (done bool, err error) {
	n := int(c.hdr.length) // at most 125: readFrameHeader checked it
	p := c.ctrl[2 : 2+n]
	_, err = io.ReadFull(c.br, p)
	if c.trace != nil {
		c.trace.payloadChunk(0, p, true)
		maskBytes(c.hdr.maskingKey, 0, p)
		c.trace.payloadChunk(0, p, false)
		c.trace.frameIn(&c.hdr, err)
	} else {
		maskBytes(c.hdr.maskingKey, 0, p)
	}
	if err != nil {
		return false, noEOF(err)
	}
	switch c.hdr.opcode {
	case opPing: // §5.5.2: a pong with the same application data
		putServerHeader(c.ctrl[:], opPong, n)
		if err := c.writeFrame(c.ctrl[:2+n]); err != nil && err != errCloseSent {
			return false, err
		}
	case opPong: // §5.5.3: an unsolicited pong needs no answer
	case opClose:
		return true, c.closeReceived(p)
	}
	return false, nil
}

// closeReceived checks the client's Close frame and answers it (RFC 6455
// §5.5.1): with a Close echoing its code, or an empty Close for an empty one.
// If we sent our Close first, this was the reply, and the handshake is done.
func (c *wsConn) closeReceived(p []byte) error {
	code := closeNoStatusRcvd
	switch {
	case len(p) == 1:
		return errCloseOneByte
	case len(p) >= 2:
		code = binary.BigEndian.Uint16(p)
		if !validCloseCode(code) {
			return errCloseCode
		}
		if !utf8.Valid(p[2:]) {
			return errCloseReasonUTF8
		}
		c.peerReason = string(p[2:])
	}
	c.peerCode = code
	c.trace.note("<- Close from the client: %d (%s), reason %q", code, closeCodeName(code), c.peerReason)
	reply := code
	if code == closeNoStatusRcvd {
		reply = 0 // 1005 is never put on the wire: an empty Close answers an empty Close
	}
	err := c.writeClose(reply, "")
	if err == errCloseSent {
		return nil // ours went first: this Close was the reply
	}
	c.clientFirst = true
	return err
}
