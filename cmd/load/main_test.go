package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"wsecho/internal/wstest"
)

// serverFrame is a frame as a server sends it, with first byte b0 (FIN,
// RSV, opcode): unmasked, its length in the shortest form.
func serverFrame(b0 byte, p []byte) []byte {
	return wstest.Frame{Fin: b0&0x80 != 0, RSV: b0 & 0x70, Opcode: b0 & 0x0F, Payload: p, NoMask: true}.Append(nil, [4]byte{})
}

// TestEchoReadsFragments feeds client.echo the replies a server may send:
// one frame, or a binary frame and continuations (RFC 6455 §5.4), as
// gorilla/websocket does for large messages; and replies that are wrong.
func TestEchoReadsFragments(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 30) // 300 bytes: 16-bit lengths
	frame := serverFrame
	cases := []struct {
		name  string
		reply []byte
		err   string // "" for a good echo
	}{
		{"one frame", frame(0x82, payload), ""},
		{"three fragments", append(append(frame(0x02, payload[:100]), frame(0x00, payload[100:290])...), frame(0x80, payload[290:])...), ""},
		{"empty last fragment", append(frame(0x02, payload), frame(0x80, nil)...), ""},
		{"text, not binary", frame(0x81, payload), "unexpected frame"},
		{"continuation first", frame(0x80, payload), "unexpected frame"},
		{"new binary frame mid-message", append(frame(0x02, payload[:100]), frame(0x82, payload[100:])...), "unexpected frame"},
		{"too long", frame(0x82, append(payload, 'x')), "unexpected frame"},
		{"too short", frame(0x82, payload[:299]), "echo of 299 bytes"},
		{"cut off", frame(0x82, payload)[:200], "EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer cli.Close()
			go func() { // the server: swallow the request, send the reply
				defer srv.Close()
				go io.Copy(io.Discard, srv)
				srv.Write(tc.reply)
			}()
			c := &client{nc: cli, br: bufio.NewReader(cli), reply: make([]byte, len(payload)), frame: maskedFrame(0x82, payload)}
			err := c.echo()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("echo: %v", err)
			case tc.err == "" && !bytes.Equal(c.reply, payload):
				t.Fatalf("echo read %q", c.reply)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("echo: %v, want an error with %q", err, tc.err)
			}
		})
	}
}

// TestEchoDeflateChecksTheInflatedEcho: with -deflate an echo is accepted
// compressed (RSV1, and inflated with the server's context) or plain, and
// only if it is the message.
func TestEchoDeflateChecksTheInflatedEcho(t *testing.T) {
	msg := jsonText(1000)
	z, err := compressMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	frame := serverFrame
	other := append([]byte(nil), msg...)
	other[500] ^= 1
	zOther, _ := compressMessage(other)
	cases := []struct {
		name  string
		reply []byte
		err   string
	}{
		{"compressed", frame(0xC1, z), ""},
		{"plain", frame(0x81, msg), ""},
		{"compressed, fragmented", append(frame(0x41, z[:10]), frame(0x80, z[10:])...), ""},
		{"compressed, but not the message", frame(0xC1, zOther), "differs"},
		{"not deflate data", frame(0xC1, []byte{0xff, 0xff, 0xff}), "does not inflate"},
		{"binary, not text", frame(0xC2, z), "unexpected frame"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer cli.Close()
			go func() {
				defer srv.Close()
				go io.Copy(io.Discard, srv)
				srv.Write(tc.reply)
			}()
			zin, _ := agreedDeflate("permessage-deflate")
			c := &client{nc: cli, br: bufio.NewReader(cli), msg: msg, zin: zin, frame: maskedFrame(0xC1, z)}
			err := c.echo()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("echo: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("echo: %v, want an error with %q", err, tc.err)
			}
		})
	}
}
