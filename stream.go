package main

// stream.go echoes large binary messages as they arrive. A message that
// fits the largest pooled buffer (64 KiB) is assembled, then echoed in one
// write; a larger single-frame binary message is echoed piece by piece:
// its length is known from its header, so the echo's header can go first,
// and each piece (64 to 256 KiB) goes out as soon as it is unmasked. The
// client's sending and the server's echoing then overlap, as in a plain TCP
// echo, and the message costs the server one 256 KiB piece buffer instead
// of its whole length. Measured with cmd/load, 1 MiB messages: 0.42x the
// plain TCP echo's MB/s assembled, 0.75x streamed in 64 KiB pieces,
// 0.92-1.0x in 256 KiB pieces (BENCH.md).
//
// Only binary: a text message must be valid UTF-8 (RFC 6455 §8.1), and
// invalid bytes found half-way would have to be answered with a Close,
// which cannot cut into a frame already begun. And only a single frame: a
// fragmented message's length is not known until its last fragment.

import (
	"io"
	"sync"
)

// streamThreshold is the payload length above which a single-frame binary
// message is streamed.
const streamThreshold = 64 << 10

// streams says whether the frame whose header was just read is echoed by
// streamBinary.
func (c *wsConn) streams() bool {
	h := &c.hdr
	return h.opcode == opBinary && h.fin && c.msgOp == 0 &&
		h.length > streamThreshold && h.length <= uint64(c.maxMessage)
}

// streamBinary echoes the current frame's payload as it arrives. While it
// runs, no other frame may be written (the echo's frame is half-written):
// a keepalive ping is skipped, and the shutdown's Close waits, as it does
// for a message being assembled.
func (c *wsConn) streamBinary() error {
	n := int(c.hdr.length)
	c.wmu.Lock()
	c.inMessage, c.streaming = true, true
	c.wmu.Unlock()

	bp := streamPool.Get().(*[]byte)
	defer streamPool.Put(bp)
	buf := *bp
	start := msgHeadroom - serverHeaderLen(n)
	putServerHeader(buf[start:], opBinary, n)
	for pos := 0; pos < n; {
		room := buf[msgHeadroom : msgHeadroom+min(n-pos, len(buf)-msgHeadroom)]
		k, err := io.ReadAtLeast(c.br, room, min(len(room), streamMinPiece))
		if k > 0 {
			chunk := room[:k]
			if c.trace != nil {
				c.trace.payloadChunk(pos, chunk, true)
			}
			pos = maskBytes(c.hdr.maskingKey, pos, chunk)
			if c.trace != nil {
				c.trace.payloadChunk(pos-k, chunk, false)
				if start < msgHeadroom {
					c.trace.frameIn(&c.hdr, nil) // as far as it has come: the echo starts now
				}
			}
			if err := c.writePiece(buf[start:msgHeadroom+k], start < msgHeadroom); err != nil {
				return err // the echo's frame is cut short: the connection can only close
			}
			start = msgHeadroom // the header went out with the first piece
		}
		if err != nil {
			return noEOF(err)
		}
	}
	c.messages++
	c.bytes += int64(n)

	c.wmu.Lock()
	c.inMessage, c.streaming = false, false
	if c.goingAway {
		c.closeLocked(closeGoingAway, "server shutting down")
	}
	c.wmu.Unlock()
	return nil
}

// writePiece writes one piece of a streamed echo; first says it carries
// the frame's header (and is traced as the frame).
func (c *wsConn) writePiece(p []byte, first bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	err := c.write(p)
	if first && c.trace != nil {
		c.trace.frameOut(p)
	}
	return err
}

// streamPiece is the most of a streamed message read, unmasked and written
// at a time: fewer, larger system calls, as io.Copy's.
const streamPiece = 256 << 10

// streamMinPiece is the least a piece waits for before it is echoed (or
// the rest of the frame, if less). Without it, a frame arriving in small
// TCP segments was echoed a write per read: 1 MiB sent in 64-byte chops
// took about 7,000 writes and TCP segments back; now 17, and the whole
// exchange 95 ms instead of 150 (Python client, loopback). A client must
// send the rest of a frame it began, so waiting for it cannot stall one
// that behaves; one that stalls meets the idle timeout, as anywhere.
const streamMinPiece = 64 << 10

// streamPool holds the piece buffers of streamed echoes.
var streamPool = sync.Pool{New: func() any { b := make([]byte, msgHeadroom+streamPiece); return &b }}
