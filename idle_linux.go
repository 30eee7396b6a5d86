package main

// idle_linux.go is idle.go's readiness wait on Linux: the read happens only
// once the socket is readable, which costs the same system calls as a
// plain read (net.Conn.Read also tries, and on EAGAIN waits for the
// poller), with the buffer taken only for the try.

import (
	"io"
	"os"
	"syscall"
	"time"
)

// readReady waits until the socket is readable, holding no buffer, then
// reads what is there into a buffer from the pools (k.wait.buf, k.wait.pend).
func (k *connReader) readReady() error {
	w := &k.wait
	w.n, w.rerr = 0, nil
	err := w.raw.Read(w.tryRead)
	switch {
	case err != nil: // the read deadline, or the connection closed
	case w.rerr != nil:
		err = os.NewSyscallError("read", w.rerr)
	case w.n == 0:
		err = io.EOF
	}
	if err != nil {
		w.release()
		return err
	}
	w.arrived(w.n) // direct.go
	k.counter.received(w.n)
	k.arrived(time.Now())
	return nil
}

// nonblockingRead is readReady's read, called by the poller each time the
// socket may be readable; false means "not yet, wait". It is a method kept
// as a func value, and its results are fields, so that a wait allocates nothing.
func (k *connReader) nonblockingRead(fd uintptr) bool {
	w := &k.wait
	b := w.readBuf() // direct.go: a message buffer, where the payload would go
	for {
		w.n, w.rerr = syscall.Read(int(fd), b)
		if w.rerr != syscall.EINTR {
			break
		}
	}
	if w.rerr == syscall.EAGAIN {
		w.release()
		return false // not readable yet: the poller waits, then calls again
	}
	return true
}
