package main

import (
	"bufio"
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"
)

// TestStreamedEchoAllocatesLittle: a 16 MiB binary message is echoed
// through one piece buffer, not assembled.
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

// TestStreamedEchoWritesLargePieces: a 1 MiB frame that arrives 64 bytes a
// read (the conformance suite's 9.6.1 sends it in 64-byte chops) is echoed
// in pieces of at least streamMinPiece, not in a write per read: thousands
// of small writes cost the server and the client a system call and a TCP
// segment each. Only the first two pieces are smaller: the piece buffer
// starts at the smallest class and moves up as the bytes arrive (stream.go).
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
// connection ends.
func readAllFrames(c *testClient) chan []testFrame {
	got := make(chan []testFrame, 1)
	go func() {
		var fs []testFrame
		for {
			f, err := readServerFrame(c.br)
			if err != nil {
				c.nc.Close()
				got <- fs
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

// TestStreamAndKeepalive: a client that stalls in the middle of a large
// binary frame is not pinged in the middle of its echo, which would cut
// the echo's frame in two.
func TestStreamAndKeepalive(t *testing.T) {
	addr, _ := startServer(t, func(c *config) { c.pingInterval = 100 * time.Millisecond })
	c := dial(t, addr)
	got := readAllFrames(c)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	wire := frames(binaryMsg(msg))
	c.nc.Write(wire[:len(wire)/2])
	time.Sleep(400 * time.Millisecond) // four ping intervals, inside the frame
	c.nc.Write(wire[len(wire)/2:])
	c.nc.Write(frames(closeFrame(1000, "")))
	var data [][]byte
	for _, f := range <-got {
		if f.opcode == 2 {
			data = append(data, f.payload)
		}
	}
	if len(data) != 1 || !bytes.Equal(data[0], msg) {
		t.Fatalf("got %d binary frames; want the one message, whole", len(data))
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
	fs := <-got
	if len(fs) != 2 || fs[0].opcode != 2 || !bytes.Equal(fs[0].payload, msg) || closeCodeOf(fs[1]) != 1001 {
		t.Fatalf("got %d frames; want the whole echo, then Close 1001", len(fs))
	}
	<-done
}
