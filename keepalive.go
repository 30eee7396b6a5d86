package main

// keepalive.go keeps a connection honest: a client quiet for the ping
// interval gets a ping (RFC 6455 §5.5.2), one that sends nothing, not even
// a pong, for the idle timeout is closed with 1001, and a message (or a
// control frame) must arrive whole within the message timeout, whatever
// pings come meanwhile, or it is closed with 1008. It sits under the
// connection's bufio.Reader, so a wait inside a frame does not lose the
// place in the frame.

import (
	"errors"
	"net"
	"os"
	"time"
)

// connReader is what a connection's bufio.Reader reads from: the TCP
// connection and, once it is a WebSocket, the keepalive's clock. A read
// that waits the ping interval sends a ping and waits on; a connection
// quiet for the idle timeout fails with 1001.
type connReader struct {
	nc       net.Conn
	ws       *wsConn       // nil until the upgrade: the handshake has its own deadline
	ping     time.Duration // -ping-interval: a client quiet this long gets a ping; 0: never
	idle     time.Duration // -idle-timeout: a client quiet this long is closed with 1001; 0: never
	last     time.Time     // when bytes last arrived
	pinged   time.Time     // when the last ping went out
	deadline time.Time     // the read deadline in force

	msgTimeout  time.Duration // -message-timeout: the longest a message may take to arrive; 0: no limit
	msgDeadline time.Time     // when the message being received must be complete; zero between messages
	msgArmed    bool          // the next bytes to arrive start a message's clock

	wait readiness // the wait between messages that holds no buffer (idle.go)

	counter *techCounter // push.html's byte counts (pushstats.go); nil: none
}

// pingFrame is the server's keepalive ping: FIN, opcode 9, no payload.
var pingFrame = []byte{0x80 | byte(opPing), 0}

// newConnReader reads from nc.
func newConnReader(nc net.Conn) *connReader {
	k := &connReader{nc: nc}
	k.wait.init(k, nc)
	return k
}

// errMessageTimeout closes a connection whose message does not arrive whole in time.
var errMessageTimeout = &closeError{closePolicyViolation, "message not complete within the message timeout"}

// activate starts the frame phase for ws, and its keepalive, as if the
// client had just spoken.
func (k *connReader) activate(ws *wsConn, ping, idle, message time.Duration) {
	k.ws, k.ping, k.idle, k.msgTimeout = ws, ping, idle, message
	k.msgArmed = true
	k.last = time.Now()
	k.setDeadline(k.last.Add(k.step()))
}

// messageDone is called between messages: the message's clock stops, and
// starts again with the first bytes of the next message or control frame
// to arrive. A nil connReader (in tests) keeps no time.
func (k *connReader) messageDone() {
	if k != nil {
		k.msgArmed, k.msgDeadline = true, time.Time{}
	}
}

// step is the time from the last bytes to the first keepalive event (zero:
// no keepalive).
func (k *connReader) step() time.Duration {
	if k.ping > 0 && (k.idle == 0 || k.ping < k.idle) {
		return k.ping
	}
	return k.idle
}

// setDeadline sets the read deadline to at, or to the message's deadline
// if that comes first; without keepalive, to the message's or none.
func (k *connReader) setDeadline(at time.Time) {
	if k.step() == 0 {
		at = time.Time{}
	}
	if !k.msgDeadline.IsZero() && (at.IsZero() || k.msgDeadline.Before(at)) {
		at = k.msgDeadline
	}
	if at.Equal(k.deadline) {
		return
	}
	k.deadline = at
	k.nc.SetReadDeadline(at)
	if k.ws != nil && k.ws.evicted.Load() { // evict may have set its deadline (now) just before this one
		k.nc.SetReadDeadline(time.Now())
	}
}

// Read reads from the connection, keeping the keepalive's clock.
func (k *connReader) Read(p []byte) (int, error) {
	if n := k.wait.takePending(p); n > 0 {
		return n, nil
	}
	if k.ws == nil {
		return k.nc.Read(p)
	}
	for {
		n, err := k.nc.Read(p)
		now := time.Now()
		if n > 0 {
			k.counter.received(n)
			k.arrived(now)
			return n, err
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if err := k.quiet(now); err != nil {
			return 0, err
		}
	}
}

// arrived notes that bytes came at now. The deadline moves only when it
// has grown a quarter stale, or when a message's clock ends before it, so
// most reads cost no timer update, and so do most messages while
// -message-timeout is at least the step (as with the defaults; a shorter
// one may move the deadline once a message). An early
// expiry is harmless: quiet sees that the client has not been quiet long
// enough.
func (k *connReader) arrived(now time.Time) {
	k.last = now
	step := k.step()
	if k.msgArmed && k.msgTimeout > 0 { // the first bytes of a message: its clock starts
		k.msgArmed = false
		k.msgDeadline = now.Add(k.msgTimeout)
		if k.deadline.IsZero() || k.msgDeadline.Before(k.deadline) {
			k.setDeadline(now.Add(step))
			return
		}
	}
	if k.deadline.Sub(now) < step*3/4 {
		k.setDeadline(now.Add(step))
	}
}

// quiet runs when the read deadline expires: it fails a connection that
// the memory budget evicted, one whose message is late or that is idle,
// pings one that is due a ping, and sets the deadline to the next event.
func (k *connReader) quiet(now time.Time) error {
	if k.ws.evicted.Load() { // the budget needs what this connection holds (budget.go:evictFor)
		return errBudget
	}
	if !k.msgDeadline.IsZero() && !now.Before(k.msgDeadline) {
		return errMessageTimeout
	}
	idleAt := k.last.Add(k.idle)
	if k.idle > 0 && !now.Before(idleAt) {
		return errIdleTimeout
	}
	next := idleAt
	if k.ping > 0 {
		pingAt := k.last.Add(k.ping)
		if k.pinged.After(k.last) {
			pingAt = k.pinged.Add(k.ping)
		}
		if !now.Before(pingAt) {
			if err := k.ws.writeFrame(pingFrame, false, false); err != nil && err != errCloseSent {
				return err
			}
			k.pinged = now
			pingAt = now.Add(k.ping)
		}
		if k.idle == 0 || pingAt.Before(next) {
			next = pingAt
		}
	}
	k.setDeadline(next)
	return nil
}
