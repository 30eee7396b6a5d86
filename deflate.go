package main

// deflate.go is permessage-deflate (RFC 7692), the extension a browser
// offers in the Sec-WebSocket-Extensions line of the article's header
// listing (3.4.3). It is beyond the article and off unless -deflate is
// given, so that the frames a learner sees stay the article's. It buys
// bytes on the wire: text travels at a fraction of its size. The plain
// code it stands in for is a 101 with no Sec-WebSocket-Extensions line,
// which declines every offer (upgrade.go), and frames whose payload is the
// message itself.
//
// How a message travels compressed (§7.2): the sender deflates it (RFC
// 1951), ends the output with an empty stored block (a sync flush, whose
// last four bytes are always 00 00 ff ff) and cuts those four bytes off;
// the message's first frame has RSV1 set. The receiver puts the four bytes
// back and inflates. "Context takeover" (§7.1.1) lets each message refer
// back to the ones before it, so each side may have to keep a window of
// what it sent or received: up to 32 KiB, or 2^bits with max_window_bits.
//
// What this server does, and why:
//   - The client's messages (inflate): its context is kept when it takes
//     over context, as the last window of inflated bytes, nothing more (the
//     inflater itself is pooled and set up from that window per message).
//   - A compressed message is echoed as the very bytes it came in, once
//     inflated and checked (UTF-8, -max-message): for an echo, the client's
//     inflater for our messages then holds what its deflater held for its
//     own. newDeflater says when the agreement allows it; it saves the whole
//     cost of compressing.
//   - Otherwise echoes are compressed afresh (compress/flate, BestSpeed):
//     text, and binary that came compressed (binary the client chose to
//     send plain is most likely compressed already: images, archives), each
//     only if at least deflateMin bytes and only if the result is shorter;
//     else the echo goes plain, which any message may (§6).
//   - compress/flate's compressor is over a megabyte, so it is lent per
//     message from a pool, and at most maxCompressors are out at once: when
//     all are, an echo goes plain. One is kept across messages (our context
//     takeover) only while the connection is busy and at most half of them
//     are out; a connection that goes quiet gives it back (idle.go), and
//     its next echo starts afresh, which the client cannot tell from our
//     choosing not to refer back (§7.1.1.1).
//   - The client's window, kept between messages, is paid for in the
//     handshake from a quarter of -max-buffered (budget.go:takeWindow);
//     once that is spent, the 101 asks the client to take over no context
//     (client_no_context_takeover, which §7.1.1.2 lets a server add): its
//     messages are then compressed alone, a little larger, and cost the
//     server no window.
//   - A compressed message may inflate to at most maxInflateRatio times
//     its compressed size, or maxInflateFloor, whichever is larger (1009
//     past it): past the floor, a decompression bomb costs its sender a
//     byte for every maxInflateRatio bytes the server inflates (below it,
//     deflate's own limit of about a thousand to one), where -max-message
//     alone would let about a thousandth of the limit in compressed bytes
//     cost the server the whole limit in memory and CPU.
//   - server_max_window_bits below 15: compress/flate cannot narrow its
//     window, so those echoes are Huffman-coded only (flate.HuffmanOnly),
//     which refers back to nothing and so honours any window.
//   - Large binary messages sent plain are streamed as before (stream.go);
//     a compressed one is assembled, inflated and checked whole.

