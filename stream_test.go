package main

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"
)

// TestStreamedEchoAllocatesLittle: a binary message far larger than the
// largest piece buffer is echoed through one piece buffer at a time, not
// assembled: echoing 16 MiB allocates under 1 MiB.
func TestStreamedEchoAllocatesLittle(t *testing.T) {
	msg := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7}, 16<<20/7)
	in := frames(binaryMsg(msg))
	var out bytes.Buffer
	out.Grow(len(msg) + 16)
	c := newWSConn(bufio.NewReaderSize(bytes.NewReader(in), readBufferSize), &out, 64<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := c.readFrames(); err != io.EOF {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Errorf("allocated %d bytes to echo 16 MiB", grown)
	}
	fs := parseServerFrames(t, out.Bytes())
	if len(fs) != 1 || fs[0].opcode != 2 || !bytes.Equal(fs[0].payload, msg) {
		t.Fatal("the streamed echo differs from the message")
	}
}

// smallReads hands out at most max bytes a read, as a client sending a
// frame in small TCP segments does.
type smallReads struct {
	r   io.Reader
	max int
}

func (s smallReads) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), s.max)]) }

// writeCounter counts the writes made to it.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) { w.writes++; return w.Buffer.Write(p) }

// TestStreamedEchoWritesLargePieces: a large frame that arrives a few bytes
// a read (the conformance suite's case 9.6.1 sends it in such small chops)
// is echoed in pieces of at least streamMinPiece, not in a write per read:
// thousands of small writes would cost the server and the client a system
// call and a TCP segment each. Only the first two pieces and the last are
// smaller: the piece buffer starts at the smallest class and moves up as the
// bytes arrive, and the last is what is left of the frame (stream.go). The
// test bounds the number of writes.
func TestStreamedEchoWritesLargePieces(t *testing.T) {
	msg := bytes.Repeat([]byte{3, 1, 4, 1, 5, 9, 2, 6}, 1<<20/8)
	in := smallReads{bytes.NewReader(frames(binaryMsg(msg))), 64}
	var out writeCounter
	c := newWSConn(bufio.NewReaderSize(in, readBufferSize), &out, 64<<20)
	if err := c.readFrames(); err != io.EOF {
		t.Fatal(err)
	}
	fs := parseServerFrames(t, out.Bytes())
	if len(fs) != 1 || fs[0].opcode != 2 || !bytes.Equal(fs[0].payload, msg) {
		t.Fatal("the streamed echo differs from the message")
	}
	if most := 2 + len(msg)/streamMinPiece + 1; out.writes > most {
		t.Errorf("echoed in %d writes; want at most %d", out.writes, most)
	}
}

// TestTextIsNotStreamed: a large text message is checked whole before any
// of it is echoed, so invalid UTF-8 at its end gets a Close and nothing else.
func TestTextIsNotStreamed(t *testing.T) {
	bad := append(bytes.Repeat([]byte("a"), 300<<10), 0xff)
	echoes, code, _ := closeOf(t, frames(testFrame{fin: true, opcode: 1, payload: bad}), 1<<20)
	if len(echoes) != 0 || code != 1007 {
		t.Fatalf("%d frames, then Close %d; want only Close 1007", len(echoes), code)
	}
}

// readAllFrames reads the server's frames in the background until the
// connection ends, answering the server's Close as a client must. It
// hands over the frames, and what ended the reading: io.EOF if the server
// closed the connection after whole frames, or the reason a frame was not one
// the server may send (readServerFrame).
func readAllFrames(c *testClient) chan framesRead {
	got := make(chan framesRead, 1)
	go func() {
		var fs []testFrame
		for {
			f, err := readServerFrame(c.br)
			if err != nil {
				c.nc.Close()
				got <- framesRead{fs, err}
				return
			}
			fs = append(fs, f)
			if f.opcode == 0x8 {
				c.nc.Write(frames(closeFrame(closeCodeOf(f), "")))
			}
		}
	}()
	return got
}

// framesRead is what readAllFrames hands over.
type framesRead struct {
	frames []testFrame
	err    error
}

