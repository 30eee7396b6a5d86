//go:build !linux

package main

// idle_other.go: the readiness wait of idle_linux.go is Linux's; elsewhere
// a quiet connection waits in its bufio.Reader's buffer instead.

// readReady has no non-blocking read to use here: Read will wait.
func (k *connReader) readReady() error { return nil }

// nonblockingRead is not used where readReady does not read.
func (k *connReader) nonblockingRead(fd uintptr) bool { return true }
