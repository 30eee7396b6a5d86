package main

// budget.go bounds the memory that messages being received hold, across
// all connections, and shares it fairly. It buys a server that a few
// clients cannot exhaust: -max-message bounds one message, but without a
// total, every client may hold that much at once, in messages it never
// finishes. The plain code it stands in for is none: a buffer grows
// whenever a message needs it.
//
// The rules, each for an attack it stops:
//   - Only bytes that arrived are paid for: a buffer grows as its bytes
//     come in (pool.go), never to a length the client merely announced.
//   - A connection's smallest buffer (the first message class, like its
//     read buffer) is not charged: it is bounded by -max-conns instead, and
//     charging it would put shared atomic operations on every small
//     echo. What grows past it is charged.
//   - Between messages a connection holds no message buffer charged,
//     unless its next frame has already arrived whole (idle.go:partFrame);
//     only a client's compression window, paid apart (takeWindow), stays
//     charged for the connection's life.
//   - When the budget runs low, the largest holders pay first: the last
//     quarter of it is kept for connections within their fair share (the
//     budget divided among the connections holding part of it), and when
//     even that is spent, a connection within its share that needs more
//     evicts the largest holder over its share, which is closed with 1013.
//     A client with a message of a few MiB is then echoed while a few
//     others fill the budget with messages of a MiB or more
//     (bigHolding) they never finish: theirs are the ones closed with
//     1013. Many holding less each are not evicted: they fill the budget
//     by their number, and -message-timeout ends them.

import (
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// errBudget refuses a message that would take the server past its memory
// budget (-max-buffered), or its connection past its fair share of the
// last of it, and closes a connection evicted for another (evictFor). 1013 asks the client to try again later: other messages go
// on, and this one may fit once they are done.
var errBudget = &closeError{closeTryAgainLater, "server busy: too many bytes held in messages; try again later"}

// budget counts the bytes of message buffers lent out past the smallest
// class, against a limit, and apart from them the clients' compression
// windows, against a quarter of it (takeWindow).
type budget struct {
	limit   int64        // -max-buffered; 0: no limit
	used    atomic.Int64 // bytes of message buffers held now
	holders atomic.Int64 // connections holding some of them

	mu  sync.Mutex
	big map[*wsConn]struct{} // connections holding at least bigHolding: who may be evicted (evictFor)

	windows atomic.Int64 // bytes of clients' compression windows paid for (takeWindow)

	freed     atomic.Int64 // bytes of large buffers dropped since memory last went back to the OS
	returning atomic.Bool  // a return to the OS is scheduled
}

// take reserves n bytes for connection c, or reports that they would pass
// the limit, or c's fair share of the reserve (the rules above). When only
// the limit stands in the way of a connection within its fair share, the
// largest holder over its share is evicted for it (evictFor). A nil budget
// (in tests) has no limit; taking nothing changes nothing.
func (b *budget) take(c *wsConn, n int) bool {
	if b == nil || n == 0 {
		return true
	}
	if c.evicted.Load() { // on its way out: what it holds already counts as room for others (evictFor)
		return false
	}
	held := c.held.Load()
	var holders int64
	if held == 0 {
		holders = b.holders.Add(1)
	} else {
		holders = b.holders.Load()
	}
	used := b.used.Add(int64(n))
	fair := b.limit / max(holders, 1)
	within := held+int64(n) <= fair
	if !(b.limit <= 0 || used <= b.limit-b.limit/4 || used <= b.limit && within || within && b.evictFor(c)) {
		b.used.Add(-int64(n))
		if held == 0 {
			b.holders.Add(-1)
		}
		return false
	}
	if now := c.held.Add(int64(n)); now >= bigHolding && held < bigHolding {
		b.mu.Lock()
		if b.big == nil {
			b.big = make(map[*wsConn]struct{})
		}
		b.big[c] = struct{}{}
		b.mu.Unlock()
	}
	return true
}

// give returns n bytes that take reserved for c. large says the buffer was
// allocated for one message (past the pools): once many such bytes are
// dropped, the memory goes back to the operating system soon, not minutes
// later as the runtime's scavenger would return it.
func (b *budget) give(c *wsConn, n int, large bool) {
	if b == nil || n == 0 { // a connection that held nothing is no holder to count out
		return
	}
	now := c.held.Add(-int64(n))
	if now == 0 {
		b.holders.Add(-1)
	}
	if now < bigHolding && now+int64(n) >= bigHolding {
		b.mu.Lock()
		delete(b.big, c)
		b.mu.Unlock()
	}
	b.used.Add(-int64(n))
	if large && b.freed.Add(int64(n)) >= returnAfter && b.returning.CompareAndSwap(false, true) {
		time.AfterFunc(returnDelay, func() {
			b.freed.Store(0)
			debug.FreeOSMemory()
			b.returning.Store(false)
		})
	}
}

// bigHolding is what a connection must hold to be a candidate for
// eviction: the holders that can fill the budget hold much more, and
// below it the registry is never touched, so small messages never take
// its lock.
const bigHolding = 1 << 20

// evictFor makes room for c, which is within its fair share, by evicting
// the largest holder over its fair share: that connection is closed with
// 1013 (evict), and c may go past the limit meanwhile, by no more than the
// evicted connections are about to give back. Holders evicted before and
// not yet ended count as room on its way: c is let in if what they still
// hold covers it. false: neither, and c is refused.
func (b *budget) evictFor(c *wsConn) bool {
	fair := b.limit / max(b.holders.Load(), 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	var victim *wsConn
	var leaving int64 // held by holders evicted already
	for x := range b.big {
		switch {
		case x.evicted.Load():
			leaving += x.held.Load()
		case x != c && x.held.Load() > fair && (victim == nil || x.held.Load() > victim.held.Load()):
			victim = x
		}
	}
	if victim == nil {
		return b.used.Load()-leaving <= b.limit
	}
	victim.evict()
	return true
}

// evict marks c to be closed with 1013 and stops it wherever it is: a
// read or an inflation (deflate.go:inflate) fails at once, a write to a
// client that does not read within haltGrace (write.go:halt), and the
// buffers it holds go back as the connection ends.
func (c *wsConn) evict() {
	c.evicted.Store(true)
	c.out.halt()
	if c.out.nc != nil {
		c.out.nc.SetReadDeadline(time.Now())
	}
}

// takeWindow pays for a client's compression window of n bytes, kept
// between its messages for as long as its connection lasts (deflate.go),
// from a quarter of the limit set aside for windows, or reports that it is
// spent. Unlike a message's buffer, a window is refused without harm: the
// handshake then agrees that the client keeps none (extensions.go).
func (b *budget) takeWindow(n int) bool {
	if b == nil || b.limit <= 0 {
		return true
	}
	if b.windows.Add(int64(n)) > b.limit/4 {
		b.windows.Add(-int64(n))
		return false
	}
	return true
}

// giveWindow returns a window's n bytes when its connection ends.
func (b *budget) giveWindow(n int) {
	if b != nil && b.limit > 0 {
		b.windows.Add(-int64(n))
	}
}

// returnAfter is how many bytes of large buffers are dropped before memory
// goes back to the OS, and returnDelay how long after: long enough that a
// burst is over, and that FreeOSMemory (a full collection) runs at most
// once in that time.
const (
	returnAfter = 64 << 20
	returnDelay = time.Second
)
