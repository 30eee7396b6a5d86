package main

// budget.go bounds the memory that messages being assembled hold, across
// all connections. It buys a server that a few clients cannot exhaust:
// -max-message bounds one message, but without a total, every client may
// hold that much at once, in messages it never finishes. The plain code it
// stands in for is none: a buffer grows whenever a message needs it.

import (
	"runtime/debug"
	"sync/atomic"
	"time"
)

// errBudget refuses a message that would take the server past its memory
// budget (-max-buffered). 1013 asks the client to try again later: other
// messages go on, and this one may fit once they are done.
var errBudget = &closeError{closeTryAgainLater, "server busy: too many bytes held in messages; try again later"}

// budget counts the bytes of message buffers lent out, against a limit.
type budget struct {
	limit int64        // -max-buffered; 0: no limit
	used  atomic.Int64 // bytes of message buffers held now

	freed     atomic.Int64 // bytes of large buffers dropped since memory last went back to the OS
	returning atomic.Bool  // a return to the OS is scheduled
}

// take reserves n bytes, or reports that they would pass the limit. A nil
// budget (in tests) has no limit.
func (b *budget) take(n int) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.limit && b.limit > 0 {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// give returns n bytes. large says the buffer was allocated for one message
// (past the pools): once many such bytes are dropped, the memory goes back
// to the operating system soon, not minutes later as the runtime's
// scavenger would return it.
func (b *budget) give(n int, large bool) {
	if b == nil {
		return
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

// returnAfter is how many bytes of large buffers are dropped before memory
// goes back to the OS, and returnDelay how long after: long enough that a
// burst is over, and that FreeOSMemory (a full collection) runs at most
// once in that time.
const (
	returnAfter = 64 << 20
	returnDelay = time.Second
)