import (
	"compress/flate"
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// deflater is one connection's permessage-deflate state.
type deflater struct {
	deflateParams
	verbatim bool          // compressed messages are echoed as the bytes they came in (see newDeflater)
	zmsg     []byte        // the compressed message just read, kept for that echo (lendBuf's)
	zbuf     *[]byte       // and its pool handle
	fw       *flate.Writer // our compressor, while kept across messages (context takeover); nil otherwise
	out      boundedBuffer // where the compressor writes the echo
	src      tailReader    // what the inflater reads: the payload, then deflateTail
	hist     []byte        // the client's context: the last 2^clientMaxWindowBits bytes it sent compressed
	probe    [1]byte       // one byte read past -max-message, to learn whether a message goes on
}

// newDeflater starts a connection's state for what was agreed; nil: no
// extension. deflates and end do nothing on a nil one, so the connection
// may call them either way; the others run only once one was agreed.
func newDeflater(p *deflateParams) *deflater {
	if p == nil {
		return nil
	}
	// An echo server can send a compressed message back as the very bytes
	// it came in: the client's inflater for our messages then holds what its
	// deflater held for its own, the same messages in the same order. That
	// stays true while the client's back-references fit our agreed window
	// (its window is no larger than ours) and do not reach into earlier
	// messages that our agreement makes the client forget (it refers back
	// only if we may too), and until a message we compress ourselves enters
	// the client's window (deflateEcho).
	verbatim := (p.clientNoContextTakeover || !p.serverNoContextTakeover) && p.clientMaxWindowBits <= p.serverMaxWindowBits
	return &deflater{deflateParams: *p, verbatim: verbatim}
}

// deflateTail is put back after a compressed message (§7.2.2): the four
// bytes the sender cut off, then an empty final block, so that the
// inflater ends the message with io.EOF rather than wait for more.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// The ways a compressed message can break RFC 7692 or this server's
// limits, each with its close code.
var (
	errBadDeflate     = &closeError{closeInvalidFramePayloadData, "compressed payload does not inflate"} // §7.2.2
	errInflatesTooBig = &closeError{closeMessageTooBig, "compressed message inflates too far for its size"}
)

// maxInflateRatio and maxInflateFloor bound what a compressed message may
// inflate to: the larger of maxInflateFloor and maxInflateRatio times its
// compressed bytes. Text and JSON inflate to a few times their compressed
// size, and long runs of one byte to about a thousand (deflate's own
// limit): the ratio leaves room for the first and refuses the second
// beyond maxInflateFloor.
const (
	maxInflateRatio = 64
	maxInflateFloor = 1 << 20
)

// inflaters holds the flate readers; each is set up afresh per message
// from the connection's window (flate.Resetter), so none is kept idle.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// inflate replaces the compressed payload in c.msg with the message it
// inflates to. -max-message applies to what it inflates to, and so does
// the ratio above: the message fails with 1009 as soon as it would pass
// either, having inflated no more than that.
func (c *wsConn) inflate() (err error) {
	d := c.deflate
	zmsg, zbuf := c.msg, c.msgBuf // the compressed message: kept for the echo, or given back once inflated
	c.msg, c.msgBuf = nil, nil
	defer func() {
		if d.verbatim && err == nil {
			d.zmsg, d.zbuf = zmsg, zbuf
		} else {
			c.returnBuf(zmsg, zbuf)
		}
	}()
	z := zmsg[msgHeadroom:]
	d.src = tailReader{p: z, tail: deflateTail}
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	fr.(flate.Resetter).Reset(&d.src, d.hist)

	limit := msgHeadroom + int(min(c.maxMessage, max(maxInflateFloor, maxInflateRatio*int64(len(z)))))
	tooBig := errMessageTooBig
	if limit < msgHeadroom+int(c.maxMessage) {
		tooBig = errInflatesTooBig
	}
	if !c.takeMsgBuf(min(limit, msgHeadroom+max(msgClasses[0], 4*len(z)))) { // text inflates to a few times its size
		return errBudget
	}
	c.msg = c.msg[:msgHeadroom]
	for {
		if c.evicted.Load() { // the budget needs what this message holds (budget.go:evict)
			return errBudget
		}
		end := min(cap(c.msg), limit) // the buffer is rounded up to a class; the limit is not
		if len(c.msg) == end {        // full: one byte more says whether the message goes on
			n, err := fr.Read(d.probe[:])
			switch {
			case n == 0 && err == io.EOF:
				return d.inflated(c, len(z))
			case n == 0 && err != nil:
				return errBadDeflate
			case n == 0:
				continue
			case len(c.msg) >= limit:
				return tooBig
			}
			if !c.takeMsgBuf(min(limit, 2*cap(c.msg))) { // doubling: each byte is copied about once
				return errBudget
			}
			c.msg = append(c.msg, d.probe[0])
			continue
		}
		n, err := fr.Read(c.msg[len(c.msg):end])
		c.msg = c.msg[:len(c.msg)+n]
		if err == io.EOF {
			return d.inflated(c, len(z))
		}
		if err != nil {
			return errBadDeflate
		}
	}
}

// inflated finishes a message that inflated whole: its text is checked
// afresh (endMessage), and its end is the client's context for the next.
func (d *deflater) inflated(c *wsConn, compressed int) error {
	c.checked = 0
	c.trace.inflated(compressed, c.msg[msgHeadroom:])
	d.remember(c.msg[msgHeadroom:])
	return nil
}

// remember keeps the end of an inflated message as the client's context
// for its next, when it takes over context: the last 2^bits bytes of all
// it sent, never more.
func (d *deflater) remember(p []byte) {
	if d.clientNoContextTakeover {
		return
	}
	w := 1 << d.clientMaxWindowBits
	if len(p) >= w {
		p = p[len(p)-w:]
	}
	if keep := w - len(p); len(d.hist) > keep {
		d.hist = d.hist[:copy(d.hist, d.hist[len(d.hist)-keep:])]
	}
	if need := len(d.hist) + len(p); need > cap(d.hist) {
		h := make([]byte, len(d.hist), min(w, max(need, 2*cap(d.hist))))
		copy(h, d.hist)
		d.hist = h
	}
	d.hist = append(d.hist, p...)
}

// deflateMin is the shortest message whose echo the server compresses
// itself; a compressed message echoed as the bytes it came in (verbatim,
// newDeflater) goes compressed at any length. Shorter ones rarely shrink (compress/flate stores up to 16 bytes as they are,
// and a block's Huffman tables cost about what a few dozen bytes save),
// so compressing them would be work thrown away.
const deflateMin = 32

// deflates says whether the echo of the message just read is compressed
// (the policy at the top of this file).
func (d *deflater) deflates(op opcode, cameCompressed bool, n int) bool {
	return d != nil && (cameCompressed && d.verbatim || n >= deflateMin && (op == opText || cameCompressed))
}

// deflaters holds compressors, one pool per level: BestSpeed, the
// cheapest that still finds repeats, and HuffmanOnly for a window under 15 bits.
var deflaters = [2]sync.Pool{
	{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }},
	{New: func() any { w, _ := flate.NewWriter(nil, flate.HuffmanOnly); return w }},
}

