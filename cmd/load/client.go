package main

// client.go: one connection of the load, on internal/wstest: its opening
// handshake, the message it sends, the echo read back and checked, and the
// server's frames read until a message ends or a Close comes.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"wsecho/internal/wstest"
)

// client is one connection of the load.
type client struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte                    // the message as it goes on the wire: masked frame, or raw bytes with -tcp
	reply []byte                    // room for the echo's payload
	hdr   [wstest.MaxHeaderLen]byte // the header being read, kept here so that reading one allocates nothing
	tcp   bool
	msg   []byte           // the message, to check inflated echoes against (-deflate)
	zin   *wstest.Inflater // -deflate: the server's compressed echoes (deflate.go)
	z     []byte           // a compressed echo as it arrives
}

// connect opens a client and, unless tcp, completes the WebSocket handshake.
func connect(d *dialer, o options, payload []byte) (*client, error) {
	nc, err := d.dial(o.addr)
	if err != nil {
		return nil, err
	}
	c := &client{nc: nc, tcp: o.tcp, reply: make([]byte, len(payload))}
	c.frame = maskedFrame(0x82, payload)
	if o.deflate {
		z, err := compressMessage(payload)
		if err != nil {
			nc.Close()
			return nil, err
		}
		c.frame, c.msg = maskedFrame(0xC1, z), payload // FIN, RSV1 (compressed), text
	}
	if o.tcp {
		c.br, c.reply = bufio.NewReader(nc), make([]byte, len(c.frame))
		return c, nil
	}
	if err := c.handshake(o); err != nil {
		return nil, err
	}
	return c, nil
}

// upgrade is the handshake's request: with -deflate, offering -offer.
func upgrade(o options) wstest.Upgrade {
	u := wstest.Upgrade{Host: o.addr}
	if o.deflate {
		u.Extra = []string{"Sec-WebSocket-Extensions: " + o.offer + "\r\n"}
	}
	return u
}

// handshake completes the opening handshake, with 30 s for it, and with
// -deflate reads what the server agreed. It closes the connection if the
// handshake fails.
func (c *client) handshake(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, err := wstest.Handshake(ctx, c.nc, upgrade(o))
	if err != nil {
		return err
	}
	c.br = ws.BR
	if !o.deflate {
		return nil
	}
	agreed := ws.Header.Get("Sec-WebSocket-Extensions")
	if agreed == "" {
		err = errors.New("the server did not agree permessage-deflate (run it with -deflate)")
	} else {
		c.zin, err = agreedDeflate(agreed)
	}
	if err != nil {
		c.nc.Close()
	}
	return err
}

// maskedFrame is a message as a client sends it, with first byte b0 (FIN,
// RSV, opcode), masked with a key of its own (RFC 6455 §5.3).
func maskedFrame(b0 byte, payload []byte) []byte {
	f := wstest.Frame{Fin: b0&0x80 != 0, RSV: b0 & 0x70, Opcode: b0 & 0x0F, Payload: payload}
	return f.Append(make([]byte, 0, wstest.MaxHeaderLen+4+len(payload)), wstest.NewMaskKey())
}

// echo sends the message and waits for it to come back whole.
func (c *client) echo() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	switch {
	case c.tcp:
		_, err := io.ReadFull(c.br, c.reply)
		return err
	case c.zin != nil:
		return c.echoDeflate()
	}
	return c.echoFrames()
}

// echoFrames reads the echo of the binary message: one binary frame, or
// a binary frame and continuations (RFC 6455 §5.4: a server may fragment
// its echo, and some do), adding up to the payload sent.
func (c *client) echoFrames() error {
	got, want := 0, wstest.OpBinary // the first frame is binary, the rest continuations
	for {
		h, err := wstest.ReadHeader(c.br, &c.hdr, false)
		if err != nil {
			return err
		}
		if h.Opcode != want || h.Length > uint64(len(c.reply)-got) {
			return fmt.Errorf("unexpected frame %#x of %d bytes", c.hdr[0], h.Length)
		}
		n := int(h.Length)
		if err := wstest.ReadPayload(c.br, c.reply[got:got+n]); err != nil {
			return err
		}
		got += n
		if h.Fin {
			if got != len(c.reply) {
				return fmt.Errorf("echo of %d bytes, sent %d", got, len(c.reply))
			}
			return nil
		}
		want = wstest.OpContinuation
	}
}

