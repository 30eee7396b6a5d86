package wstest

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hexBytes is "81 05 48" as bytes.
func hexBytes(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestRFC6455Examples lays out the frames of RFC 6455 §5.7, byte for byte,
// and reads the unmasked ones back as a server's frames.
func TestRFC6455Examples(t *testing.T) {
	hello := []byte("Hello")
	big := bytes.Repeat([]byte{0xAB}, 256)
	huge := bytes.Repeat([]byte{0xCD}, 64<<10)
	cases := []struct {
		name   string
		f      Frame
		header string // the frame's bytes before its payload
		wire   string // or the whole frame
	}{
		{"a single-frame unmasked text message", Frame{Fin: true, Opcode: OpText, Payload: hello, NoMask: true}, "", "81 05 48 65 6c 6c 6f"},
		{"a single-frame masked text message", Frame{Fin: true, Opcode: OpText, Payload: hello}, "", "81 85 37 fa 21 3d 7f 9f 4d 51 58"},
		{"a fragmented unmasked text message, first", Frame{Opcode: OpText, Payload: hello[:3], NoMask: true}, "", "01 03 48 65 6c"},
		{"a fragmented unmasked text message, last", Frame{Fin: true, Opcode: OpContinuation, Payload: hello[3:], NoMask: true}, "", "80 02 6c 6f"},
		{"an unmasked ping", Frame{Fin: true, Opcode: OpPing, Payload: hello, NoMask: true}, "", "89 05 48 65 6c 6c 6f"},
		{"a masked pong", Frame{Fin: true, Opcode: OpPong, Payload: hello}, "", "8a 85 37 fa 21 3d 7f 9f 4d 51 58"},
		{"256 bytes binary, unmasked", Frame{Fin: true, Opcode: OpBinary, Payload: big, NoMask: true}, "82 7E 01 00", ""},
		{"64 KiB binary, unmasked", Frame{Fin: true, Opcode: OpBinary, Payload: huge, NoMask: true}, "82 7F 00 00 00 00 00 01 00 00", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := hexBytes(c.wire)
			if c.header != "" {
				want = append(hexBytes(c.header), c.f.Payload...)
			}
			got := c.f.Append(nil, Key)
			if !bytes.Equal(got, want) {
				t.Fatalf("laid out as % x, want % x", got[:min(len(got), 16)], want[:min(len(want), 16)])
			}
			if !c.f.NoMask {
				return // a server's frame is never masked: ReadFrame refuses it (below)
			}
			r := bytes.NewReader(got)
			f, err := ReadFrame(r, false)
			if err != nil || f.Fin != c.f.Fin || f.Opcode != c.f.Opcode || !bytes.Equal(f.Payload, c.f.Payload) || r.Len() != 0 {
				t.Fatalf("read back %+v, %v, %d bytes left", f, err, r.Len())
			}
		})
	}
}

// TestFrameOptions: the ways to break the rules are laid out as asked.
func TestFrameOptions(t *testing.T) {
	cases := []struct {
		name string
		f    Frame
		want string
	}{
		{"2 bytes in a 16-bit length", Frame{Fin: true, Opcode: OpText, Payload: []byte("Hi"), NoMask: true, LenForm: 16}, "81 7e 00 02 48 69"},
		{"2 bytes in a 64-bit length", Frame{Fin: true, Opcode: OpText, Payload: []byte("Hi"), NoMask: true, LenForm: 64}, "81 7f 00 00 00 00 00 00 00 02 48 69"},
		{"60 MiB announced, 1 byte sent", Frame{Fin: true, Opcode: OpBinary, Payload: []byte{0}, Declare: 60 << 20}, "82 ff 00 00 00 00 03 c0 00 00 37 fa 21 3d 37"},
		{"RSV1 and RSV3", Frame{Fin: true, RSV: 0x50, Opcode: OpText, NoMask: true}, "d1 00"},
	}
	for _, c := range cases {
		if got := c.f.Append(nil, Key); !bytes.Equal(got, hexBytes(c.want)) {
			t.Errorf("%s: % x, want %s", c.name, got, c.want)
		}
	}
}

// TestReadPingWithPayload: a ping's payload is read with it, and the
// frame after it starts where the ping ends.
func TestReadPingWithPayload(t *testing.T) {
	r := bytes.NewReader(hexBytes("89 05 48 65 6c 6c 6f 81 02 48 69"))
	ping, err := ReadFrame(r, false)
	if err != nil || ping.Opcode != OpPing || string(ping.Payload) != "Hello" {
		t.Fatalf("ping: %+v, %v", ping, err)
	}
	text, err := ReadFrame(r, false)
	if err != nil || text.Opcode != OpText || string(text.Payload) != "Hi" {
		t.Fatalf("after the ping: %+v, %v", text, err)
	}
	if _, err := ReadFrame(r, false); err != io.EOF {
		t.Fatalf("at the end: %v, want io.EOF", err)
	}
}

