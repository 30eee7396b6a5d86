package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// TestEchoReadsFragments feeds client.echo the replies a server may send:
// one frame, or a binary frame and continuations (RFC 6455 §5.4), as
// gorilla/websocket does for large messages; and replies that are wrong.
func TestEchoReadsFragments(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 30) // 300 bytes: 16-bit lengths
	frame := func(b0 byte, p []byte) []byte {
		f := []byte{b0}
		if len(p) <= 125 {
			f = append(f, byte(len(p)))
		} else {
			f = append(f, 126, byte(len(p)>>8), byte(len(p)))
		}
		return append(f, p...)
	}
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
