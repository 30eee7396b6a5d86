package main

// conn.go is the article's 3.4.3, the server itself, made correct: after the
// handshake, read a frame, unmask it (3.4.2), and echo each complete message
// in a frame of the same type; answer pings; finish with the closing
// handshake (close.go). frame.go is the codec it reads and writes with.

import (
	"bufio"
	"io"
	"sync/atomic"
)

// wsConn is one connection after the upgrade. Its first fields are the
// article's 3.4.3 made correct: the socket's two directions, the frame
// being read (buffers[0], buffers[1], the mask) and the message it builds
// (payload, and room for its response's header); then what the log says
// of the connection. The rest, embedded, is machinery a first reading
// can skip.
type wsConn struct {
	br  *bufio.Reader // the socket's bytes after the handshake, read frame by frame: socket.on("data"); lent from a pool while bytes are in flight (idle.go)
	out frameWriter   // socket.write: every frame goes out through its one locked path (write.go)

	hdr     frameHeader // the frame being read: FIN, opcode, MASK, length, masking key (frame.go)
	msgOp   opcode      // opText or opBinary while a message is open, 0 between messages
	msg     []byte      // msgHeadroom bytes, then the payload of the message so far
	checked int         // how much of a text message is known to be valid UTF-8 (utf8.go)

	maxMessage int64     // -max-message: the largest message accepted (1009 above it)
	peer       peerClose // what the client's Close said (close.go)
	err        error     // how serve ended, for the log line
	messages   int64     // messages echoed
	bytes      int64     // payload bytes echoed

	machinery
}

// machinery is what the connection needs beyond the article: buffers lent
// only while bytes are in flight, the keepalive, the memory budget, the
// tracer, permessage-deflate, and push.html's clock. Each field names the
// file that explains it.
type machinery struct {
	kr      *connReader             // what br reads from: the keepalive (keepalive.go); nil in tests
	scratch [maxFrameHeaderLen]byte // the header's bytes as read (frame.go:readFrameHeader)
	ctrl    [2 + 125]byte           // a control frame: room for the reply's header, then the payload
	msgBuf  *[]byte                 // the pooled buffer behind msg (pool.go), nil if it has none
	zipped  bool                    // the message came compressed: RSV1 on its first frame (deflate.go)
	budget  *budget                 // the server's memory budget for message buffers (budget.go); nil: none
	held    atomic.Int64            // the bytes of it this connection holds (read by others: evictFor)
	evicted atomic.Bool             // the budget closes this connection with 1013 to make room (budget.go:evictFor)
	trace   *tracer                 // -trace (trace.go); nil when off, and its hooks then do nothing
	deflate *deflater               // permessage-deflate, if -deflate agreed it (deflate.go); nil: none (newDeflater says which methods take a nil one)
	clock   bool                    // /clock/ws: the server pushes the time and echoes nothing (clockws.go)
	counter *techCounter            // push.html's byte counts for this connection (pushstats.go); nil: none
}

// msgHeadroom is room kept in front of a message's payload for the echo's
// header, so that header and payload leave in one write without a copy:
// the longest header, a client's, so that a client's frame read whole
// has its payload in place too (direct.go).
const msgHeadroom = maxFrameHeaderLen

// The ways a message can break RFC 6455, each with its close code.
var (
	errNoMessage     = &closeError{closeProtocolError, "continuation frame with no message to continue"} // §5.4
	errMessageOpen   = &closeError{closeProtocolError, "new message before the previous one finished"}   // §5.4
	errInvalidUTF8   = &closeError{closeInvalidFramePayloadData, "text is not valid UTF-8"}              // §8.1
	errMessageTooBig = &closeError{closeMessageTooBig, "message too big"}                                // §7.4.1
)

// newWSConn starts the frame phase on the reader that read the handshake;
// frames go to w.
func newWSConn(br *bufio.Reader, w io.Writer, maxMessage int64) *wsConn {
	return &wsConn{br: br, maxMessage: maxMessage, out: frameWriter{w: w}}
}

// serve runs the connection until it ends. It returns nil after a complete
// closing handshake, the *closeError it closed the connection with (the
// Close frame with its code is already sent), or the I/O error that ended it.
func (c *wsConn) serve() error {
	defer c.deflate.end(c.budget) // deflate.go: the client's window, paid for in the handshake
	err := c.readFrames()
	c.fail(err)
	return err
}

// readFrames is the loop of article 3.4.3, socket.on("data", ...), made to
// read frames, not reads: read a header, then a control frame or a data
// frame's payload, and echo each message once it is complete (a large
// binary frame as it arrives, stream.go), until the closing handshake
// (nil) or an error. Between messages, one call does what a
// quiet connection needs (idle.go).
func (c *wsConn) readFrames() error {
	h := &c.hdr
	for {
		if c.msgOp == 0 {
			if err := c.betweenMessages(); err != nil { // idle.go: the message clock stops; wait holding no buffer
				return err
			}
		}
		if err := readFrameHeader(c.br, c.scratch[:], h, c.deflate != nil); err != nil { // frame.go: buffers[0], buffers[1], ...
			c.trace.badHeader(h, err)
			return err
		}
		var done bool
		var err error
		switch {
		case h.opcode.isControl(): // ping, pong or Close (RFC 6455 §5.5)
			done, err = c.control()
		case c.streams(): // a large binary frame, echoed as it arrives (stream.go)
			err = c.streamBinary()
		default: // text, binary or continuation: its payload into the message, echoed at the message's end
			err = c.dataFrame()
		}
		if done || err != nil {
			return err
		}
	}
}