// TestReadShort: a frame cut anywhere after its first byte is
// io.ErrUnexpectedEOF, never a frame.
func TestReadShort(t *testing.T) {
	for _, wire := range []string{"89 05 48 65 6c 6c 6f", "82 7e 01 00" + strings.Repeat(" 00", 256), "82 7f 00 00 00 00 00 01 00 00" + strings.Repeat(" 00", 64<<10)} {
		full := hexBytes(wire)
		for n := 1; n < len(full); n += max(1, n/3) {
			f, err := ReadFrame(bytes.NewReader(full[:n]), false)
			if !errors.Is(err, io.ErrUnexpectedEOF) || f.Opcode != 0 || f.Payload != nil {
				t.Fatalf("% x cut to %d bytes: %+v, %v; want io.ErrUnexpectedEOF", full[:min(n, 10)], n, f, err)
			}
		}
	}
}

// TestReadRefuses: the frames a server must never send.
func TestReadRefuses(t *testing.T) {
	cases := []struct {
		name      string
		wire      string
		allowRSV1 bool
	}{
		{"masked", "81 85 37 fa 21 3d 7f 9f 4d 51 58", false},
		{"RSV1 without permessage-deflate", "c1 00", false},
		{"RSV2", "a1 00", true},
		{"RSV3", "91 00", true},
		{"RSV1 on a continuation", "40 00", true},
		{"RSV1 on a ping", "c9 00", true},
		{"reserved data opcode", "83 00", false},
		{"reserved control opcode", "8b 00", false},
		{"fragmented ping", "09 00", false},
		{"control frame of 126 bytes", "89 7e 00 7e" + strings.Repeat(" 00", 126), false},
		{"5 in 16 bits", "81 7e 00 05 48 65 6c 6c 6f", false},
		{"5 in 64 bits", "81 7f 00 00 00 00 00 00 00 05 48 65 6c 6c 6f", false},
		{"64-bit length with its top bit set", "82 7f 80 00 00 00 00 00 00 05", false},
	}
	for _, c := range cases {
		f, err := ReadFrame(bytes.NewReader(hexBytes(c.wire)), c.allowRSV1)
		if err == nil || errors.Is(err, io.ErrUnexpectedEOF) || f.Opcode != 0 {
			t.Errorf("%s: %+v, %v; want a protocol error", c.name, f, err)
		}
	}
	for _, wire := range []string{"c1 00", "c2 00"} { // compressed text or binary, deflate agreed
		if _, err := ReadFrame(bytes.NewReader(hexBytes(wire)), true); err != nil {
			t.Errorf("%s with RSV1 allowed: %v", wire, err)
		}
	}
}

// TestAccept is RFC 6455 §1.3's example.
func TestAccept(t *testing.T) {
	if got := Accept(SampleKey); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("Accept(%q) = %q", SampleKey, got)
	}
}

// fakeServer answers one connection's request with answer(key), then runs
// then (if not nil) on the connection; it returns its address and the
// request it read.
func fakeServer(t *testing.T, answer func(key string) string, then func(net.Conn, *bufio.Reader)) (string, chan *http.Request) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan *http.Request, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		got <- req
		if err != nil {
			return
		}
		io.WriteString(nc, answer(req.Header.Get("Sec-WebSocket-Key")))
		if then != nil {
			then(nc, br)
		}
	}()
	return ln.Addr().String(), got
}

// switching is a correct 101 for key, with extra header lines.
func switching(key string, extra ...string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		Accept(key) + "\r\n" + strings.Join(extra, "") + "\r\n"
}

