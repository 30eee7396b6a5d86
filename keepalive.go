package main

// keepalive.go keeps a quiet connection honest: a client quiet for the ping
// interval gets a ping (RFC 6455 §5.5.2), and one that sends nothing, not
// even a pong, for the idle timeout is closed with 1001. It sits under the
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

	wait readiness // the wait between messages that holds no buffer (idle.go)
}

// pingFrame is the server's keepalive ping: FIN, opcode 9, no payload.
var pingFrame = []byte{0x80 | byte(opPing), 0}

// newConnReader reads from nc.
func newConnReader(nc net.Conn) *connReader {
	k := &connReader{nc: nc}
	k.wait.init(k, nc)
	return k
}

// activate starts the frame phase for ws, and its keepalive, as if the
// client had just spoken.
func (k *connReader) activate(ws *wsConn, ping, idle time.Duration) {
	k.ws, k.ping, k.idle = ws, ping, idle
	k.last = time.Now()
	k.setDeadline(k.last.Add(k.step()))
}

// step is the time from the last bytes to the first keepalive event (zero:
// no keepalive).
func (k *connReader) step() time.Duration {
	if k.ping > 0 && (k.idle == 0 || k.ping < k.idle) {
		return k.ping
	}
	return k.idle
}

// setDeadline sets the read deadline to at; without keepalive, to none.
func (k *connReader) setDeadline(at time.Time) {
	if k.step() == 0 {
		at = time.Time{}
		if k.deadline.IsZero() {
			return
		}
	}
	k.deadline = at
	k.nc.SetReadDeadline(at)
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
// has grown a quarter stale, so most reads cost no timer update; an early
// expiry is harmless: quiet sees that the client has not been quiet long enough.
func (k *connReader) arrived(now time.Time) {
	k.last = now
	if step := k.step(); k.deadline.Sub(now) < step*3/4 {
		k.setDeadline(now.Add(step))
	}
}

// quiet runs when the read deadline expires: it fails an idle connection,
// pings one that is due a ping, and sets the deadline to the next event.
func (k *connReader) quiet(now time.Time) error {
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
