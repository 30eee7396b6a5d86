package main

// pool.go lends buffers to connections only while bytes are in flight. It
// buys memory: a quiet connection holds no read buffer and no message
// buffer, and a busy one reuses the same few, so that the echo allocates
// nothing per message (LOAD.md and BENCH.md have the figures). The plain
// code it stands in for is a bufio.NewReader and a message buffer of its
// own for each connection, kept for the connection's whole life.

import (
	"bufio"
	"sync"
)

// readBufferSize is the bufio.Reader a connection reads through: a whole
// upgrade request or a small frame fits in one read.
const readBufferSize = 4 << 10

// readerPool holds the bufio.Readers that connections read through.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// getReader lends a bufio.Reader reading from r.
func getReader(r *connReader) *bufio.Reader {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// putReader gives a bufio.Reader back; what it still holds is dropped.
func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readerPool.Put(br)
}

// Message buffer classes: msgHeadroom for the echo's header, then 4, 16,
// 64 or 256 KiB of payload. A message grows through them as its bytes
// arrive (grow); a larger one gets a buffer of its own, dropped after its
// echo. The largest class is also a streamed echo's piece buffer (stream.go).
var msgClasses = [...]int{msgHeadroom + 4<<10, msgHeadroom + 16<<10, msgHeadroom + 64<<10, msgHeadroom + 256<<10}

// msgPools holds one pool per class.
var msgPools [len(msgClasses)]sync.Pool

// init gives each message pool its class's size.
func init() {
	for i, size := range msgClasses {
		msgPools[i].New = func() any { b := make([]byte, size); return &b }
	}
}

// msgClass is the smallest class with room for n bytes (buffer capacity),
// or -1 if none has.
func msgClass(n int) int {
	for i, size := range msgClasses {
		if n <= size {
			return i
		}
	}
	return -1
}

// charged says whether a buffer of this capacity is paid from the memory
// budget: all but the smallest class, which each connection may hold
// without charge, as it holds its read buffer (budget.go says why).
func charged(capacity int) bool { return capacity > msgClasses[0] }

// takeMsgBuf makes c.msg a buffer of capacity for at least n bytes, keeping
// what it holds. It reports false, changing nothing, if the server's
// memory budget (budget.go) cannot pay for the larger buffer.
func (c *wsConn) takeMsgBuf(n int) bool {
	b, p, ok := c.lendBuf(n)
	if !ok {
		return false
	}
	b = b[:len(c.msg)]
	copy(b, c.msg)
	c.releaseMsgBuf()
	c.msg, c.msgBuf = b, p
	return true
}

// lendBuf lends an empty buffer of capacity for at least n bytes, paid
// from the memory budget past the smallest class: from the pools up to
// the largest class (p is its pool's handle), allocated past that (p is
// nil). ok false: the budget cannot pay.
func (c *wsConn) lendBuf(n int) (b []byte, p *[]byte, ok bool) {
	class := msgClass(n)
	if class >= 0 {
		n = msgClasses[class]
	}
	if charged(n) && !c.budget.take(c, n) {
		return nil, nil, false
	}
	if class < 0 {
		return make([]byte, 0, n), nil, true
	}
	p = msgPools[class].Get().(*[]byte)
	return (*p)[:0], p, true
}

// returnBuf gives back a buffer lendBuf lent, and its bytes to the budget.
func (c *wsConn) returnBuf(b []byte, p *[]byte) {
	if b == nil {
		return
	}
	if charged(cap(b)) {
		c.budget.give(c, cap(b), p == nil)
	}
	if p != nil {
		*p = (*p)[:cap(*p)]
		msgPools[msgClass(cap(*p))].Put(p)
	}
}

// readyMsgBuf gives the message that starts with the current frame a
// buffer: the one it has, the wait's (direct.go), or the smallest class.
// Its length announced in the header buys it nothing: the buffer grows
// only as bytes arrive (grow).
func (c *wsConn) readyMsgBuf() bool {
	if c.msg != nil || c.adopt() { // direct.go: the payload's first bytes are already in a message buffer
		return true
	}
	return c.takeMsgBuf(msgClasses[0])
}

// releaseMsgBuf gives the message buffer back to its pool (or to the
// garbage collector, if it came from none), and its bytes to the budget.
func (c *wsConn) releaseMsgBuf() {
	c.returnBuf(c.msg, c.msgBuf)
	c.msg, c.msgBuf = nil, nil
}

// grow makes room for more of the message, doubling the buffer (through
// the pooled classes), so that a message arriving in many small fragments
// is copied about once in all, not once a fragment. It grows only when the
// buffer is full, never past what can still come (the rest of this frame
// if it is the message's last, the message limit if not): past the
// smallest class a buffer is at most four times the bytes that arrived
// (the classes are four times apart; past them it doubles). A buffer the
// memory budget cannot pay for fails the message with 1013.
func (c *wsConn) grow(remaining int) error {
	more := max(cap(c.msg)-msgHeadroom, msgClasses[0])
	if c.hdr.fin {
		more = min(more, remaining)
	} else {
		more = int(min(int64(more), c.maxMessage-int64(len(c.msg)-msgHeadroom)))
	}
	if !c.takeMsgBuf(len(c.msg) + more) {
		return errBudget
	}
	return nil
}
