package tcpecho

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestEcho: what a connection sends comes back, and Serve returns nil
// once its listener is closed.
func TestEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := bytes.Repeat([]byte("echo "), 100_000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v", err)
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
}

// failingListener fails its first Accepts with errs, then is closed.
type failingListener struct {
	net.Listener
	errs  []error
	calls atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if i := int(l.calls.Add(1)) - 1; i < len(l.errs) {
		return nil, l.errs[i]
	}
	return nil, net.ErrClosed
}

// TestAcceptRetries: running out of file descriptors does not end the
// echo; another failure does.
func TestAcceptRetries(t *testing.T) {
	l := &failingListener{errs: []error{syscall.EMFILE, syscall.ENFILE, syscall.EMFILE}}
	if err := Serve(l); err != nil || l.calls.Load() != 4 {
		t.Fatalf("Serve: %v after %d Accepts; want nil after 4", err, l.calls.Load())
	}
	other := errors.New("listener broken")
	l = &failingListener{errs: []error{other}}
	if err := Serve(l); err != other {
		t.Fatalf("Serve: %v, want %v", err, other)
	}
}
