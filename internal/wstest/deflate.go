package wstest

// deflate.go: the client's side of permessage-deflate (RFC 7692): what
// the server's 101 agreed, the client's messages compressed as §7.2.1
// asks, the server's inflated as §7.2.2 asks, with compress/flate.

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// tail is put back after a compressed message before it is inflated.
// §7.2.2 puts back the 00 00 ff ff that the sender cut off (§7.2.1); the
// empty final stored block after it (01 00 00 ff ff) is this client's: it
// ends the DEFLATE stream, so that compress/flate reports the message's
// end as io.EOF instead of asking for more.
var tail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// Deflate is what a 101 agreed of permessage-deflate (§7.1).
type Deflate struct {
	ServerNoContext bool // server_no_context_takeover: each of the server's messages starts afresh (§7.1.1.1)
	ClientNoContext bool // client_no_context_takeover: each of the client's must (§7.1.1.2)
	ServerBits      int  // server_max_window_bits: the server refers back at most 2^ServerBits bytes (§7.1.2.1); 15 if not named
	ClientBits      int  // client_max_window_bits: so may the client (§7.1.2.2); 15 if not named
}

// ParseDeflate reads a 101's Sec-WebSocket-Extensions value, which must
// be permessage-deflate and parameters of §7.1, each once, with valid
// values; anything else is an error, on which a client fails the
// connection, as RFC 7692 §7 asks.
func ParseDeflate(value string) (Deflate, error) {
	d := Deflate{ServerBits: 15, ClientBits: 15}
	parts := strings.Split(value, ";")
	if strings.TrimSpace(parts[0]) != "permessage-deflate" {
		return d, fmt.Errorf("server agreed %q, not permessage-deflate", value)
	}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		name, v, hasValue := strings.Cut(strings.TrimSpace(p), "=")
		name, v = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(v), `"`)
		if seen[name] {
			return d, fmt.Errorf("server named %q twice", name)
		}
		seen[name] = true
		var err error
		switch {
		case name == "server_no_context_takeover" && !hasValue:
			d.ServerNoContext = true
		case name == "client_no_context_takeover" && !hasValue:
			d.ClientNoContext = true
		case name == "server_max_window_bits":
			d.ServerBits, err = windowBits(v)
		case name == "client_max_window_bits":
			d.ClientBits, err = windowBits(v)
		default:
			return d, fmt.Errorf("server named %q, which permessage-deflate does not define", strings.TrimSpace(p))
		}
		if err != nil {
			return d, err
		}
	}
	return d, nil
}

// windowBits reads a window's bits: 8 to 15 (§7.1.2).
func windowBits(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, fmt.Errorf("window bits %q: not 8 to 15", v)
	}
	return n, nil
}

// Compressor compresses the client's messages (§7.2.1).
type Compressor struct {
	fw        *flate.Writer
	out       bytes.Buffer
	noContext bool
}

// NewCompressor compresses at level, one of compress/flate's. With
// noContext, each message starts afresh, as client_no_context_takeover
// asks (§7.1.1.2); else each may refer back to the ones before.
// compress/flate's window is always 32 KiB, so a client_max_window_bits
// under 15 is kept only by a level that refers back to nothing
// (flate.HuffmanOnly).
func NewCompressor(level int, noContext bool) *Compressor {
	c := &Compressor{noContext: noContext}
	c.fw, _ = flate.NewWriter(&c.out, level)
	return c
}

// Write adds p to the message being compressed.
func (c *Compressor) Write(p []byte) (int, error) { return c.fw.Write(p) }

// Message ends the message written so far and returns it as a client
// sends it: flushed, which ends it in an empty stored block, whose
// 00 00 ff ff is cut off (§7.2.1). The bytes are the caller's to keep.
func (c *Compressor) Message() ([]byte, error) {
	defer func() {
		c.out.Reset()
		if c.noContext {
			c.fw.Reset(&c.out)
		}
	}()
	if err := c.fw.Flush(); err != nil {
		return nil, err
	}
	z := c.out.Bytes()
	if !bytes.HasSuffix(z, tail[:4]) {
		return nil, errors.New("compress/flate's flush did not end in 00 00 ff ff")
	}
	return bytes.Clone(z[:len(z)-4]), nil
}

// Compress is p compressed as one message: Write, then Message.
func (c *Compressor) Compress(p []byte) ([]byte, error) {
	if _, err := c.fw.Write(p); err != nil {
		return nil, err
	}
	return c.Message()
}

// Inflater inflates the server's compressed messages (§7.2.2), each with
// the messages before it as its context unless the server agreed to
// start every message afresh (§7.1.1.1).
type Inflater struct {
	noContext bool
	window    int    // how far back the server may refer: 2^server_max_window_bits bytes
	hist      []byte // the last window bytes of the server's messages, when it keeps its context
	in        []byte // a message and the tail
	src       bytes.Reader
	fr        io.ReadCloser
	out       bytes.Buffer
}

// NewInflater inflates what a server sends under the agreement d.
func NewInflater(d Deflate) *Inflater {
	return &Inflater{noContext: d.ServerNoContext, window: 1 << d.ServerBits, fr: flate.NewReader(nil)}
}

// Inflate is the message that z, a compressed message from the server,
// inflates to. A server that refers back further than its window fails
// here, as its earlier bytes are not there. The bytes are valid until the
// next call.
func (f *Inflater) Inflate(z []byte) ([]byte, error) {
	f.in = append(append(f.in[:0], z...), tail...)
	f.src.Reset(f.in)
	var dict []byte
	if !f.noContext {
		dict = f.hist
	}
	f.fr.(flate.Resetter).Reset(&f.src, dict)
	f.out.Reset()
	if _, err := f.out.ReadFrom(f.fr); err != nil {
		return nil, fmt.Errorf("compressed message does not inflate: %w", err)
	}
	p := f.out.Bytes()
	if !f.noContext {
		f.hist = append(f.hist, p...)
		if len(f.hist) > f.window {
			f.hist = append(f.hist[:0], f.hist[len(f.hist)-f.window:]...)
		}
	}
	return p, nil
}
