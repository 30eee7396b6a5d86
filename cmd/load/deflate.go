package main

// deflate.go: -deflate, the load's side of permessage-deflate (RFC 7692),
// to compare servers' compression under the same load. The client offers
// what Chromium offers, sends a JSON-like text message compressed (the
// same frame every time: it does not take over its own context), and
// inflates each echo that comes compressed, keeping the server's context
// when the server takes it over, and checks it. The compression itself is
// internal/wstest's.

import (
	"bytes"
	"compress/flate"
	"fmt"

	"wsecho/internal/wstest"
)

// deflateOffer is Chromium's offer, -offer's default.
const deflateOffer = "permessage-deflate; client_max_window_bits"

// agreedDeflate is the inflater for the echoes under what the 101's
// Sec-WebSocket-Extensions agreed.
func agreedDeflate(value string) (*wstest.Inflater, error) {
	d, err := wstest.ParseDeflate(value)
	if err != nil {
		return nil, err
	}
	return wstest.NewInflater(d), nil
}

// jsonText is n bytes of JSON-like text, as a chat sends: compressible.
func jsonText(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","text":"hello from the load, message %d","ok":%v},`, i*7919%100000, i%37, i, i%3 == 0)
	}
	return b.Bytes()[:n]
}

// compressMessage is p compressed as a client sends it (§7.2.1), afresh.
func compressMessage(p []byte) ([]byte, error) {
	return wstest.NewCompressor(flate.BestSpeed, true).Compress(p)
}

// echoDeflate waits for the echo of the compressed message: a text frame,
// RSV1 set if the server compressed it, and any continuations; inflated
// if compressed, it must be the message.
func (c *client) echoDeflate() error {
	c.z = c.z[:0]
	compressed := false
	for first := true; ; first = false {
		h, err := wstest.ReadHeader(c.br, &c.hdr, true)
		if err != nil {
			return err
		}
		want := wstest.OpContinuation
		if first {
			compressed, want = h.RSV == wstest.RSV1, wstest.OpText
		}
		if h.Opcode != want || uint64(len(c.z))+h.Length > uint64(2*len(c.msg)+1024) {
			return fmt.Errorf("unexpected frame %#x of %d bytes", c.hdr[0], h.Length)
		}
		start := len(c.z)
		c.z = append(c.z, make([]byte, h.Length)...)
		if err := wstest.ReadPayload(c.br, c.z[start:]); err != nil {
			return err
		}
		if h.Fin {
			break
		}
	}
	got := c.z
	if compressed {
		var err error
		if got, err = c.zin.Inflate(c.z); err != nil {
			return fmt.Errorf("echo: %w", err)
		}
	}
	if !bytes.Equal(got, c.msg) {
		return fmt.Errorf("echo of %d bytes differs from the %d-byte message", len(got), len(c.msg))
	}
	return nil
}
