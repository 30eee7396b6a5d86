package main

// bench_test.go: go test -bench . -benchmem; compare runs with benchstat.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"testing"
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
				frame := frames(text(string(bytes.Repeat([]byte("a"), size))))
				r := &repeatReader{frame: frame}
				c := newWSConn(bufio.NewReaderSize(r, readBufferSize), io.Discard, 1<<20)
				if traced {
					c.trace = newTracer(io.Discard, "bench")
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				r.n = b.N
				b.ResetTimer()
				if err := c.readFrames(); err != io.EOF {
					b.Fatal(err)
				}
			})
		}
	}
}
