// Package wstest is a small WebSocket client for the tests, the
// benchmarks and cmd/load: the opening handshake (RFC 6455 §4.1), a
// client's masked frames and a server's frames read and checked (§5), the
// closing handshake (§5.5.1, §7), and the client's side of
// permessage-deflate (RFC 7692). It is written from the RFCs and shares
// no code with the server, so that a bug in the server is not mirrored by
// the client that checks it.
package wstest

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// guid is the string RFC 6455 §1.3 appends to the key before hashing it.
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// SampleKey is the Sec-WebSocket-Key of RFC 6455 §1.3's example (the
// nonce "the sample nonce", base64): a fixed key, for tests that compare
// a request's bytes. Every other handshake should use NewKey.
const SampleKey = "dGhlIHNhbXBsZSBub25jZQ=="

// NewKey is a fresh Sec-WebSocket-Key: 16 random bytes, base64 (§4.1).
func NewKey() string {
	var k [16]byte
	rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// Accept is the Sec-WebSocket-Accept a server must answer key with
// (§1.3, §4.2.2): the SHA-1 of the key and the GUID, base64.
func Accept(key string) string {
	sum := sha1.Sum([]byte(key + guid))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Upgrade is an opening handshake's request (§4.1).
type Upgrade struct {
	Host  string   // the Host field; Dial's addr if empty
	Path  string   // the request target; "/" if empty
	Key   string   // Sec-WebSocket-Key; Handshake makes one with NewKey if empty
	Extra []string // more header lines, each "Name: value\r\n"
}

// Request is the request as it goes on the wire: the fields §4.1 asks
// of every client (Host, Upgrade, Connection, Sec-WebSocket-Key,
// Sec-WebSocket-Version), with u.Key as it is, then u.Extra.
func (u Upgrade) Request() string {
	path := u.Path
	if path == "" {
		path = "/"
	}
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + u.Host + "\r\n" +
		"Connection: Upgrade\r\n" +
		"Upgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: " + u.Key + "\r\n" +
		strings.Join(u.Extra, "") +
		"\r\n"
}

// Conn is a connection whose opening handshake succeeded.
type Conn struct {
	NC     net.Conn
	BR     *bufio.Reader // reads NC: the server's frames, from the first after the 101
	Header http.Header   // the 101's header fields
}

// Dial connects to addr over TCP and completes the opening handshake of
// u; ctx bounds both.
func Dial(ctx context.Context, addr string, u Upgrade) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		u.Host = addr
	}
	return Handshake(ctx, nc, u)
}

// Handshake completes the opening handshake of u on nc: it writes the
// request, reads the response with net/http, and checks it as §4.1 asks a
// client to: status 101, Upgrade "websocket", Connection "Upgrade", and
// Sec-WebSocket-Accept computed here from the key (§1.3). ctx bounds it,
// through nc's deadline, which it clears after. If the handshake fails,
// it closes nc and says why in an error that begins "handshake: ".
func Handshake(ctx context.Context, nc net.Conn, u Upgrade) (c *Conn, err error) {
	defer func() {
		if err != nil {
			nc.Close()
			err = fmt.Errorf("handshake: %w", err)
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	// A cancel without a deadline ends the handshake the same way.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if u.Key == "" {
		u.Key = NewKey()
	}
	if _, err := nc.Write([]byte(u.Request())); err != nil {
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if err := checkSwitch(resp, u.Key); err != nil {
		return nil, err
	}
	if !stop() { // the cancel came after all, and has set the deadline
		return nil, ctx.Err()
	}
	nc.SetDeadline(time.Time{})
	return &Conn{NC: nc, BR: br, Header: resp.Header}, nil
}

// checkSwitch checks the server's answer to a request with key (§4.1).
func checkSwitch(resp *http.Response, key string) error {
	want := Accept(key)
	got := resp.Header.Get("Sec-WebSocket-Accept")
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols || got != want:
		return fmt.Errorf("status %d, Sec-WebSocket-Accept %q (want %q)", resp.StatusCode, got, want)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return fmt.Errorf("Upgrade %q, not websocket", resp.Header.Get("Upgrade"))
	case !hasToken(resp.Header.Values("Connection"), "upgrade"):
		return fmt.Errorf("Connection %q has no Upgrade", resp.Header.Values("Connection"))
	}
	return nil
}

// hasToken says whether a comma-separated list field holds token, in any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// WriteFrame sends f, masked with a fresh key (§5.3).
func (c *Conn) WriteFrame(f Frame) error {
	_, err := c.NC.Write(f.Append(nil, NewMaskKey()))
	return err
}

// ReadFrame reads the server's next frame, as the package's ReadFrame,
// with RSV1 allowed if the 101 agreed permessage-deflate.
func (c *Conn) ReadFrame() (Frame, error) { return ReadFrame(c.BR, c.Deflate()) }

// Deflate says whether the 101 agreed permessage-deflate.
func (c *Conn) Deflate() bool {
	_, err := ParseDeflate(c.Header.Get("Sec-WebSocket-Extensions"))
	return err == nil
}

// Close runs the closing handshake from the client's side (§5.5.1,
// §7.1.2): it sends a Close with code and reason, reads the server's
// frames up to its Close, whose code it returns (CloseCode), and closes
// the TCP connection. Frames the server sent before it saw the Close are
// read and dropped, as §5.5.1 lets a server finish a message; a deadline
// on c.NC bounds the wait.
func (c *Conn) Close(code uint16, reason string) (uint16, error) {
	defer c.NC.Close()
	p := append([]byte{byte(code >> 8), byte(code)}, reason...)
	if err := c.WriteFrame(Frame{Fin: true, Opcode: OpClose, Payload: p}); err != nil {
		return 0, err
	}
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, err
		}
		if f.Opcode == OpClose {
			return CloseCode(f.Payload), nil
		}
	}
}
