package main

// stream.go echoes large binary messages as they arrive. It buys speed and
// memory on large messages: the client's sending and the server's echoing
// overlap, as in a plain TCP echo, and a message of any size costs one
// piece buffer instead of its whole length (BENCH.md has the figures). The
// plain code it stands in for is the assembling path of conn.go:
// readPayload the whole message, then endMessage echoes it in one write.
//
// Only a single binary frame larger than streamThreshold is streamed: its
// length is known from its header, so the echo's header can go first. Not
// text: a text message must be valid UTF-8 (RFC 6455 §8.1),
// and invalid bytes found half-way would have to be answered with a Close,
// which cannot cut into a frame already begun. Not a fragmented message:
// its length is not known until its last fragment. Not a compressed one
// (deflate.go): it is inflated, and its limit checked, as a whole.

import "io"

// streamThreshold is the payload length above which a single-frame binary
// message is streamed.
const streamThreshold = 64 << 10

// streams says whether the frame whose header was just read is echoed by
// streamBinary.
func (c *wsConn) streams() bool {
	h := &c.hdr
	return h.opcode == opBinary && h.fin && !h.rsv1 && c.msgOp == 0 && !c.clock &&
		h.length > streamThreshold && h.length <= uint64(c.maxMessage)
}

// streamBinary echoes the current frame's payload as it arrives: the echo's
// header first, with its length known from the client's, then each piece
// as soon as it is unmasked. While the echo's frame is half-written no
// other frame may go out (write.go): a keepalive ping is skipped, and the
// shutdown's Close waits for the end, as it does for a message being assembled.
//
// The pieces go through the connection's message buffer (pool.go), which
// starts at the smallest class and moves up a class each time a piece
// fills it, to the largest: the server holds no more than about four times
// what the client has sent so far, and a client that keeps up gets large
// pieces, and so few system calls. If the budget cannot pay for a larger
// buffer, the echo goes on in the one it has: it is never refused half-way.
func (c *wsConn) streamBinary() error {
	n := int(c.hdr.length)
	c.messageBegins()
	if !c.readyMsgBuf() {
		return errBudget
	}
	buf := c.msg[:cap(c.msg)]
	start := msgHeadroom - serverHeaderLen(n) // the first piece carries the header
	putServerHeader(buf[start:], opBinary, n)
	echo := true
	for pos := 0; pos < n; {
		room := buf[msgHeadroom : msgHeadroom+min(n-pos, len(buf)-msgHeadroom)]
		k, err := io.ReadAtLeast(c.br, room, min(len(room), streamMinPiece))
		if k > 0 {
			chunk := room[:k]
			pos = maskBytes(c.hdr.maskingKey, pos, chunk)
			c.trace.payload(pos-k, chunk)
			first := start < msgHeadroom
			if first {
				c.trace.frameIn(&c.hdr, nil) // as far as it has come: the echo starts now
			}
			if echo {
				err := c.writeFrame(buf[start:msgHeadroom+k], !first, pos < n)
				switch {
				case err == errCloseSent: // we are closing: read the frame to its end, echo none of it
					echo = false
				case err != nil:
					return err // the echo's frame is cut short: the connection can only close
				}
			}
			start = msgHeadroom
		}
		if err != nil {
			return noEOF(err)
		}
		if k == len(room) && len(buf) < msgClasses[len(msgClasses)-1] {
			c.msg = c.msg[:0] // nothing in it to keep
			if c.takeMsgBuf(msgClasses[msgClass(len(buf))+1]) {
				buf = c.msg[:cap(c.msg)]
			}
		}
	}
	if echo {
		c.messages++
		c.bytes += int64(n)
	}
	return nil
}

// streamMinPiece is the least a piece waits for before it is echoed, or
// less when the piece buffer is smaller (it starts at the smallest class)
// or the rest of the frame is. Without it, a frame arriving in small
// TCP segments would be echoed a write per read, each costing the server
// and the client a system call and a TCP segment (BENCH.md: the 64-byte
// chops of the conformance suite's case 9.6.1). A client must send the
// rest of a frame it began, so waiting for it cannot stall one that
// behaves; one that stalls meets -message-timeout (1008, keepalive.go), or
// the idle timeout if that is off, as anywhere.
const streamMinPiece = 64 << 10
