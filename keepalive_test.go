package main

// keepalive_test.go: what the keepalive costs a busy connection.

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// deadlineCounter is a connection that reads from r, writes nowhere,
// counts the read deadlines set on it, and keeps the last of each kind.
type deadlineCounter struct {
	net.Conn    // nil: only what the reading path calls is implemented
	r           io.Reader
	set         int
	read, write time.Time
}

func (d *deadlineCounter) Read(p []byte) (int, error)         { return d.r.Read(p) }
func (d *deadlineCounter) SetReadDeadline(t time.Time) error  { d.set++; d.read = t; return nil }
func (d *deadlineCounter) SetWriteDeadline(t time.Time) error { d.write = t; return nil }
func (d *deadlineCounter) Write(p []byte) (int, error)        { return len(p), nil }

// TestKeepaliveCostsNoTimerPerMessage: a thousand small messages with the
// default ping interval, idle timeout and message timeout set the read
// deadline a few times, not once a message: each message starts its clock
// (keepalive.go:arrived), but the deadline in force already comes before
// the message's, so the runtime's timer is left alone.
func TestKeepaliveCostsNoTimerPerMessage(t *testing.T) {
	const messages = 1000
	frame := frames(text("sixteen bytes..."))
	in := bytes.Repeat(frame, messages)
	nc := &deadlineCounter{r: smallReads{bytes.NewReader(in), len(frame)}} // a message a read, as an echo's client sends them
	kr := newConnReader(nc)
	ws := newWSConn(bufio.NewReaderSize(kr, readBufferSize), io.Discard, 1<<20)
	ws.kr = kr
	kr.activate(ws, defaultPingInterval, defaultIdleTimeout, defaultMessageTimeout)
	if err := ws.readFrames(); err != io.EOF {
		t.Fatal(err)
	}
	if ws.messages != messages {
		t.Fatalf("%d messages echoed, want %d", ws.messages, messages)
	}
	if nc.set > 10 {
		t.Errorf("the read deadline was set %d times for %d messages", nc.set, messages)
	}
}
