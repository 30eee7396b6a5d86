package main

// limits.go keeps one connection from costing the server without end: a
// keepalive that pings a quiet client and drops a silent one, and a write
// deadline for a client that sends but never reads.

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// connTimeouts are one WebSocket's keepalive and write limits; zero turns one off.
type connTimeouts struct {
	ping  time.Duration // -ping-interval: a client quiet this long gets a ping
	idle  time.Duration // -idle-timeout: a client quiet this long is closed with 1001
	write time.Duration // -write-timeout: a write that makes no progress this long ends the connection
}

// errIdleTimeout fails a connection that sent nothing, not even a pong, for the idle timeout.
var errIdleTimeout = &protocolError{closeGoingAway, "idle timeout"}

// pingFrame is the server's keepalive ping: FIN, opcode 9, no payload (RFC 6455 §5.5.2).
var pingFrame = []byte{0x80 | opPing, 0}

// connReader is what a connection's bufio.Reader reads from: the TCP
// connection and, once it is a WebSocket, the keepalive rules. A read that
// waits the ping interval sends a ping and waits on; a connection quiet for
// the idle timeout fails with 1001. It sits under the bufio.Reader, so a
// wait inside a frame does not lose the place in the frame. Between
// messages the connection waits in waitData, holding no buffer.
type connReader struct {
	nc       net.Conn
	raw      syscall.RawConn // for waitData; nil where the connection has none
	ws       *wsConn         // nil until the upgrade: the handshake has its own deadline
	last     time.Time       // when bytes last arrived
	pinged   time.Time       // when the last ping went out
	deadline time.Time       // the read deadline in force
	slab     *[]byte         // from slabPool: the bytes waitData read
	pend     []byte          // the part of slab not yet handed to the bufio.Reader

	tryRead func(fd uintptr) bool // readReady's read, made once (see readReady)
	n       int                   // what tryRead read
	rerr    error                 // and the error it met
}

// newConnReader reads from nc.
func newConnReader(nc net.Conn) *connReader {
	k := &connReader{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		k.raw, _ = sc.SyscallConn()
		k.tryRead = k.nonblockingRead
	}
	return k
}

// activate starts the frame phase for ws, and its keepalive, as if the
// client had just spoken.
func (k *connReader) activate(ws *wsConn) {
	k.ws = ws
	k.last = time.Now()
	k.setDeadline(k.last.Add(k.step()))
}

// step is the time from the last bytes to the first keepalive event (zero:
// no keepalive).
func (k *connReader) step() time.Duration {
	t := k.ws.timeouts
	if t.ping > 0 && (t.idle == 0 || t.ping < t.idle) {
		return t.ping
	}
	return t.idle
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

// Read reads from the connection, keeping the keepalive's clock; bytes
// that waitData read come first.
func (k *connReader) Read(p []byte) (int, error) {
	if len(k.pend) > 0 {
		n := copy(p, k.pend)
		k.pend = k.pend[n:]
		if len(k.pend) == 0 {
			slabPool.Put(k.slab)
			k.slab, k.pend = nil, nil
		}
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

// waitData waits, between messages, until the client sends something, and
// reads it into a slab from the pool for Read to hand on. It holds no
// buffer while it waits: the read happens only once the socket is readable
// (readReady), which costs the same system calls as a plain read.
func (k *connReader) waitData() error {
	if k.raw == nil || k.ws == nil {
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
	t := k.ws.timeouts
	idleAt := k.last.Add(t.idle)
	if t.idle > 0 && !now.Before(idleAt) {
		return errIdleTimeout
	}
	next := idleAt
	if t.ping > 0 {
		pingAt := k.last.Add(t.ping)
		if k.pinged.After(k.last) {
			pingAt = k.pinged.Add(t.ping)
		}
		if !now.Before(pingAt) {
			if err := k.ws.writeFrame(pingFrame); err != nil && err != errCloseSent {
				return err
			}
			k.pinged = now
			pingAt = now.Add(t.ping)
		}
		if t.idle == 0 || pingAt.Before(next) {
			next = pingAt
		}
	}
	k.setDeadline(next)
	return nil
}

// maxWriteChunk is the most written under one write deadline: a larger
// frame goes out in pieces, each with a fresh deadline, so that a slow
// reader is told apart from one that does not read at all.
const maxWriteChunk = 1 << 20

// write writes frame to the connection under the write deadline. The
// caller holds wmu. One write system call for a frame that fits the socket
// buffer: header and payload are already side by side in frame.
func (c *wsConn) write(frame []byte) error {
	if c.nc == nil || c.timeouts.write == 0 {
		_, err := c.w.Write(frame)
		return err
	}
	for len(frame) > 0 {
		c.armWrite()
		n := min(len(frame), maxWriteChunk)
		if _, err := c.w.Write(frame[:n]); err != nil {
			return err
		}
		frame = frame[n:]
	}
	return nil
}

// armWrite gives the next write a deadline of the write timeout from now,
// refreshed lazily, as in connReader.arrived: only once a quarter stale.
func (c *wsConn) armWrite() {
	now := time.Now()
	if c.writeDeadline.Sub(now) < c.timeouts.write*3/4 {
		c.writeDeadline = now.Add(c.timeouts.write)
		c.nc.SetWriteDeadline(c.writeDeadline)
	}
}

// goAway starts the server's side of the closing handshake at shutdown:
// Close 1001 now if no message is being received, or right after the echo
// of the message being received, so that no message is lost half-way.
func (c *wsConn) goAway(deadline time.Time) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.nc != nil {
		c.writeDeadline = deadline
		c.nc.SetWriteDeadline(deadline) // a client that does not read cannot hold the shutdown
	}
	c.goingAway = true
	if !c.inMessage {
		c.closeLocked(closeGoingAway, "server shutting down")
	}
}