// pool is the deflaters pool for the agreed window.
func (d *deflater) pool() *sync.Pool {
	if d.serverMaxWindowBits < 15 {
		return &deflaters[1]
	}
	return &deflaters[0]
}

// maxCompressors is the most compressors out at once, kept across
// messages or lent for one echo: each is about flateWriterMem, what
// flate.NewWriter allocates (TestFlateWriterMem checks it), so together
// they are a fixed amount beside -max-buffered (LOAD.md).
const (
	maxCompressors = 32
	flateWriterMem = 1200 << 10
)

// compressorsOut counts the compressors lent from deflaters now.
var compressorsOut atomic.Int64

// lendCompressor reports whether a compressor may be taken from the pools,
// counting it out if so.
func lendCompressor() bool {
	if compressorsOut.Add(1) > maxCompressors {
		compressorsOut.Add(-1)
		return false
	}
	return true
}

// deflateEcho compresses message p into an echo frame of type op with
// RSV1 set, in a buffer that becomes c.msg (the plain one is given back).
// ok false: the compressed form is not shorter, all maxCompressors
// compressors are out, or the budget cannot pay for its buffer; the plain
// frame goes instead.
func (c *wsConn) deflateEcho(op opcode, p []byte) (frame []byte, ok bool) {
	d := c.deflate
	if d.zmsg != nil { // the bytes as they came (newDeflater says when that is allowed)
		z := d.zmsg
		m := len(z) - msgHeadroom
		start := msgHeadroom - serverHeaderLen(m)
		putServerHeader(z[start:], op, m)
		z[start] |= 0x40 // RSV1: this message is compressed (§6)
		c.trace.echoedAsReceived(m)
		c.releaseMsgBuf()
		c.msg, c.msgBuf, d.zmsg, d.zbuf = z, d.zbuf, nil, nil
		return z[start:], true
	}
	if d.fw == nil && !lendCompressor() {
		return nil, false // all are out: this echo goes plain
	}
	buf, bp, ok := c.lendBuf(msgHeadroom + len(p)) // shorter than p by at least the four bytes to cut
	if !ok {
		d.keep(d.fw) // not used: given back if it was only lent
		return nil, false
	}
	d.out.b = buf[:msgHeadroom]
	fw := d.fw
	if fw == nil {
		fw = d.pool().Get().(*flate.Writer)
		fw.Reset(&d.out)
	}
	_, err := fw.Write(p)
	if err == nil {
		err = fw.Flush()
	}
	out := d.out.b
	if err != nil { // not shorter: what the compressor saw, the client will not
		d.fw = fw // given back, not kept: the next echo starts afresh
		c.releaseDeflate()
		c.returnBuf(buf, bp)
		return nil, false
	}
	m := len(out) - msgHeadroom - 4 // the trailing 00 00 ff ff is cut (§7.2.1)
	buf = out[:msgHeadroom+m]
	start := msgHeadroom - serverHeaderLen(m)
	putServerHeader(buf[start:], op, m)
	buf[start] |= 0x40 // RSV1: this message is compressed (§6)
	c.trace.deflated(len(p), m)
	d.verbatim = false // our own compressed bytes are in the client's window now, not in ours
	d.keep(fw)
	c.releaseMsgBuf()
	c.msg, c.msgBuf = buf, bp
	return buf[start:], true
}

