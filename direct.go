package main

// direct.go puts the first read after a quiet spell where the message
// will be kept. It buys a system call and a copy on messages of 4 to
// 64 KiB (BENCH.md has the figures): the read goes into a message buffer
// from the pools (pool.go), at the offset where a frame header of the
// length the last frame had ends exactly where a message's payload
// begins (msgHeadroom). When the read holds that frame's header and the
// start of its payload and nothing beyond, the header is handed to the
// bufio.Reader alone, and the buffer becomes the message's: the payload's
// first bytes are already in place, and the bufio.Reader, asked for more
// than its own size, reads the rest straight into it. The plain code it
// stands in for is the wait reading into a 4 KiB slab, from which the
// bufio.Reader copies, and a message buffer of its own filled by a
// further read: what happens here too whenever the guess is wrong.

// directRead is the buffer the wait between messages reads into (idle.go,
// idle_linux.go), and what it read.
type directRead struct {
	buf  *[]byte // a message buffer from the pools: the bytes the wait read
	pend []byte  // the part of them not yet handed to the bufio.Reader

	headLen int  // the header length expected of the next frame (expect)
	class   int  // the pool of the buffer to read it into
	whole   bool // pend is a frame's header, then its payload's start at buf[msgHeadroom]
	mine    bool // buf became the message's buffer: it is not given back here
}

// expect guesses the next frame from the last one (h): the length of its
// header (a client's, with a masking key) and how large a buffer to read
// it into. Between messages of one kind the guess is right.
func (w *directRead) expect(h *frameHeader) {
	w.headLen = 2 + extendedLen[h.payloadLen] + 4
	w.class = 0 // larger than streamThreshold: its bytes go elsewhere (stream.go) and a large read here would be one more copy
	if h.length <= streamThreshold {
		w.class = msgClass(msgHeadroom + int(h.length))
	}
}

// readBuf takes the buffer the wait reads into, and returns where in it
// to read: msgHeadroom less the guessed header length.
func (w *directRead) readBuf() []byte {
	w.buf = msgPools[w.class].Get().(*[]byte)
	return (*w.buf)[msgHeadroom-w.headLen:]
}

// arrived notes that n bytes were read into readBuf's slice, and whether
// they are one frame's header, of the guessed length, then the start of a
// payload that fits the buffer and that they do not go past, large enough
// that the bufio.Reader will pass reads of it through (readBufferSize).
func (w *directRead) arrived(n int) {
	w.pend = (*w.buf)[msgHeadroom-w.headLen:][:n]
	b := w.pend
	var h frameHeader
	hl, ok := decodeFrameHeader(b, &h) // frame.go
	w.whole = ok && h.mask && hl == w.headLen && (h.opcode == opText || h.opcode == opBinary) &&
		h.length >= readBufferSize && h.length <= uint64(cap(*w.buf)-msgHeadroom) && uint64(n-hl) <= h.length
}

// handOn gives the bytes the wait read to p: none copied if p is where
// they already are (a message buffer that adopt made of them), and, if
// they are a whole frame's start, the header alone first, so that the
// payload stays in place.
func (w *directRead) handOn(p []byte) int {
	if len(w.pend) == 0 || len(p) == 0 {
		return 0
	}
	var n int
	if &p[0] == &w.pend[0] {
		n = min(len(p), len(w.pend))
	} else {
		q := w.pend
		if left := msgHeadroom - (cap(*w.buf) - cap(q)); w.whole && left > 0 {
			q = q[:left]
		}
		n = copy(p, q)
	}
	w.pend = w.pend[n:]
	if len(w.pend) == 0 {
		w.release()
	}
	return n
}

// release gives the buffer back to its pool, unless it became a message's.
func (w *directRead) release() {
	if w.buf != nil && !w.mine {
		msgPools[msgClass(cap(*w.buf))].Put(w.buf)
	}
	w.buf, w.pend, w.whole, w.mine = nil, nil, false, false
}

// adopt makes the wait's buffer the message's, when it holds the current
// frame's payload start at msgHeadroom (its header handed on, nothing of
// it copied yet), paid from the memory budget as a message buffer is. As
// a buffer that grows (pool.go), it must not be more than four times the
// bytes that arrived in it: a client that sent a byte does not get 64 KiB.
func (c *wsConn) adopt() bool {
	if c.kr == nil {
		return false
	}
	w := &c.kr.wait
	if !w.whole || len(w.pend) == 0 || &w.pend[0] != &(*w.buf)[msgHeadroom] || uint64(len(w.pend)) > c.hdr.length ||
		4*len(w.pend) < cap(*w.buf)-msgHeadroom {
		return false
	}
	c.releaseMsgBuf()
	if charged(cap(*w.buf)) && !c.budget.take(c, cap(*w.buf)) {
		return false
	}
	c.msg, c.msgBuf, w.mine = (*w.buf)[:msgHeadroom], w.buf, true
	c.trace.note("   (read in place: the frame came after a quiet spell and its payload is already where the message is kept; direct.go)")
	return true
}