// dataFrame reads a text, binary or continuation frame's payload into the
// message, after the rules of fragmentation (RFC 6455 §5.4): a message is a
// text or binary frame, then continuation frames until one has FIN set.
// The frame that ends the message has it echoed (endMessage).
func (c *wsConn) dataFrame() error {
	h := &c.hdr
	if h.opcode == opContinuation {
		if c.msgOp == 0 {
			return c.refuse(errNoMessage)
		}
	} else {
		if c.msgOp != 0 {
			return c.refuse(errMessageOpen)
		}
		if c.clock {
			return c.refuse(errClockOnly) // clockws.go
		}
		if err := c.startMessage(h.opcode); err != nil {
			return c.refuse(err)
		}
	}
	if h.length > uint64(c.maxMessage)-uint64(len(c.msg)-msgHeadroom) {
		return c.refuse(errMessageTooBig) // before reading more of it, or sizing anything by its announced length
	}
	err := c.readPayload(int(h.length))
	c.trace.frameIn(h, err)
	if err != nil || !h.fin {
		return err
	}
	return c.endMessage()
}

// refuse is a data frame refused before its payload is read: traced as
// such, and err returned.
func (c *wsConn) refuse(err error) error {
	c.trace.frameIn(&c.hdr, err)
	return err
}

// startMessage opens a message of type op.
func (c *wsConn) startMessage(op opcode) error {
	c.messageBegins()
	c.msgOp = op
	c.checked = 0
	c.zipped = c.hdr.rsv1
	if !c.readyMsgBuf() { // pool.go
		return errBudget
	}
	c.msg = c.msg[:msgHeadroom]
	return nil
}

// readPayload appends the current frame's n payload bytes to the message,
// unmasking them as they arrive (article 3.4.2). It takes whatever the
// connection has, not the whole frame at once, so that a text message is
// checked as its bytes come in: invalid UTF-8 fails the connection at once
// (RFC 6455 §8.1), not when the rest of a large frame arrives. The buffer
// grows as bytes arrive, never to a length the client merely announced.
func (c *wsConn) readPayload(n int) error {
	for pos := 0; pos < n; {
		if len(c.msg) == cap(c.msg) {
			if err := c.grow(n - pos); err != nil { // pool.go
				return err
			}
		}
		start := len(c.msg)
		k, err := c.br.Read(c.msg[start:min(cap(c.msg), start+n-pos)])
		c.msg = c.msg[:start+k]
		chunk := c.msg[start:]
		pos = maskBytes(c.hdr.maskingKey, pos, chunk) // maskBytesSimple, a word at a time (mask.go)
		c.trace.payload(pos-k, chunk)
		if c.msgOp == opText && !c.zipped && !c.checkUTF8() { // compressed bytes are checked once inflated
			return errInvalidUTF8
		}
		if err != nil {
			return noEOF(err)
		}
	}
	return nil
}

// endMessage echoes the completed message as one frame of the same type,
// header and payload in one write, then readies for the next message. The
// echo's header goes into the headroom kept in front of the payload: the
// article's Buffer.alloc(2 + length), response[0], response[1] and
// payload.copy(response, 2), done without allocating or copying.
func (c *wsConn) endMessage() error {
	if c.zipped { // -deflate: the payload was the message compressed (deflate.go)
		if err := c.inflate(); err != nil {
			return err
		}
		if c.msgOp == opText && !c.checkUTF8() {
			return errInvalidUTF8
		}
	}
	p := c.msg[msgHeadroom:]
	if c.msgOp == opText && c.checked != len(p) {
		return errInvalidUTF8 // the message ends inside a character
	}
	frame := c.msg[msgHeadroom-serverHeaderLen(len(p)):]
	putServerHeader(frame, c.msgOp, len(p))
	if c.deflate.deflates(c.msgOp, c.zipped, len(p)) { // -deflate: the echo goes compressed if that is shorter
		if zframe, ok := c.deflateEcho(c.msgOp, p); ok {
			frame = zframe
		}
	}
	err := c.echo(frame) // writeFrame, or held back to leave with the next answer (batch.go)
	if err == nil {
		c.messages++
		c.bytes += int64(len(p))
	}
	c.msgOp = 0
	if c.msgBuf == nil {
		c.releaseMsgBuf() // a buffer larger than the pooled ones is not kept after its message
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
	maskBytes(c.hdr.maskingKey, 0, p)
	c.trace.payload(0, p)
	c.trace.frameIn(&c.hdr, err)
	if err != nil {
		return false, noEOF(err)
	}
	switch c.hdr.opcode {
	case opPing: // §5.5.2: a pong with the same application data
		putServerHeader(c.ctrl[:], opPong, n)
		if err := c.writeFrame(c.ctrl[:2+n], false, false); err != nil && err != errCloseSent {
			return false, err
		}
	case opPong: // §5.5.3: an unsolicited pong needs no answer
	case opClose:
		return true, c.closeReceived(p) // close.go
	}
	return false, nil
}
