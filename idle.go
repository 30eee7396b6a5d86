package main

// idle.go is the wait between messages. It buys memory: while a client is
// quiet its connection holds no read buffer and no message buffer (on
// Linux, below), only its goroutine, its wsConn and the runtime's socket
// state, and with -deflate the client's compression window (deflate.go)
// (LOAD.md has the figures). The plain code it
// stands in for is nothing at all: the loop in conn.go would simply block
// in the next read, inside a bufio.Reader's 4 KiB buffer that the
// connection keeps for its whole life. On Linux (idle_linux.go) the wait
// tries a non-blocking read into a pooled buffer and, if nothing is there
// (EAGAIN), gives the buffer back and waits on the runtime's poller,
// holding none; elsewhere the connection waits in a bufio.Reader's
// buffer, as the plain code does.

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// readiness is a connReader's wait for the socket to become readable.
type readiness struct {
	raw     syscall.RawConn       // the socket; nil where the connection has none
	tryRead func(fd uintptr) bool // the read made once ready (idle_linux.go), kept as a value so a wait allocates nothing
	n       int                   // what tryRead read
	rerr    error                 // and the error it met

	directRead // where that read goes, and what it read (direct.go)
}

// init prepares the wait for nc, read by k.
func (w *readiness) init(k *connReader, nc net.Conn) {
	if sc, ok := nc.(syscall.Conn); ok {
		w.raw, _ = sc.SyscallConn()
		w.tryRead = k.nonblockingRead
	}
}

// takePending hands bytes the wait read to p, first: they came before
// anything the socket still holds (direct.go: without a copy, where it can).
func (w *readiness) takePending(p []byte) int { return w.handOn(p) }

// partFrame gives back the message buffer and the held-back echoes'
// buffer unless the next frame is there whole in b, the n bytes read ahead
// (or their start): only a frame that has arrived keeps them, so that a
// client holding back the rest of one does not keep them charged between
// its messages (budget.go).
func (c *wsConn) partFrame(b []byte, n int) {
	if c.msg == nil && c.out.held == nil {
		return
	}
	var h frameHeader
	if hl, ok := decodeFrameHeader(b, &h); !ok || uint64(n-hl) < h.length { // frame.go
		c.releaseMsgBuf()
		c.releaseHeld() // batch.go
	}
}

// betweenMessages runs before each frame that may start a message. The
// message's clock stops (keepalive.go: it starts again with the next
// bytes). With nothing buffered, the connection gives its buffers back
// (pool.go), waits for the client's next bytes holding none, and takes a
// bufio.Reader again. With part of a frame buffered, it gives back its
// message buffer and held-back echoes' buffer, for the rest may be long in
// coming (partFrame). In tests (no connReader) it waits for nothing.
func (c *wsConn) betweenMessages() error {
	c.kr.messageDone()
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(min(n, maxFrameHeaderLen))
		c.partFrame(b, n)
		return nil
	}
	if c.kr == nil {
		return nil
	}
	if p := c.kr.wait.pend; len(p) > 0 { // bytes read by the last wait still to hand on (direct.go)
		c.partFrame(p, len(p))
		return nil
	}
	putReader(c.br)
	c.br = nil
	c.releaseMsgBuf()
	c.releaseHeld()          // batch.go
	c.releaseDeflate()       // deflate.go: a kept compressor
	c.kr.wait.expect(&c.hdr) // direct.go: the next frame is likely of the last one's kind
	if err := c.kr.waitData(); err != nil {
		return err
	}
	c.br = getReader(c.kr)
	return nil
}

// waitData waits until the client sends something, keeping the
// keepalive's clock, and reads it into a message buffer (direct.go) for Read to hand on.
func (k *connReader) waitData() error {
	if k.wait.raw == nil || k.ws == nil {
		return nil // Read will wait, in the bufio.Reader's buffer
	}
	for {
		err := k.readReady()
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err := k.quiet(time.Now()); err != nil {
			return err
		}
	}
}
