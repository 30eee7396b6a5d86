package main

// clockws.go is the server-pushed clock over WebSocket, for push.html to
// set beside the section 2 techniques: on GET /clock/ws the server sends
// the time every second as a text frame it starts itself, without the
// client sending anything. Everything else is the echo's: ping and pong,
// the closing handshake, keepalive, limits and the shutdown's 1001. A
// message from the client is not echoed here: it is answered with Close
// 1003 (Unsupported Data), since this path only pushes.

import (
	"net"
	"time"
)

// clockWSPath is where the WebSocket clock is; every other path echoes.
const clockWSPath = "/clock/ws"

// errClockOnly closes a /clock/ws connection whose client sends a message.
var errClockOnly = &closeError{closeUnsupportedData, "/clock/ws only pushes the time: send no messages"}

// serveClock runs a /clock/ws connection: the reader as on the echo path
// (conn.go), the clock beside it, and push.html's drop button able to
// close it (pushstats.go).
func (c *wsConn) serveClock(nc net.Conn) error {
	done := make(chan struct{})
	defer close(done)
	go c.pushClock(done)
	c.counter.hold(nc, func() { go c.writeClose(closeGoingAway, "dropped from push.html") })
	defer c.counter.release(nc)
	return c.serve()
}

// pushClock sends the time every second, at the turn of the second, until
// the connection ends (done is closed) or a Close has gone out. It waits on
// pushTime, as the clocks of push.go do, so that the tests move it on.
func (c *wsConn) pushClock(done <-chan struct{}) {
	tick := make(chan struct{}, 1) // room for a call that stop comes too late to cancel: it never blocks
	for {
		now := pushTime.now()
		stop := pushTime.afterFunc(now.Truncate(time.Second).Add(time.Second).Sub(now), func() { tick <- struct{}{} })
		select {
		case <-done:
			stop()
			return
		case <-tick:
		}
		text := clockText(pushTime.now())
		frame := make([]byte, serverHeaderLen(len(text))+len(text))
		copy(frame[putServerHeader(frame, opText, len(text)):], text)
		if err := c.writeFrame(frame, false, false); err != nil {
			return // a Close went out, or the connection failed: the reader ends it
		}
		c.counter.updated()
	}
}
