package main

// direct_test.go: the first read after a quiet spell, straight into a
// message buffer (direct.go).

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestQuietFrameIsReadInPlace: once the server has seen a frame of a kind,
// the next such frame after a quiet spell is read straight into the
// message buffer (the trace says so), and a frame of another kind is
// copied as before; every echo is intact.
func TestQuietFrameIsReadInPlace(t *testing.T) {
	var logs, trace syncBuffer
	addr, _ := startServerTrace(t, func(c *config) { c.trace = true }, &logs, &trace)
	c := dial(t, addr)
	rng := rand.New(rand.NewPCG(5, 6))
	payload := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	const note = "read in place"
	for i, m := range []struct {
		size    int
		inPlace bool
	}{
		{5000, false},  // the first frame: the guess (a 7-bit length) is wrong
		{5000, true},   // the same kind: a 16-bit length, header and payload in one read
		{30000, false}, // a 16-bit length still, but larger than the buffer guessed from the last
		{30000, true},  // and now the buffer is guessed large enough
		{100, false},   // too small to pass through the bufio.Reader
		{65536, false}, // a 64-bit length after a 7-bit one: the guess is wrong
		{65536, true},  // and right again
	} {
		before := strings.Count(trace.String(), note)
		msg := payload(m.size)
		c.send(binaryMsg(msg))
		if got := c.read(); got.opcode != 2 || !bytes.Equal(got.payload, msg) {
			t.Fatalf("message %d: echo differs", i)
		}
		// The trace is written before the echo: it is complete now.
		if inPlace := strings.Count(trace.String(), note) > before; inPlace != m.inPlace {
			t.Errorf("message %d (%d bytes): read in place %v, want %v", i, m.size, inPlace, m.inPlace)
		}
	}
}

// TestBurstsAfterQuietSpells: bursts of pipelined messages of every size
// from 1 B to 100 KiB, text and binary, some fragmented, with quiet spells
// between them, so that a wait's read holds several frames, part of one,
// or one whole: every echo intact and in order.
func TestBurstsAfterQuietSpells(t *testing.T) {
	addr, _ := startServer(t, nil)
	c := dial(t, addr)
	rng := rand.New(rand.NewPCG(7, 8))
	for burst := range 40 {
		var msgs []testFrame
		var wire []testFrame
		for range 1 + rng.IntN(6) {
			n := []int{1, 100, 4000, 5000, 20000, 65535, 65536, 100000}[rng.IntN(8)]
			op := byte(1 + rng.IntN(2))
			p := bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, n)
			msgs = append(msgs, testFrame{fin: true, opcode: op, payload: p})
			if rng.IntN(3) == 0 && n > 10 {
				wire = append(wire, fragments(op, string(p), n/3+1)...)
			} else {
				wire = append(wire, testFrame{fin: true, opcode: op, payload: p})
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { c.nc.Write(frames(wire...)) })
		for i, m := range msgs {
			got := c.read()
			if got.opcode != m.opcode || !bytes.Equal(got.payload, m.payload) {
				t.Fatalf("burst %d, message %d of %d (%d bytes): echo differs (opcode %d, %d bytes)",
					burst, i, len(msgs), len(m.payload), got.opcode, len(got.payload))
			}
		}
		wg.Wait()
		time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond) // a quiet spell, or none
	}
	c.send(closeFrame(1000, fmt.Sprint("done")))
	c.expectCloseReply(1000)
}