// TestStreamAndKeepalive: a client that stalls in the middle of a large
// binary frame is not pinged in the middle of its echo, which would cut
// the echo's frame in two: a ping that falls due then is skipped, and the
// keepalive pings again once the frame is whole. On the wire: perhaps
// pings before the echo has begun, then the echo, one frame, whole, then a
// ping, which the client answers with a pong; then pings, if any fall due,
// until the Close that answers the client's, and the end of the connection.
func TestStreamAndKeepalive(t *testing.T) {
	const interval = 50 * time.Millisecond
	addr, srv := startServer(t, func(c *config) { c.pingInterval = interval })
	c := dial(t, addr)
	got := make(chan testFrame, 16)
	var end error // what ended the reading, once got is closed
	go func() {   // the echo is read as it comes, or the server's writes and ours would wait for each other
		defer close(got)
		for {
			f, err := readServerFrame(c.br)
			if err != nil {
				end = err
				return
			}
			got <- f
		}
	}()
	next := func() testFrame {
		t.Helper()
		f, ok := <-got
		if !ok {
			t.Fatalf("the connection ended early: %v", end)
		}
		return f
	}

	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // past streamThreshold: streamed
	wire := frames(binaryMsg(msg))
	c.nc.Write(wire[:len(wire)/2])
	waitFor(t, "the echo is being streamed", writerState(onlyWS(t, srv), func(o *frameWriter) bool { return o.midFrame }))
	// The stall, several ping intervals long: pings fall due while the
	// echo's frame is half-written.
	time.Sleep(4 * interval)
	c.nc.Write(wire[len(wire)/2:])

	f := next()
	for f.opcode == 0x9 { // pinged before the echo began: allowed, if unlikely
		f = next()
	}
	if f.opcode != 2 || !bytes.Equal(f.payload, msg) {
		t.Fatalf("got opcode %#x with %d bytes; want the echo, one whole binary frame", f.opcode, len(f.payload))
	}
	c.nc.SetReadDeadline(time.Now().Add(100 * interval)) // a ping falls due an interval after the echo: this leaves it ample room
	if f = next(); f.opcode != 0x9 || len(f.payload) != 0 {
		t.Fatalf("after the echo, opcode %#x %q; want the keepalive's ping, empty", f.opcode, f.payload)
	}
	c.send(testFrame{fin: true, opcode: 0xA}) // the pong: the server answers nothing
	c.send(closeFrame(1000, ""))
	for f = next(); f.opcode == 0x9; f = next() { // more pings may fall due before our Close arrives
	}
	if f.opcode != 0x8 || closeCodeOf(f) != 1000 {
		t.Fatalf("got opcode %#x; want only pings, then the Close 1000 that answers ours", f.opcode)
	}
	if f, ok := <-got; ok || end != io.EOF {
		t.Fatalf("after the Close, opcode %#x, then %v; want the end of the connection", f.opcode, end)
	}
}

// TestShutdownDuringStream: the shutdown's Close 1001 waits until the
// streamed echo is complete.
func TestShutdownDuringStream(t *testing.T) {
	addr, srv := startServer(t, nil)
	c := dial(t, addr)
	got := readAllFrames(c)
	msg := bytes.Repeat([]byte{9, 8, 7}, 4<<20/3)
	wire := frames(binaryMsg(msg))
	c.nc.Write(wire[:len(wire)/3])
	ws := onlyWS(t, srv)
	waitFor(t, "the echo is being streamed", writerState(ws, func(o *frameWriter) bool { return o.midFrame }))
	done := make(chan struct{})
	go func() { srv.shutdown(); close(done) }()
	waitFor(t, "the shutdown has reached the connection", writerState(ws, func(o *frameWriter) bool { return o.goingAway }))
	c.nc.Write(wire[len(wire)/3:])
	r := <-got
	fs := r.frames
	if r.err != io.EOF || len(fs) != 2 || fs[0].opcode != 2 || !bytes.Equal(fs[0].payload, msg) || closeCodeOf(fs[1]) != 1001 {
		t.Fatalf("got %d frames, then %v; want the whole echo, then Close 1001, then the end", len(fs), r.err)
	}
	<-done
}