// readMessage reads the server's frames until the end of a data message,
// or a Close (code: its code, 1005 if it has none; -1 if no Close came).
// It keeps up to limit bytes of the payload, in into[:0], as it came
// (compressed, if the server compressed it: with -deflate agreed RSV1 may
// be set); pings are answered only when pong is set.
func readMessage(c *client, into []byte, limit int, pong bool) (op byte, p []byte, code int, err error) {
	p = into[:0]
	for range 1 << 20 {
		h, err := wstest.ReadHeader(c.br, &c.hdr, c.zin != nil)
		if err != nil {
			return 0, p, -1, err
		}
		if h.IsControl() {
			if code, err := c.control(h, pong); code >= 0 || err != nil {
				return h.Opcode, p, code, err
			}
			continue
		}
		if h.Opcode != wstest.OpContinuation {
			op = h.Opcode
		}
		if p, err = keep(c.br, p, h.Length, limit); err != nil {
			return op, p, -1, err
		}
		if h.Fin {
			return op, p, -1, nil
		}
	}
	return op, p, -1, errors.New("too many frames")
}

// control reads the payload of the control frame whose header is h: a
// Close's code is returned (1005 if it has none), a ping is answered with
// a pong if pong is set; code is -1 for all but a Close.
func (c *client) control(h wstest.Header, pong bool) (code int, err error) {
	var buf [125]byte // a control frame's most (RFC 6455 §5.5), as ReadHeader checked
	p := buf[:h.Length]
	if err := wstest.ReadPayload(c.br, p); err != nil {
		return -1, err
	}
	switch {
	case h.Opcode == wstest.OpClose:
		return int(wstest.CloseCode(p)), nil
	case h.Opcode == wstest.OpPing && pong:
		_, err := c.nc.Write(maskedFrame(0x8A, p))
		return -1, err
	}
	return -1, nil
}

// keep reads a payload of n bytes, appending to p as much as keeps p
// within limit bytes, and drops the rest.
func keep(r io.Reader, p []byte, n uint64, limit int) ([]byte, error) {
	k := min(n, uint64(max(0, limit-len(p))))
	start := len(p)
	p = append(p, make([]byte, k)...)
	if err := wstest.ReadPayload(r, p[start:]); err != nil {
		return p, err
	}
	_, err := io.CopyN(io.Discard, r, int64(n-k))
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the frame was cut short
	}
	return p, err
}

// untilClosed reads what the server sends, answering nothing, until it
// sends a Close (code: its code) or a read fails (err: why, a deadline
// passing among the reasons); code is -1 if no Close came.
func untilClosed(c *client) (code int, err error) {
	for range 1 << 20 {
		if _, _, code, err := readMessage(c, nil, 0, false); code >= 0 || err != nil {
			return code, err
		}
	}
	return -1, errors.New("too many messages")
}

// openAll opens n clients, 100 at a time.
func openAll(d *dialer, o options, payload []byte) ([]*client, error) {
	clients := make([]*client, o.conns)
	var wg sync.WaitGroup
	var first atomic.Value
	sem := make(chan struct{}, 100)
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := connect(d, o, payload)
			if err != nil {
				first.CompareAndSwap(nil, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return clients, err
	}
	return clients, nil
}

// echoAll makes every client echo once, 200 at a time.
func echoAll(clients []*client) error {
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 200)
	for _, c := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.nc.SetDeadline(time.Now().Add(30 * time.Second))
			if err := c.echo(); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// closeAll closes every open client.
func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.nc.Close()
		}
	}
}
