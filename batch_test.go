package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
)

// TestPipelinedEchoesShareWrites: 100 small messages that arrive together,
// with a ping and a pong among them, are echoed in order, the pong in its
// place, in a few writes rather than one each; and the last echo is not
// held back waiting for a frame that never comes.
func TestPipelinedEchoesShareWrites(t *testing.T) {
	var fs []testFrame
	for i := range 100 {
		fs = append(fs, text(fmt.Sprintf("message %d", i)))
		switch i {
		case 40:
			fs = append(fs, ping("in the middle"))
		case 70:
			fs = append(fs, testFrame{fin: true, opcode: 0xA}) // an unsolicited pong: no answer
		}
	}
	var out writeCounter
	c := newWSConn(bufio.NewReaderSize(bytes.NewReader(frames(fs...)), readBufferSize), &out, 1<<20)
	if err := c.readFrames(); err != io.EOF {
		t.Fatal(err)
	}
	got := parseServerFrames(t, out.Bytes())
	if len(got) != 101 {
		t.Fatalf("%d frames back; want 100 echoes and a pong", len(got))
	}
	n := 0
	for i, f := range got {
		if i == 41 {
			if f.opcode != 0xA || string(f.payload) != "in the middle" {
				t.Fatalf("frame %d: opcode %#x %q; want the pong, after echo 40", i, f.opcode, f.payload)
			}
			continue
		}
		if want := fmt.Sprintf("message %d", n); string(f.payload) != want {
			t.Fatalf("frame %d: %q, want %q", i, f.payload, want)
		}
		n++
	}
	if out.writes > 10 {
		t.Fatalf("%d writes for 101 frames that arrived together", out.writes)
	}
}
