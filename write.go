package main

// write.go is the one way a frame reaches the client. Three parties write
// to a connection: its reader goroutine (echoes, pongs, its Close), the
// keepalive (pings, from inside a read) and the shutdown (Close 1001, from
// another goroutine). Frames must not interleave on the wire, and nothing
// may follow a Close (RFC 6455 §5.5.1), so every frame goes through
// writeLocked, under the one lock: writeFrame takes it for the frame, and
// the shutdown's goAway holds it already. A frame is one write, header and
// payload together, but for three cases: a streamed echo (stream.go) is
// written piece by piece as it arrives; with a write timeout, a frame over
// maxWriteChunk goes in pieces, before each of which the deadline is
// renewed once it is a quarter stale (arm), so that a slow reader is not
// cut off mid-frame; and echoes held back (batch.go) go out in the same write
// as the frame after them when both fit the batch buffer, else in two.

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// frameWriter is a connection's sending side, guarded by mu.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer // the TCP connection (a buffer in tests)
	nc net.Conn  // the same, for write deadlines (nil in tests)

	timeout  time.Duration // -write-timeout: a write that makes no progress this long fails; 0: none
	deadline time.Time     // the write deadline in force

	closeSent bool // a Close went out: no frame may follow it (§5.5.1)
	midFrame  bool // a streamed echo's frame is half-written (stream.go): no other frame may cut in
	inMessage bool // a message is being received: the shutdown's Close waits for its echo
	goingAway bool // the server is shutting down: Close 1001 after the current message

	sentCode   closeCode // the code of our Close, for the log line
	sentReason string    // and its reason

	held *[]byte // echoes held back to leave with the next write (batch.go); nil: none

	haltBy atomic.Int64 // the budget evicted the connection: no write may last past this (halt; Unix nanoseconds, 0: not halted)
}

// errCloseSent reports a write refused because a Close frame already went out.
var errCloseSent = errors.New("websocket: close frame already sent")

// writeFrame writes p: a whole frame, header and payload side by side in
// one write, or, for a streamed echo (stream.go), a piece of one: cont says
// p continues a frame already begun, more that the frame goes on after p.
func (c *wsConn) writeFrame(p []byte, cont, more bool) error {
	c.out.mu.Lock() // no defer: this is the echo's hot path
	err := c.writeLocked(p, cont, more)
	c.out.mu.Unlock()
	return err
}

// writeLocked is writeFrame with the lock held. The rules it keeps:
//   - after a Close, nothing (errCloseSent);
//   - while a streamed echo's frame is half-written, no other frame: a
//     keepalive ping is skipped, and a Close waits for the echo's end;
//   - the end of a message's echo ends the message, and at shutdown
//     (goingAway) the Close 1001 the message held back follows it.
func (c *wsConn) writeLocked(p []byte, cont, more bool) error {
	o := &c.out
	op := opcodeOf(p) // frame.go: meaningful for a frame's start only
	endsMessage := !more && (cont || op == opText || op == opBinary)
	if endsMessage {
		o.inMessage = false
	}
	switch {
	case o.closeSent:
		return errCloseSent
	case o.midFrame && !cont:
		return nil
	}
	var err error
	if o.held != nil && len(*o.held) > 0 { // echoes held back (batch.go) go first, in the same write if they fit
		first, then := o.takeHeld(p)
		if err = o.write(first); err == nil && then != nil {
			err = o.write(then)
		}
		o.sentHeld()
	} else {
		err = o.write(p)
	}
	if !cont {
		c.trace.frameOut(p)
	}
	o.midFrame = more
	if op == opClose && !cont {
		o.closeSent = true
		if len(p) >= 4 {
			o.sentCode, o.sentReason = closeCode(binary.BigEndian.Uint16(p[2:])), string(p[4:])
		}
	}
	if err == nil && endsMessage && o.goingAway {
		return c.writeLocked(goingAwayFrame, false, false)
	}
	return err
}

// goingAwayFrame is the server's Close at shutdown, laid out once.
var goingAwayFrame = putClose(new([2 + 125]byte), errGoingAway.code, errGoingAway.reason)

// messageBegins notes that a message is being received, so that the
// shutdown's Close waits for its echo.
func (c *wsConn) messageBegins() {
	c.out.mu.Lock()
	c.out.inMessage = true
	c.out.mu.Unlock()
}

// maxWriteChunk is the most written under one write deadline: with a
// write timeout, a larger frame goes out in pieces, before each of which
// the deadline is renewed once it is a quarter stale (arm), so that a slow
// reader is told apart from one that does not read at all.
const maxWriteChunk = 1 << 20

// write writes p to the connection under the write deadline. A write the
// budget's eviction cut short (halt) fails with errBudget, the reason the
// connection ends.
func (o *frameWriter) write(p []byte) (err error) {
	if o.nc == nil || o.timeout == 0 {
		_, err = o.w.Write(p)
	} else {
		for len(p) > 0 && err == nil {
			o.arm()
			n := min(len(p), maxWriteChunk)
			_, err = o.w.Write(p[:n])
			p = p[n:]
		}
	}
	if err != nil && o.haltBy.Load() != 0 {
		return errBudget
	}
	return err
}

// arm gives the next write a deadline of the write timeout from now,
// refreshed lazily, only once it is a quarter stale, so that most writes
// cost no timer update. At shutdown the deadline stays the shutdown's;
// once halted, never later than halt's (setDeadline).
func (o *frameWriter) arm() {
	now := time.Now()
	if !o.goingAway && o.deadline.Sub(now) < o.timeout*3/4 {
		o.setDeadline(now.Add(o.timeout))
	}
}

// halt gives every write, the one blocked now included, haltGrace at
// most: the budget has evicted the connection (budget.go:evict), and what
// it holds must go back though its client does not read. It runs outside
// the write lock, which a blocked write holds; haltBy is set before the
// deadline, so setDeadline, reading it after setting its own, cannot undo it.
func (o *frameWriter) halt() {
	by := time.Now().Add(haltGrace)
	o.haltBy.Store(by.UnixNano())
	if o.nc != nil {
		o.nc.SetWriteDeadline(by)
	}
}

// haltGrace is how long an evicted connection may still write: its Close
// 1013 reaches a client that reads at once, and a client that does not
// read is cut off after it, not after -write-timeout.
const haltGrace = time.Second

// setDeadline sets the write deadline to at, or to halt's if the
// connection was evicted and that comes first. haltBy is read after the
// deadline is set, and halt sets haltBy before its own deadline, so a halt
// running meanwhile cannot be undone.
func (o *frameWriter) setDeadline(at time.Time) {
	o.deadline = at
	if o.nc != nil {
		o.nc.SetWriteDeadline(at)
	}
	if by := o.haltBy.Load(); by != 0 && (at.IsZero() || at.UnixNano() > by) {
		o.deadline = time.Unix(0, by)
		if o.nc != nil {
			o.nc.SetWriteDeadline(o.deadline)
		}
	}
}
