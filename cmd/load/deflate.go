package main

// deflate.go: -deflate, the load's side of permessage-deflate (RFC 7692),
// to compare servers' compression under the same load. The client offers
// what Chromium offers, sends a JSON-like text message compressed (the
// same frame every time: it does not take over its own context), and
// inflates each echo that comes compressed, keeping the server's context
// when the server takes it over, and checks it.

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
)

// deflateOffer is Chromium's offer, -offer's default.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// inflater is one client's side of the server's compressed echoes.
type inflater struct {
	takeover bool   // the server may refer back to earlier echoes: keep them
	hist     []byte // the last 32 KiB of echoes, when takeover
	fr       io.ReadCloser
	src      bytes.Reader
	out      bytes.Buffer
}

// agreedDeflate reads the 101's Sec-WebSocket-Extensions line.
func agreedDeflate(value string) (*inflater, error) {
	parts := strings.Split(value, ";")
	if strings.TrimSpace(parts[0]) != "permessage-deflate" {
		return nil, fmt.Errorf("server agreed %q, not permessage-deflate", value)
	}
	f := &inflater{takeover: true, fr: flate.NewReader(nil)}
	for _, p := range parts[1:] {
		if strings.TrimSpace(p) == "server_no_context_takeover" {
			f.takeover = false
		}
	}
	return f, nil
}

// deflateTail is what a compressed message is given back before inflating
// (§7.2.2), and an empty final block to end it.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// inflate is the message that z, a compressed echo, inflates to.
func (f *inflater) inflate(z []byte) ([]byte, error) {
	f.src.Reset(append(z, deflateTail...))
	var dict []byte
	if f.takeover {
		dict = f.hist
	}
	f.fr.(flate.Resetter).Reset(&f.src, dict)
	f.out.Reset()
	if _, err := f.out.ReadFrom(f.fr); err != nil {
		return nil, fmt.Errorf("echo does not inflate: %w", err)
	}
	p := f.out.Bytes()
	if f.takeover {
		f.hist = append(f.hist, p...)
		if len(f.hist) > 1<<15 {
			f.hist = append(f.hist[:0], f.hist[len(f.hist)-1<<15:]...)
		}
	}
	return p, nil
}

// jsonText is n bytes of JSON-like text, as a chat sends: compressible.
func jsonText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","text":"hello from the load, message %d","ok":%v},`, i*7919%100000, i%37, i, i%3 == 0)
	}
	return b.Bytes()[:n]
}

// compressMessage is p compressed as a client sends it (§7.2.1).
func compressMessage(p []byte) ([]byte, error) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(p)
	w.Flush()
	z := b.Bytes()
	if !bytes.HasSuffix(z, deflateTail[:4]) {
		return nil, errors.New("compress/flate's flush did not end in 00 00 ff ff")
	}
	return z[:len(z)-4], nil
}

// echoDeflate waits for the echo of the compressed message: a text frame,
// RSV1 set if the server compressed it, and any continuations; inflated
// if compressed, it must be the message.
func (c *client) echoDeflate() error {
	c.z = c.z[:0]
	compressed := false
	for first := true; ; first = false {
		n, err := c.readHead()
		if err != nil {
			return err
		}
		op, want := c.hdr[0]&0x3F, byte(0x0)
		if first {
			compressed, want = c.hdr[0]&0x40 != 0, 0x1
		}
		if op != want || c.hdr[1]&0x80 != 0 || len(c.z)+n > 2*len(c.msg)+1024 {
			return fmt.Errorf("unexpected frame %#x of %d bytes", c.hdr[0], n)
		}
		start := len(c.z)
		c.z = append(c.z, make([]byte, n)...)
		if _, err := io.ReadFull(c.br, c.z[start:]); err != nil {
			return err
		}
		if c.hdr[0]&0x80 != 0 { // FIN
			break
		}
	}
	got := c.z
	if compressed {
		var err error
		if got, err = c.zin.inflate(c.z); err != nil {
			return err
		}
	}
	if !bytes.Equal(got, c.msg) {
		return fmt.Errorf("echo of %d bytes differs from the %d-byte message", len(got), len(c.msg))
	}
	return nil
}
