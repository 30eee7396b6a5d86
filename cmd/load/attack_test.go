package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"

	"wsecho/internal/wstest"
)

// TestReadMessage feeds readMessage what a server may send: a message in
// fragments with a ping between them (answered with a pong only when
// asked), a Close with and without a code.
func TestReadMessage(t *testing.T) {
	frame := func(b0 byte, p []byte) []byte { return append([]byte{b0, byte(len(p))}, p...) }
	cases := []struct {
		name  string
		reply []byte
		limit int
		op    byte
		want  string
		code  int
		pong  bool
	}{
		{"one frame", frame(0x81, []byte("hello")), 10, 0x1, "hello", -1, false},
		{"kept up to the limit", frame(0x81, []byte("hello")), 3, 0x1, "hel", -1, false},
		{"fragments and a ping", bytes.Join([][]byte{frame(0x01, []byte("he")), frame(0x89, []byte("p")), frame(0x80, []byte("llo"))}, nil), 10, 0x1, "hello", -1, true},
		{"close 1013", frame(0x88, []byte{0x03, 0xF5, 'x'}), 10, 0, "", 1013, false},
		{"close without a code", frame(0x88, nil), 10, 0, "", 1005, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, cli := net.Pipe()
			defer cli.Close()
			defer srv.Close()
			got := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(srv); got <- b }() // until the client closes
			go srv.Write(tc.reply)
			c := &client{nc: cli, br: bufio.NewReader(cli)}
			op, p, code, err := readMessage(c, nil, tc.limit, tc.pong)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || (code < 0 && (op != tc.op || string(p) != tc.want)) {
				t.Fatalf("op %#x %q code %d; want %#x %q code %d", op, p, code, tc.op, tc.want, tc.code)
			}
			cli.Close()
			if sent := <-got; tc.pong != (len(sent) > 0 && sent[0] == 0x8A) {
				t.Fatalf("sent %x, pong %v", sent, tc.pong)
			}
		})
	}
}

// TestZerosBomb: the bomb inflates to the zeros it was made of, and is
// about a thousandth of their size.
func TestZerosBomb(t *testing.T) {
	const n = 4 << 20
	z, err := zerosBomb(n)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) > n/500 {
		t.Fatalf("%d bytes compressed", len(z))
	}
	out, err := wstest.NewInflater(wstest.Deflate{ServerNoContext: true, ServerBits: 15}).Inflate(z)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != n || bytes.Count(out, []byte{0}) != n {
		t.Fatalf("inflated to %d bytes", len(out))
	}
}