// TestHandshake: the request as §4.1 asks, and the 101 checked.
func TestHandshake(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr, reqs := fakeServer(t, func(key string) string { return switching(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n") }, nil)
	c, err := Dial(ctx, addr, Upgrade{Path: "/x?y=1", Extra: []string{"Origin: null\r\n"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.NC.Close()
	req := <-reqs
	if req.URL.String() != "/x?y=1" || req.Host != addr || req.Header.Get("Origin") != "null" ||
		req.Header.Get("Sec-WebSocket-Version") != "13" || len(req.Header.Get("Sec-WebSocket-Key")) != 24 {
		t.Errorf("request %s %v", req.URL, req.Header)
	}
	if !c.Deflate() {
		t.Errorf("101 agreed %q, Deflate says no", c.Header.Get("Sec-WebSocket-Extensions"))
	}

	for name, answer := range map[string]func(string) string{
		"a wrong accept":      func(string) string { return switching(SampleKey) },
		"200":                 func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" },
		"no Upgrade":          func(key string) string { return strings.Replace(switching(key), "Upgrade: websocket\r\n", "", 1) },
		"no Connection":       func(key string) string { return strings.Replace(switching(key), "Connection: Upgrade\r\n", "", 1) },
		"the connection ends": func(string) string { return "HTTP/1.1 101 Switching" },
		"Connection: close": func(key string) string {
			return strings.Replace(switching(key), "Connection: Upgrade", "Connection: close", 1)
		},
		"Upgrade: not-the-one": func(key string) string {
			return strings.Replace(switching(key), "Upgrade: websocket", "Upgrade: h2c", 1)
		},
	} {
		addr, _ := fakeServer(t, answer, nil)
		if c, err := Dial(ctx, addr, Upgrade{}); err == nil {
			c.NC.Close()
			t.Errorf("%s: the handshake succeeded", name)
		}
	}
}

// TestHandshakeTimeout: a server that never answers fails the handshake
// at the context's deadline.
func TestHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Dial(ctx, ln.Addr().String(), Upgrade{}); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("handshake with a silent server: %v after %v", err, time.Since(start))
	}
}

// TestClose: the client's Close goes out masked with its code, data the
// server sent first is passed over, and the server's code comes back.
func TestClose(t *testing.T) {
	sawClose := make(chan []byte, 1)
	addr, _ := fakeServer(t, func(key string) string { return switching(key) }, func(nc net.Conn, br *bufio.Reader) {
		var h [2 + 4 + 125]byte
		io.ReadFull(br, h[:2])
		n := int(h[1] & 0x7F)
		io.ReadFull(br, h[2:6+n])
		p := h[6 : 6+n]
		for i := range p {
			p[i] ^= h[2+i%4]
		}
		sawClose <- append([]byte{h[0], h[1]}, p...)
		nc.Write(hexBytes("81 02 48 69 88 02 03 e8"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, Upgrade{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.Close(1001, "bye")
	if err != nil || code != 1000 {
		t.Fatalf("Close: %d, %v", code, err)
	}
	if got := <-sawClose; !bytes.Equal(got, hexBytes("88 85 03 e9 62 79 65")) {
		t.Fatalf("server read % x", got)
	}
}

// TestRFC7692Examples inflates the compressed "Hello" of RFC 7692 §7.2.3,
// the second message of 7.2.3.2 with the first as its context.
func TestRFC7692Examples(t *testing.T) {
	cases := []struct {
		name     string
		messages []string
	}{
		{"7.2.3.1 a message compressed", []string{"f2 48 cd c9 c9 07 00"}},
		{"7.2.3.2 sharing the LZ77 window", []string{"f2 48 cd c9 c9 07 00", "f2 00 11 00 00"}},
		{"7.2.3.3 no compression", []string{"00 05 00 fa ff 48 65 6c 6c 6f 00"}},
		{"7.2.3.4 a block with BFINAL set", []string{"f3 48 cd c9 c9 07 00 00"}},
		{"7.2.3.5 two deflate blocks in one message", []string{"f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}},
	}
	for _, c := range cases {
		in := NewInflater(Deflate{ServerBits: 15})
		for _, m := range c.messages {
			if p, err := in.Inflate(hexBytes(m)); err != nil || string(p) != "Hello" {
				t.Errorf("%s: %q, %v", c.name, p, err)
			}
		}
	}
	if _, err := NewInflater(Deflate{ServerNoContext: true, ServerBits: 15}).Inflate(hexBytes("f2 00 11 00 00")); err == nil {
		t.Errorf("a message that refers back inflated without its context")
	}
}

// TestCompressRoundTrip: messages compressed with and without context
// inflate to themselves; with context, a repeat is smaller; none ends in
// 00 00 ff ff.
func TestCompressRoundTrip(t *testing.T) {
	msg := bytes.Repeat([]byte(`{"user":"ann","text":"hello"},`), 40)
	for _, noContext := range []bool{false, true} {
		c := NewCompressor(flate.BestSpeed, noContext)
		in := NewInflater(Deflate{ServerNoContext: noContext, ServerBits: 15})
		var sizes []int
		for range 3 {
			z, err := c.Compress(msg)
			if err != nil || bytes.HasSuffix(z, []byte{0, 0, 0xff, 0xff}) {
				t.Fatalf("compressed % x, %v", z[max(0, len(z)-8):], err)
			}
			if p, err := in.Inflate(z); err != nil || !bytes.Equal(p, msg) {
				t.Fatalf("no context %v: inflated %d bytes, %v", noContext, len(p), err)
			}
			sizes = append(sizes, len(z))
		}
		if noContext != (sizes[1] == sizes[0]) {
			t.Errorf("no context %v: sizes %v", noContext, sizes)
		}
	}
}

// TestParseDeflate reads what a 101 may agree, and refuses the rest.
func TestParseDeflate(t *testing.T) {
	good := map[string]Deflate{
		"permessage-deflate": {ServerBits: 15, ClientBits: 15},
		"permessage-deflate; server_no_context_takeover; client_max_window_bits=10":  {ServerNoContext: true, ServerBits: 15, ClientBits: 10},
		"permessage-deflate;client_no_context_takeover;server_max_window_bits=\"9\"": {ClientNoContext: true, ServerBits: 9, ClientBits: 15},
	}
	for v, want := range good {
		if got, err := ParseDeflate(v); err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "x-webkit-deflate-frame", "permessage-deflate; foo", "permessage-deflate; server_max_window_bits=16",
		"permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
		"permessage-deflate; server_no_context_takeover=1"} {
		if _, err := ParseDeflate(v); err == nil {
			t.Errorf("%q: agreed", v)
		}
	}
}
