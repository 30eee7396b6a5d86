package main

// bench_test.go: go test -bench . -benchmem; compare runs with benchstat.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"wsecho/internal/tcpecho"
	"wsecho/internal/wstest"
)

// repeatReader replays one encoded frame n times, then says io.EOF,
// without allocating: the client side of an in-memory echo benchmark.
type repeatReader struct {
	frame []byte
	n     int // frames left
	off   int // in the current frame
}

func (r *repeatReader) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		k := copy(p, r.frame[r.off:])
		p, total, r.off = p[k:], total+k, r.off+k
		if r.off == len(r.frame) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// BenchmarkEcho measures the server's whole per-message path in memory:
// header, unmask, UTF-8 check, echo write; with -trace off and on. The off
// case shows what -trace costs when it is not asked for: nothing per frame
// (0 allocs/op, the same time as before the tracer existed).
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		for _, traced := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/trace=%v", size, traced), func(b *testing.B) {
				benchEcho(b, frames(text(string(bytes.Repeat([]byte("a"), size)))), size, func(c *wsConn) {
					if traced {
						c.trace = newTracer(io.Discard, "bench")
					}
				})
			})
		}
	}
}

// benchEcho runs the server's frame loop over frame, replayed b.N times,
// on a connection that setup may change first.
func benchEcho(b *testing.B, frame []byte, size int, setup func(*wsConn)) {
	r := &repeatReader{frame: frame}
	c := newWSConn(bufio.NewReaderSize(r, readBufferSize), io.Discard, 1<<20)
	setup(c)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	r.n = b.N
	b.ResetTimer()
	if err := c.readFrames(); err != io.EOF {
		b.Fatal(err)
	}
}

// benchSizes are the payload sizes of the mask and copy benchmarks.
var benchSizes = []int{16, 1 << 10, 16 << 10, 1 << 20}

// BenchmarkMask is article 3.4.2's unmasking, a word at a time, in bytes/s;
// compare with BenchmarkCopy, the machine's memory bandwidth for the same
// sizes, and BenchmarkMaskSimple, the article's byte loop.
func BenchmarkMask(b *testing.B) {
	benchBytes(b, func(p []byte) { maskBytes([4]byte{1, 2, 3, 4}, 1, p) })
}

// BenchmarkMaskSimple is the article's byte-at-a-time loop, the reference.
func BenchmarkMaskSimple(b *testing.B) {
	benchBytes(b, func(p []byte) { maskBytesSimple([4]byte{1, 2, 3, 4}, 1, p) })
}

// BenchmarkCopy is copy() of the same sizes: the bandwidth a mask could reach.
func BenchmarkCopy(b *testing.B) {
	var dst []byte
	benchBytes(b, func(p []byte) {
		if len(dst) < len(p) {
			dst = make([]byte, len(p))
		}
		copy(dst, p)
	})
}

// benchBytes runs f over a buffer of each size.
func benchBytes(b *testing.B, f func([]byte)) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			p := make([]byte, size)
			f(p)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				f(p)
			}
		})
	}
}

// BenchmarkReadFrameHeader decodes a masked client header with a 16-bit
// length, as the server does for every frame: 0 allocs/op.
func BenchmarkReadFrameHeader(b *testing.B) {
	frame := frames(binaryMsg(make([]byte, 300)))[:8]
	r := bytes.NewReader(frame)
	var h frameHeader
	var scratch [maxFrameHeaderLen]byte
	b.ReportAllocs()
	for range b.N {
		r.Reset(frame)
		if err := readFrameHeader(r, scratch[:], &h, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutServerHeader encodes a server header: 0 allocs/op.
func BenchmarkPutServerHeader(b *testing.B) {
	var dst [10]byte
	b.ReportAllocs()
	for i := range b.N {
		putServerHeader(dst[:], opBinary, i&0x1FFFF)
	}
}

// BenchmarkLoopback is the end-to-end echo over loopback: the server in
// this process, small clients (internal/wstest) with one message in flight
// each, every echo checked, and the same load against the plain TCP echo
// (internal/tcpecho), which echoes the same bytes. Compare the two with
//
//	go test -run '^$' -bench Loopback -count 6 . | tee bench.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /server bench.txt
func BenchmarkLoopback(b *testing.B) {
	for _, server := range []string{"tcp", "websocket"} {
		for _, conns := range []int{1, 100} {
			for _, size := range []int{16, 1 << 10, 64 << 10, 1 << 20} {
				b.Run(fmt.Sprintf("conns=%d/size=%d/server=%s", conns, size, server), func(b *testing.B) {
					benchLoopback(b, server, conns, size)
				})
			}
		}
	}
}

// loopClient is one connection of BenchmarkLoopback. It reuses its
// buffers, so that the client allocates nothing per message and the
// benchmark's allocations are the server's.
type loopClient struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte // what goes on the wire each time
	want  []byte // what must come back: the payload, or with the TCP echo the frame itself
	reply []byte // room for it
	ws    bool
	hdr   [wstest.MaxHeaderLen]byte // the echo's frame header
}

// echo sends the message, reads its echo and checks it: one binary frame
// holding the payload, or from the TCP echo the very bytes sent.
func (c *loopClient) echo() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	if c.ws {
		h, err := wstest.ReadHeader(c.br, &c.hdr, false)
		if err != nil {
			return err
		}
		if !h.Fin || h.Opcode != wstest.OpBinary || h.Length != uint64(len(c.want)) {
			return fmt.Errorf("echo: frame %#x of %d bytes (FIN %v), want binary of %d", h.Opcode, h.Length, h.Fin, len(c.want))
		}
	}
	if _, err := io.ReadFull(c.br, c.reply); err != nil {
		return err
	}
	if !bytes.Equal(c.reply, c.want) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// tcpEchoServer is the baseline (internal/tcpecho) on a loopback port.
func tcpEchoServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tcpecho.Serve(ln) }()
	b.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	return ln.Addr().String()
}

