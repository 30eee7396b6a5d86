package main

// batch.go lets the echoes of pipelined messages leave in one write. It
// buys system calls: a client that sends many small messages without
// waiting for their echoes gets one write for the echoes of the frames
// that arrived together, as many as fit in maxBatch, where the plain code
// it stands in for, writeFrame for each echo, makes a write each. An echo is held back only while the
// next frame has already arrived whole and is one the server will answer
// (a whole message, a ping, a Close, or a frame it must refuse), so that
// the held echoes always leave with that answer, before the reader can
// wait for anything.

import (
	"bufio"
	"sync"
)

// maxBatch is the most bytes of echoes held back for one write; an echo
// of more than half of it is not held at all (echo), so that a held one
// always leaves room for others.
const maxBatch = 16 << 10

// batchPool holds the buffers held-back echoes wait in.
var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatch); return &b }}

// echo writes a message's echo frame, or holds it back to leave with the
// answer to the next frame (writeLocked sends what is held first).
func (c *wsConn) echo(frame []byte) error {
	if len(frame) <= maxBatch/2 && nextFrameAnswered(c.br) {
		c.out.mu.Lock()
		held := c.holdLocked(frame)
		c.out.mu.Unlock()
		if held {
			return nil
		}
	}
	return c.writeFrame(frame, false, false)
}

// holdLocked appends a message's echo frame to the held-back echoes, if
// there is room and nothing else must follow it at once (a Close already
// sent, the shutdown's Close due after this message).
func (c *wsConn) holdLocked(frame []byte) bool {
	o := &c.out
	if o.closeSent || o.goingAway || o.midFrame {
		return false
	}
	if o.held == nil {
		o.held = batchPool.Get().(*[]byte)
	}
	if len(*o.held)+len(frame) > maxBatch {
		return false
	}
	*o.held = append(*o.held, frame...)
	o.inMessage = false
	c.trace.frameOut(frame)
	c.trace.note("   (held back: it leaves in one write with the answer to the next frame, which has already arrived; batch.go)")
	return true
}

// takeHeld returns the held-back echoes with p after them: in first alone
// if p fits in the buffer with them, or first and then.
func (o *frameWriter) takeHeld(p []byte) (first, then []byte) {
	first, then = *o.held, p
	if len(first)+len(p) <= cap(first) {
		first, then = append(first, p...), nil
	}
	return first, then
}

// sentHeld empties the held-back echoes once they are written; the buffer
// stays with the connection while it is busy.
func (o *frameWriter) sentHeld() { *o.held = (*o.held)[:0] }

// releaseHeld gives the buffer back to the pool, when the connection goes
// quiet or ends (idle.go, server.go): held only while bytes are in flight.
func (c *wsConn) releaseHeld() {
	if c.out.held == nil { // only this connection's reader sets it: no lock needed to see that it is unset
		return
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	if o := &c.out; o.held != nil && len(*o.held) == 0 {
		batchPool.Put(o.held)
		o.held = nil
	}
}

// nextFrameAnswered says whether the next frame is already in br whole and
// is one the server will write an answer to: anything with FIN set but a
// pong (a fragment that does not end its message gets no answer yet), of
// under 64 KiB (a larger one is no batch's).
func nextFrameAnswered(br *bufio.Reader) bool {
	n := br.Buffered()
	b, _ := br.Peek(min(n, maxFrameHeaderLen))
	var h frameHeader
	hl, ok := decodeFrameHeader(b, &h) // frame.go
	return ok && h.fin && h.opcode != opPong && h.length < 1<<16 && uint64(n-hl) >= h.length
}
