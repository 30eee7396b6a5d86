package main

// conformance_test.go: the shape of the standard WebSocket server
// conformance suite's cases 1 to 10, run over a real socket against a
// running server, each with the strict expectation: exactly these frames
// back, in this order, then (where the case closes) the server's Close with
// this code and the server closing TCP.

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// want is one frame the server must send: a data frame or pong with its
// payload, or a Close with its code (0: empty).
type want struct {
	opcode  byte
	payload []byte
	code    uint16
}

// conformanceCase sends frames (in pieces of chop bytes, with a short pause
// between, when chop > 0) and expects frames back.
type conformanceCase struct {
	name   string
	send   []testFrame
	chop   int
	expect []want
}

func echoOf(f testFrame) want    { return want{opcode: f.opcode, payload: f.payload} }
func pongOf(p string) want       { return want{opcode: 0xA, payload: []byte(p)} }
func closeWith(code uint16) want { return want{opcode: 0x8, code: code} }

// conformanceCases follows the suite's numbering.
func conformanceCases() []conformanceCase {
	var cs []conformanceCase
	add := func(c conformanceCase) { cs = append(cs, c) }
	bye := closeFrame(1000, "")
	// 1.1.x, 1.2.x: text and binary at each length boundary; 1.x.8 sent in chops of 997 bytes.
	for _, op := range []byte{1, 2} {
		for i, n := range []int{0, 125, 126, 127, 128, 65535, 65536} {
			f := testFrame{fin: true, opcode: op, payload: bytes.Repeat([]byte("*"), n)}
			add(conformanceCase{fmt.Sprintf("1.%d.%d", op, i+1), []testFrame{f, bye}, 0, []want{echoOf(f), closeWith(1000)}})
		}
		f := testFrame{fin: true, opcode: op, payload: bytes.Repeat([]byte("*"), 65536)}
		add(conformanceCase{fmt.Sprintf("1.%d.8", op), []testFrame{f, bye}, 997, []want{echoOf(f), closeWith(1000)}})
	}
	// 2.x: pings and pongs.
	add(conformanceCase{"2.1", []testFrame{ping(""), bye}, 0, []want{pongOf(""), closeWith(1000)}})
	add(conformanceCase{"2.2", []testFrame{ping("Hello, world!"), bye}, 0, []want{pongOf("Hello, world!"), closeWith(1000)}})
	add(conformanceCase{"2.3", []testFrame{ping("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), bye}, 0, []want{pongOf("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), closeWith(1000)}})
	add(conformanceCase{"2.4", []testFrame{ping(strings.Repeat("\xfe", 125)), bye}, 0, []want{pongOf(strings.Repeat("\xfe", 125)), closeWith(1000)}})
	add(conformanceCase{"2.5", []testFrame{ping(strings.Repeat("\xfe", 126)), bye}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"2.6", []testFrame{ping(strings.Repeat("\xfe", 125)), bye}, 1, []want{pongOf(strings.Repeat("\xfe", 125)), closeWith(1000)}})
	add(conformanceCase{"2.7", []testFrame{{fin: true, opcode: 0xA}, bye}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"2.8", []testFrame{{fin: true, opcode: 0xA, payload: []byte("unsolicited pong payload")}, bye}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"2.9", []testFrame{{fin: true, opcode: 0xA, payload: []byte("unsolicited pong payload")}, ping("ping payload"), bye}, 0,
		[]want{pongOf("ping payload"), closeWith(1000)}})
	var ten []testFrame
	var tenPongs []want
	for i := range 10 {
		p := fmt.Sprint("payload-", i)
		ten, tenPongs = append(ten, ping(p)), append(tenPongs, pongOf(p))
	}
	add(conformanceCase{"2.10", append(append([]testFrame(nil), ten...), bye), 0, append(append([]want(nil), tenPongs...), closeWith(1000))})
	add(conformanceCase{"2.11", append(append([]testFrame(nil), ten...), bye), 1, append(append([]want(nil), tenPongs...), closeWith(1000))})
	// 3.x: reserved bits.
	hello := text("Hello, world!")
	add(conformanceCase{"3.1", []testFrame{{fin: true, rsv: 0x40, opcode: 1, payload: []byte("Hello, world!")}, bye}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"3.2", []testFrame{hello, {fin: true, rsv: 0x20, opcode: 1, payload: []byte("Hello, world!")}, ping("")}, 0,
		[]want{echoOf(hello), closeWith(1002)}})
	add(conformanceCase{"3.3", []testFrame{hello, {fin: true, rsv: 0x60, opcode: 1}, ping("")}, 1, []want{echoOf(hello), closeWith(1002)}})
	add(conformanceCase{"3.4", []testFrame{hello, {fin: true, rsv: 0x10, opcode: 1}, ping("")}, 1, []want{echoOf(hello), closeWith(1002)}})
	add(conformanceCase{"3.5", []testFrame{{fin: true, rsv: 0x50, opcode: 2, payload: []byte{0, 255}}}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"3.6", []testFrame{{fin: true, rsv: 0x60, opcode: 9, payload: []byte("Hello")}}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"3.7", []testFrame{{fin: true, rsv: 0x70, opcode: 8}}, 0, []want{closeWith(1002)}})
	// 4.x: reserved opcodes, alone and after a valid message.
	for i, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		group, n := 1, i+1
		if op > 7 {
			group, n = 2, i-4
		}
		add(conformanceCase{fmt.Sprintf("4.%d.%d", group, n), []testFrame{hello, {fin: true, opcode: op, payload: []byte("reserved")}, ping("")}, 0,
			[]want{echoOf(hello), closeWith(1002)}})
	}
	// 5.x: fragmentation.
	add(conformanceCase{"5.1", []testFrame{{opcode: 9, payload: []byte("frag1")}, {fin: true, opcode: 0, payload: []byte("frag2")}}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"5.2", []testFrame{{opcode: 0xA, payload: []byte("frag1")}, {fin: true, opcode: 0, payload: []byte("frag2")}}, 0, []want{closeWith(1002)}})
	whole := want{opcode: 1, payload: []byte("fragment1fragment2")}
	add(conformanceCase{"5.3", []testFrame{frag(1, "fragment1", false), frag(0, "fragment2", true), bye}, 0, []want{whole, closeWith(1000)}})
	add(conformanceCase{"5.5", []testFrame{frag(1, "fragment1", false), frag(0, "fragment2", true), bye}, 1, []want{whole, closeWith(1000)}})
	add(conformanceCase{"5.6", []testFrame{frag(1, "fragment1", false), ping("ping payload"), frag(0, "fragment2", true), bye}, 0,
		[]want{pongOf("ping payload"), whole, closeWith(1000)}})
	add(conformanceCase{"5.8", []testFrame{frag(1, "fragment1", false), ping("ping payload"), frag(0, "fragment2", true), bye}, 1,
		[]want{pongOf("ping payload"), whole, closeWith(1000)}})
	add(conformanceCase{"5.9", []testFrame{frag(0, "non-continuation payload", true), hello}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"5.12", []testFrame{frag(0, "non-continuation payload", false), hello}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"5.15", []testFrame{frag(1, "fragment1", false), frag(0, "fragment2", true), frag(0, "fragment3", false), frag(1, "fragment4", true)}, 0,
		[]want{whole, closeWith(1002)}})
	add(conformanceCase{"5.18", []testFrame{frag(1, "fragment1", false), frag(1, "fragment2", true)}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"5.19", []testFrame{frag(1, "f1", false), frag(0, "f2", false), ping("p1"), frag(0, "f3", false), frag(0, "f4", false), ping("p2"),
		frag(0, "f5", true), bye}, 1, []want{pongOf("p1"), pongOf("p2"), {opcode: 1, payload: []byte("f1f2f3f4f5")}, closeWith(1000)}})
	// 6.x: UTF-8, valid in several fragmentations, and invalid.
	kosme := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	add(conformanceCase{"6.2.3", []testFrame{text(kosme), bye}, 1, []want{echoOf(text(kosme)), closeWith(1000)}})
	add(conformanceCase{"6.3.1", []testFrame{text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, 0, []want{closeWith(1007)}})
	add(conformanceCase{"6.3.2", []testFrame{text("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, 1, []want{closeWith(1007)}})
	for i, s := range []string{"\xf4\x90\x80\x80", "\xc0\xaf", "\xed\xbf\xbf", "\xef\xbf\xbe", "\x7f", "\xf0\x90\x80\x80"} {
		f := text("a" + s + "b")
		if utf8Valid(f.payload) {
			add(conformanceCase{fmt.Sprintf("6.x.%d valid", i), []testFrame{f, bye}, 0, []want{echoOf(f), closeWith(1000)}})
		} else {
			add(conformanceCase{fmt.Sprintf("6.x.%d invalid", i), []testFrame{f}, 0, []want{closeWith(1007)}})
		}
	}
	// 7.x: the closing handshake.
	add(conformanceCase{"7.1.1", []testFrame{hello, bye}, 0, []want{echoOf(hello), closeWith(1000)}})
	add(conformanceCase{"7.1.2", []testFrame{bye, bye}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.1.3", []testFrame{bye, ping("")}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.1.4", []testFrame{bye, hello}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.1.5", []testFrame{frag(1, "fragment1", false), bye, frag(0, "fragment2", true)}, 0, []want{closeWith(1000)}})
	big := binaryMsg(bytes.Repeat([]byte("*"), 256<<10))
	add(conformanceCase{"7.1.6", []testFrame{big, bye, ping("")}, 0, []want{echoOf(big), closeWith(1000)}})
	add(conformanceCase{"7.3.1", []testFrame{closeFrame(0, "")}, 0, []want{closeWith(0)}})
	add(conformanceCase{"7.3.2", []testFrame{{fin: true, opcode: 8, payload: []byte{0x03}}}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"7.3.3", []testFrame{closeFrame(1000, "")}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.3.4", []testFrame{closeFrame(1000, "Hello World!")}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.3.5", []testFrame{closeFrame(1000, strings.Repeat("*", 123))}, 0, []want{closeWith(1000)}})
	add(conformanceCase{"7.3.6", []testFrame{closeFrame(1000, strings.Repeat("*", 124))}, 0, []want{closeWith(1002)}})
	add(conformanceCase{"7.5.1", []testFrame{closeFrame(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")}, 0, []want{closeWith(1007)}})
	for i, code := range []uint16{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		add(conformanceCase{fmt.Sprintf("7.7.%d", i+1), []testFrame{closeFrame(code, "")}, 0, []want{closeWith(code)}})
	}
	for i, code := range []uint16{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		f := testFrame{fin: true, opcode: 8, payload: []byte{byte(code >> 8), byte(code)}}
		add(conformanceCase{fmt.Sprintf("7.9.%d", i+1), []testFrame{f}, 0, []want{closeWith(1002)}})
	}
	// 9.1.x, 9.2.x (a sample): large messages in one frame; 10.1.1: 65536 bytes in 1300-byte frames.
	for _, n := range []int{4 << 20, 16 << 20} {
		tf, bf := text(strings.Repeat("*", n)), binaryMsg(bytes.Repeat([]byte{0xfe}, n))
		add(conformanceCase{fmt.Sprintf("9.1 text %d", n), []testFrame{tf, bye}, 0, []want{echoOf(tf), closeWith(1000)}})
		add(conformanceCase{fmt.Sprintf("9.2 binary %d", n), []testFrame{bf, bye}, 0, []want{echoOf(bf), closeWith(1000)}})
	}
	// 9.3.x, 9.4.x (a sample): 4 MiB in fragments of 64 bytes and of 4 KiB.
	for _, op := range []byte{1, 2} {
		for i, piece := range []int{64, 4096} {
			m := strings.Repeat("*", 4<<20)
			add(conformanceCase{fmt.Sprintf("9.%d.%d", op+2, 1+i*3), append(fragments(op, m, piece), bye), 0,
				[]want{{opcode: op, payload: []byte(m)}, closeWith(1000)}})
		}
	}
	msg := strings.Repeat("*", 65536)
	add(conformanceCase{"10.1.1", append(fragments(1, msg, 1300), bye), 0, []want{{opcode: 1, payload: []byte(msg)}, closeWith(1000)}})
	return cs
}

// utf8Valid is a tiny independent check, so that the test table's
// expectation does not come from the code it tests.
func utf8Valid(p []byte) bool { return strings.ToValidUTF8(string(p), "\uFFFD") == string(p) }

// TestConformance runs each case on its own connection to one server.
func TestConformance(t *testing.T) {
	addr, _ := startServer(t, nil)
	for _, tc := range conformanceCases() {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			wire := frames(tc.send...)
			done := make(chan error, 1)
			go func() { // send while reading: a large echo comes back as it is sent
				if tc.chop == 0 {
					_, err := c.nc.Write(wire)
					done <- err
					return
				}
				for len(wire) > 0 {
					n := min(tc.chop, len(wire))
					if _, err := c.nc.Write(wire[:n]); err != nil {
						done <- nil // the server may close before the chops end
						return
					}
					wire = wire[n:]
					if tc.chop < 10 {
						time.Sleep(time.Millisecond)
					}
				}
				done <- nil
			}()
			for i, w := range tc.expect {
				f := c.read()
				switch {
				case f.opcode != w.opcode:
					t.Fatalf("frame %d: opcode %#x (%d bytes), want %#x", i, f.opcode, len(f.payload), w.opcode)
				case w.opcode == 0x8 && (closeCodeOf(f) != w.code || len(f.payload) == 1):
					t.Fatalf("frame %d: Close %d, want %d", i, closeCodeOf(f), w.code)
				case w.opcode != 0x8 && !bytes.Equal(f.payload, w.payload):
					t.Fatalf("frame %d: payload of %d bytes differs from the %d expected", i, len(f.payload), len(w.payload))
				}
			}
			<-done
			c.expectEOF() // after its Close the server sends nothing more, and closes TCP
		})
	}
}