// keep holds the compressor for the next message, when we may take over
// context and at most half of maxCompressors are out; otherwise it goes
// back to its pool. fw nil: none was lent.
func (d *deflater) keep(fw *flate.Writer) {
	if fw == nil {
		compressorsOut.Add(-1)
		return
	}
	if !d.serverNoContextTakeover && compressorsOut.Load() <= maxCompressors/2 {
		d.fw = fw
		return
	}
	d.fw = nil
	fw.Reset(nil)
	d.pool().Put(fw)
	compressorsOut.Add(-1)
}

// releaseDeflate gives a kept compressor back, when the connection goes
// quiet or ends (its next echo starts afresh), and a compressed message
// that was kept for an echo that never came.
func (c *wsConn) releaseDeflate() {
	d := c.deflate
	if d == nil {
		return
	}
	c.returnBuf(d.zmsg, d.zbuf)
	d.zmsg, d.zbuf = nil, nil
	if d.fw == nil {
		return
	}
	d.fw.Reset(nil)
	d.pool().Put(d.fw)
	d.fw = nil
	compressorsOut.Add(-1)
}

// end gives the client's window back to the budget, when the connection
// ends (conn.go:serve).
func (d *deflater) end(b *budget) {
	if d != nil {
		b.giveWindow(d.window)
		d.window, d.hist = 0, nil
	}
}

// boundedBuffer is an io.Writer that appends to b up to its capacity and
// fails past it: the compressor's output is wanted only while shorter than
// the message.
type boundedBuffer struct{ b []byte }

// errNotShorter stops a compression whose output would not be shorter
// (the plain echo goes instead: it is never sent).
var errNotShorter = errors.New("compressed echo not shorter than the message")

// Write appends p if it fits.
func (w *boundedBuffer) Write(p []byte) (int, error) {
	if len(w.b)+len(p) > cap(w.b) {
		return 0, errNotShorter
	}
	w.b = append(w.b, p...)
	return len(p), nil
}

// tailReader reads p, then tail; it is an io.ByteReader, so that the
// inflater reads no further than it needs and wraps it in nothing.
type tailReader struct{ p, tail []byte }

// Read reads from p, then from tail.
func (r *tailReader) Read(b []byte) (int, error) {
	if len(r.p) == 0 {
		if r.p, r.tail = r.tail, nil; len(r.p) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(b, r.p)
	r.p = r.p[n:]
	return n, nil
}

// ReadByte reads one byte.
func (r *tailReader) ReadByte() (byte, error) {
	if len(r.p) == 0 {
		if r.p, r.tail = r.tail, nil; len(r.p) == 0 {
			return 0, io.EOF
		}
	}
	b := r.p[0]
	r.p = r.p[1:]
	return b, nil
}
