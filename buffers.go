package main

// buffers.go lends buffers to connections only while bytes are in flight:
// a quiet connection holds no read buffer and no message buffer, and a
// busy one reuses the same few, so the echo allocates nothing per message.
// Measured with go run ./cmd/load -mode idle -conns 10000 (with the frames
// moved to a fresh goroutine, main.go): 14.8 KiB per idle connection
// before, 4.8 KiB after; 19.6 and 6.9 KiB after one echo each.

import (
	"bufio"
	"sync"
)

// readerPool holds the bufio.Readers that connections read through.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// slabPool holds buffers for the first bytes after a quiet spell, read
// before the connection takes a bufio.Reader again (connReader.waitData).
var slabPool = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

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

// Message buffer classes: msgHeadroom for the echo's header, then 4, 16 or
// 64 KiB of payload. A message grows through them as its bytes arrive; a
// larger one gets a buffer of its own, dropped after its echo.
var msgClasses = [...]int{msgHeadroom + 4<<10, msgHeadroom + 16<<10, msgHeadroom + 64<<10}

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

// takeMsgBuf makes c.msg a buffer of capacity for at least n bytes, keeping
// what it holds: from the pools up to 64 KiB, allocated past that.
func (c *wsConn) takeMsgBuf(n int) {
	var b []byte
	var p *[]byte
	if class := msgClass(n); class >= 0 {
		p = msgPools[class].Get().(*[]byte)
		b = (*p)[:len(c.msg)]
	} else {
		b = make([]byte, len(c.msg), n)
	}
	copy(b, c.msg)
	c.releaseMsgBuf()
	c.msg, c.msgBuf = b, p
}

// releaseMsgBuf gives the message buffer back to its pool (or to the
// garbage collector, if it came from none).
func (c *wsConn) releaseMsgBuf() {
	if c.msgBuf != nil {
		*c.msgBuf = (*c.msgBuf)[:cap(*c.msgBuf)]
		msgPools[msgClass(cap(*c.msgBuf))].Put(c.msgBuf)
	}
	c.msg, c.msgBuf = nil, nil
}

// idle runs between messages when nothing is buffered: the connection gives
// its buffers back, waits for the client's next bytes holding none, and
// takes a bufio.Reader again. Without a connReader (in tests) it does nothing.
func (c *wsConn) idle() error {
	if c.kr == nil {
		return nil
	}
	putReader(c.br)
	c.br = nil
	c.releaseMsgBuf()
	if err := c.kr.waitData(); err != nil {
		return err
	}
	c.br = getReader(c.kr)
	return nil
}
