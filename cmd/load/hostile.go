package main

// hostile.go: -mode noread, trickle and hold, clients that misbehave, one
// way each, while the server's memory is watched; then a fresh client's
// echo shows that the server still serves.

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"wsecho/internal/wstest"
)

// hostile is one run of misbehaving clients: what they share and what
// they saw.
type hostile struct {
	o       options
	stop    time.Time      // every client's reads and writes end here
	trickle []byte         // trickle's frame
	held    *heldMessage   // hold's message
	dropped atomic.Int64   // clients the server closed or dropped
	mu      sync.Mutex     // guards codes
	codes   map[uint16]int // the server's Close codes, for hold
}

// hostileRun opens -conns clients that misbehave as -mode says, watches
// the server's memory while they do, then closes them and checks a fresh
// client's echo.
func hostileRun(o options) error {
	if o.pid == 0 {
		return errors.New("-mode " + o.mode + " needs -pid")
	}
	h := &hostile{o: o, codes: map[uint16]int{}}
	behave, payload := h.noread, make([]byte, o.size)
	switch o.mode {
	case "trickle":
		behave, payload = h.trickleOne, nil
		h.trickle = wstest.Frame{Fin: true, Opcode: wstest.OpBinary, Payload: make([]byte, 1000), Declare: 60 << 20}.Append(nil, wstest.NewMaskKey())
	case "hold":
		behave, payload = h.hold, nil
		h.held = newHeldMessage(o.size)
	}
	d := newDialer(o.sources, o.conns)
	rss0 := procRSS(o.pid)
	clients, err := openAll(d, o, payload)
	if err != nil {
		return err
	}
	h.stop = time.Now().Add(o.duration)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { c.nc.SetWriteDeadline(h.stop); behave(c) })
	}
	go func() { wg.Wait(); close(done) }()
	peak := peakRSS(o.pid, rss0, done, o.duration+time.Minute)
	<-done // each client's reads and writes end at h.stop
	fmt.Printf("%s: %d connections for up to %v: server RSS %d KiB before, %d KiB at the peak (%.1f KiB per connection); "+
		"%d dropped by the server\n", o.mode, len(clients), o.duration, rss0, peak,
		float64(peak-rss0)/float64(len(clients)), h.dropped.Load())
	if len(h.codes) > 0 {
		fmt.Printf("the server's Close codes: %v\n", h.codes)
	}
	closeAll(clients)
	time.Sleep(3 * time.Second)
	fmt.Printf("after they are gone: server RSS %d KiB\n", procRSS(o.pid))
	return freshEcho(d, o)
}

// noread sends -size messages as fast as it can and never reads, until
// -duration is over or the server drops it.
func (h *hostile) noread(c *client) {
	for time.Now().Before(h.stop) {
		if _, err := c.nc.Write(c.frame); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				h.dropped.Add(1)
			}
			return
		}
	}
}

// trickleOne announces a 60 MiB frame, sends 1000 bytes of it, and waits
// for -duration: pings are fine, a Close or the end of the connection is
// a drop.
func (h *hostile) trickleOne(c *client) {
	c.nc.Write(h.trickle)
	h.wait(c, false)
}

// hold sends -size bytes of a message, never its end, and waits for
// -duration, counting the server's Close code if it sends one.
func (h *hostile) hold(c *client) {
	h.held.send(func(b []byte) error {
		_, err := c.nc.Write(b)
		return err
	})
	h.wait(c, true)
}

// wait reads what the server sends until -duration is over, and counts
// the client dropped if the server closes it first (with its Close code,
// if countCode).
func (h *hostile) wait(c *client, countCode bool) {
	c.nc.SetReadDeadline(h.stop)
	code, err := untilClosed(c)
	switch {
	case code >= 0:
		if countCode {
			h.mu.Lock()
			h.codes[uint16(code)]++
			h.mu.Unlock()
		}
		h.dropped.Add(1)
	case !errors.Is(err, os.ErrDeadlineExceeded):
		h.dropped.Add(1)
	}
}

// freshEcho opens one new client and times its echo of 16 bytes.
func freshEcho(d *dialer, o options) error {
	o.conns = 1
	fresh, err := openAll(d, o, make([]byte, 16))
	if err != nil {
		return err
	}
	defer closeAll(fresh)
	t0 := time.Now()
	if err := fresh[0].echo(); err != nil {
		return fmt.Errorf("fresh client: %w", err)
	}
	fmt.Printf("a fresh client's echo: %v\n", time.Since(t0))
	return nil
}

// holdPiece is the size of a held message's fragments.
const holdPiece = 1 << 20

// heldMessage is a binary message of size bytes as the frames a client
// sends to make the server hold it: fragments of holdPiece bytes (the
// last may be shorter), none with FIN set, so that the message never
// ends. The payload is zeros masked with one key, so fragments of the same
// length are the same bytes, and each is laid out once.
type heldMessage struct {
	size                int
	first, middle, last []byte // the binary frame, a continuation of holdPiece bytes, the shorter last one
}

// newHeldMessage lays out the fragments of a held message of size bytes.
func newHeldMessage(size int) *heldMessage {
	key := wstest.NewMaskKey()
	frame := func(op byte, n int) []byte {
		return wstest.Frame{Opcode: op, Payload: make([]byte, n)}.Append(nil, key)
	}
	m := &heldMessage{size: size, first: frame(wstest.OpBinary, min(size, holdPiece))}
	if size > holdPiece {
		m.middle = frame(wstest.OpContinuation, holdPiece)
		m.last = frame(wstest.OpContinuation, (size-1)%holdPiece+1)
	}
	return m
}

// send writes the fragments in order with write, and stops at the first
// that fails: the server may close before it is all sent.
func (m *heldMessage) send(write func([]byte) error) {
	for sent := 0; sent < m.size; sent += holdPiece {
		f := m.middle
		switch {
		case sent == 0:
			f = m.first
		case m.size-sent <= holdPiece:
			f = m.last
		}
		if write(f) != nil {
			return
		}
	}
}