// benchLoopback runs b.N echoes spread over conns connections.
func benchLoopback(b *testing.B, server string, conns, size int) {
	payload := make([]byte, size)
	rand.NewChaCha8([32]byte{}).Read(payload) // not all zeros: an echo out of place shows
	frame := frames(binaryMsg(payload))
	var addr string
	if server == "tcp" {
		addr = tcpEchoServer(b)
	} else {
		addr, _ = startServer(b, nil)
	}
	clients := make([]*loopClient, conns)
	for i := range clients {
		c := &loopClient{frame: frame, want: payload, ws: server == "websocket"}
		if c.ws {
			tc, err := dialWS(addr, "/")
			if err != nil {
				b.Fatal(err)
			}
			c.nc, c.br = tc.nc, tc.br
		} else {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			c.nc, c.br, c.want = nc, bufio.NewReader(nc), frame
		}
		c.reply = make([]byte, len(c.want))
		clients[i] = c
		defer c.nc.Close()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for _, c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := c.echo(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkReadRequest parses the article's upgrade request as the server
// reads it: line by line from a bufio.Reader, header names matched with
// strings.EqualFold.
func BenchmarkReadRequest(b *testing.B) {
	in := strings.NewReader(articleRequest)
	br := bufio.NewReaderSize(in, readBufferSize)
	b.ReportAllocs()
	for range b.N {
		in.Reset(articleRequest)
		br.Reset(in)
		if _, err := readRequest(br, 8192); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEchoChinese is BenchmarkEcho's text echo for Chinese text
// (three bytes a character) cut into fragments of 1000 bytes, so that most
// fragments end inside a character: the UTF-8 check's incomplete tail
// (utf8.go) runs at every fragment.
func BenchmarkEchoChinese(b *testing.B) {
	msg := strings.Repeat("你好，世界", 400) // 6,000 bytes
	frame := frames(fragments(1, msg, 1000)...)
	r := &repeatReader{frame: frame}
	c := newWSConn(bufio.NewReaderSize(r, readBufferSize), io.Discard, 1<<20)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	r.n = b.N
	b.ResetTimer()
	if err := c.readFrames(); err != io.EOF {
		b.Fatal(err)
	}
}

// BenchmarkEchoDeflate is BenchmarkEcho with permessage-deflate agreed
// (-deflate): a compressed JSON-like text message is inflated, checked,
// echoed (as the bytes it came in, as Chromium's offer allows). The
// message is compressed afresh, referring to no earlier one, so that one
// frame can be replayed.
func BenchmarkEchoDeflate(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			msg := jsonish(rand.New(rand.NewPCG(1, 1)), size)
			z, err := wstest.NewCompressor(flate.BestSpeed, true).Compress(msg)
			if err != nil {
				b.Fatal(err)
			}
			frame := frames(testFrame{fin: true, rsv: 0x40, opcode: 1, payload: z})
			benchEcho(b, frame, size, func(c *wsConn) {
				c.deflate = newDeflater(negotiateDeflate("permessage-deflate; client_max_window_bits")) // Chromium's offer
			})
		})
	}
}
