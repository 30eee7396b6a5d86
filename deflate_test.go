package main

// deflate_test.go: permessage-deflate (RFC 7692, -deflate). The client
// side here is internal/wstest's, written from the RFC with compress/flate
// directly, not with the server's deflate.go, so that a mistake there is
// not mirrored here.

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"wsecho/internal/wstest"
)

func TestNegotiateDeflate(t *testing.T) {
	cases := []struct{ offer, want string }{
		{"", ""},
		{"x-webkit-deflate-frame", ""},
		{"permessage-deflate", "permessage-deflate"},
		{"Permessage-Deflate", "permessage-deflate"},
		// Chromium, Node ws and Python websockets offer this: without a value it is not named back.
		{"permessage-deflate; client_max_window_bits", "permessage-deflate"},
		{"permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"},
		{`permessage-deflate; client_max_window_bits="10"`, "permessage-deflate; client_max_window_bits=10"},
		{"permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8"},
		{"permessage-deflate;server_no_context_takeover ; client_no_context_takeover",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
		{"permessage-deflate; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=9; server_no_context_takeover",
			"permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=9"},
		// Declined offers: the next one is tried.
		{"permessage-deflate; server_max_window_bits=7, permessage-deflate", "permessage-deflate"},
		{"permessage-deflate; server_max_window_bits=16", ""},
		{"permessage-deflate; server_max_window_bits=08", ""},
		{"permessage-deflate; server_max_window_bits", ""},
		{"permessage-deflate; server_max_window_bits=", ""},
		{"permessage-deflate; server_no_context_takeover=1", ""},
		{"permessage-deflate; client_max_window_bits=x", ""},
		{"permessage-deflate; unknown_param", ""},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", ""},
		{"permessage-deflate; client_max_window_bits; client_max_window_bits=9", ""},
		{"permessage-deflate; x=\"a,b\", permessage-deflate; server_no_context_takeover",
			"permessage-deflate; server_no_context_takeover"},
		{`permessage-deflate; client_max_window_bits="1 0"`, ""},
		{"foo, , permessage-deflate; server_max_window_bits=9; client_max_window_bits, bar",
			"permessage-deflate; server_max_window_bits=9"},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover",
			"permessage-deflate; server_max_window_bits=10"},
		{"permessage deflate", ""},
	}
	for _, c := range cases {
		got := ""
		if p := negotiateDeflate(c.offer); p != nil {
			got = p.response
		}
		if got != c.want {
			t.Errorf("offer %q: agreed %q, want %q", c.offer, got, c.want)
		}
	}
}

// zClient is a test client that speaks permessage-deflate as the 101 agreed.
type zClient struct {
	*testClient
	agreed        string             // the 101's Sec-WebSocket-Extensions
	clientNoCtx   bool               // each of our messages starts afresh (client_no_context_takeover)
	zw            *wstest.Compressor // our messages, as the agreement lets us compress them
	zr            *wstest.Inflater   // the server's, with its context unless it agreed to keep none
	rsv1Messages  int                // echoes that came compressed
	wireBytesRecv int                // payload bytes received
}

// dialDeflate connects offering extensions (nothing: no header).
func dialDeflate(t testing.TB, addr, offer string) *zClient {
	t.Helper()
	extra := []string{"Origin: null\r\n"}
	if offer != "" {
		extra = append(extra, "Sec-WebSocket-Extensions: "+offer+"\r\n")
	}
	tc, err := dialWS(addr, "/", extra...)
	if err != nil {
		t.Fatal(err)
	}
	tc.t = tc.tOr(t)
	t.Cleanup(func() { tc.nc.Close() })
	z := &zClient{testClient: tc, agreed: tc.header.Get("Sec-WebSocket-Extensions")}
	if z.agreed == "" {
		return z
	}
	d, err := wstest.ParseDeflate(z.agreed)
	if err != nil {
		t.Fatalf("agreed %q: %v", z.agreed, err)
	}
	z.clientNoCtx = d.ClientNoContext
	level := flate.BestSpeed
	if d.ClientBits < 15 {
		level = flate.HuffmanOnly // compress/flate cannot narrow its window: refer back to nothing
	}
	z.zw, z.zr = wstest.NewCompressor(level, d.ClientNoContext), wstest.NewInflater(d)
	return z
}

// tOr is c.t if set, else t.
func (c *testClient) tOr(t testing.TB) testing.TB {
	if c.t != nil {
		return c.t
	}
	return t
}

// compress is a message as the client sends it compressed (RFC 7692 §7.2.1).
func (z *zClient) compress(p []byte) []byte {
	b, err := z.zw.Compress(p)
	if err != nil {
		z.t.Fatal(err)
	}
	return b
}

// messageFrames is p compressed as one frame, or in pieces of size piece.
func (z *zClient) messageFrames(op byte, p []byte, piece int) []testFrame {
	c := z.compress(p)
	if piece <= 0 || piece >= len(c) {
		return []testFrame{{fin: true, rsv: 0x40, opcode: op, payload: c}}
	}
	var fs []testFrame
	for i := 0; i < len(c); i += piece {
		f := testFrame{opcode: 0, payload: c[i:min(len(c), i+piece)], fin: i+piece >= len(c)}
		if i == 0 {
			f.opcode, f.rsv = op, 0x40 // RSV1 on the first frame only (§6)
		}
		fs = append(fs, f)
	}
	return fs
}

// readMessage reads the server's next frame and inflates it if RSV1 says so.
func (z *zClient) readMessage() testFrame {
	z.t.Helper()
	f, err := readServerFrameExt(z.br, z.agreed != "")
	if err != nil {
		z.t.Fatal(err)
	}
	z.wireBytesRecv += len(f.payload)
	if f.rsv&0x40 == 0 {
		return f
	}
	z.rsv1Messages++
	f.payload, f.rsv = z.inflateEcho(f.payload), 0
	return f
}

// inflateEcho inflates a compressed message from the server, with the
// server's context unless it agreed not to take it over.
func (z *zClient) inflateEcho(payload []byte) []byte {
	z.t.Helper()
	// Only the last 2^server_max_window_bits bytes may be referred to: a
	// server that reached further back fails here.
	p, err := z.zr.Inflate(payload)
	if err != nil {
		z.t.Fatalf("server's compressed message does not inflate: %v", err)
	}
	return bytes.Clone(p)
}

// jsonish is text like a chat's JSON messages, n bytes: compressible, and
// different from message to message.
func jsonish(rng *rand.Rand, n int) []byte {
	words := []string{"hello", "world", "websocket", "frame", "推送", "message", "deflate", "server", "client", "echo", "你好"}
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, `{"id":%d,"user":"user%d","text":"%s %s %s","ok":%v},`, rng.IntN(1e6), rng.IntN(100),
			words[rng.IntN(len(words))], words[rng.IntN(len(words))], words[rng.IntN(len(words))], rng.IntN(2) == 0)
	}
	p := b.Bytes()[:n]
	for i := len(p) - 1; !utf8.Valid(p); i-- { // a cut character at the end becomes spaces
		p[i] = ' '
	}
	return p
}

// mixedBinary is n bytes, half random and half a repeated pattern.
func mixedBinary(rng *rand.Rand, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		if (i/512)%2 == 0 {
			p[i] = byte(rng.Uint32())
		} else {
			p[i] = byte(i % 7)
		}
	}
	return p
}

// TestDeflateOff: without -deflate every offer is declined, as the
// article's server does, and RSV1 is a protocol error.
func TestDeflateOff(t *testing.T) {
	addr, _ := startServer(t, nil)
	z := dialDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	if z.agreed != "" {
		t.Fatalf("agreed %q without -deflate", z.agreed)
	}
	z.send(testFrame{fin: true, rsv: 0x40, opcode: 1, payload: []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}})
	z.expectClose(1002)
}

// deflateServer starts a server with -deflate.
func deflateServer(t testing.TB, mod func(*config)) string {
	addr, _ := startServer(t, func(c *config) {
		c.deflate = true
		if mod != nil {
			mod(c)
		}
	})
	return addr
}

// TestDeflateRFC7692Examples sends the compressed "Hello" of RFC 7692
// §7.2.3 in each of its forms, byte for byte, and gets "Hello" back (plain:
// five bytes are under deflateMin).
func TestDeflateRFC7692Examples(t *testing.T) {
	addr := deflateServer(t, nil)
	hello := []byte("Hello")
	cases := []struct {
		name   string
		frames [][]byte // each frame as in the RFC, unmasked
	}{
		{"7.2.3.1 a message compressed", [][]byte{{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}}},
		{"7.2.3.2 sharing the LZ77 window", [][]byte{{0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, {0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}}},
		{"7.2.3.1 fragmented", [][]byte{{0x41, 0x03, 0xf2, 0x48, 0xcd}, {0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00}}},
		{"7.2.3.3 no compression (a stored block)", [][]byte{{0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}}},
		{"7.2.3.4 a block with BFINAL set", [][]byte{{0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}}},
		{"7.2.3.5 two deflate blocks in one message", [][]byte{{0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := dialDeflate(t, addr, "permessage-deflate")
			if z.agreed != "permessage-deflate" {
				t.Fatalf("agreed %q", z.agreed)
			}
			var messages int
			for _, raw := range c.frames {
				f := testFrame{fin: raw[0]&0x80 != 0, rsv: raw[0] & 0x70, opcode: raw[0] & 0x0F, payload: raw[2:]}
				if int(raw[1]) != len(f.payload) {
					t.Fatalf("example's length %d, payload %d", raw[1], len(f.payload))
				}
				z.send(f)
				if f.fin {
					messages++
				}
			}
			for range messages {
				if got := z.readMessage(); got.opcode != 1 || !bytes.Equal(got.payload, hello) {
					t.Fatalf("echo opcode %d %q, want text %q", got.opcode, got.payload, hello)
				}
			}
			z.send(closeFrame(1000, ""))
			z.expectCloseReply(1000)
		})
	}
}

// TestDeflateEchoIsCompressed: text echoes go compressed (RSV1) once they
// are deflateMin bytes; binary ones only if they came compressed; short
// ones plain.
func TestDeflateEchoIsCompressed(t *testing.T) {
	addr := deflateServer(t, nil)
	z := dialDeflate(t, addr, "permessage-deflate; client_max_window_bits")
	rng := rand.New(rand.NewPCG(1, 2))
	long := jsonish(rng, 4000)
	cases := []struct {
		name    string
		frames  []testFrame
		payload []byte
		rsv1    bool
	}{
		{"compressed text", z.messageFrames(1, long, 0), long, true},
		{"plain text", []testFrame{{fin: true, opcode: 1, payload: long}}, long, true},
		{"short text", []testFrame{{fin: true, opcode: 1, payload: []byte("hi")}}, []byte("hi"), false},
		{"compressed binary", z.messageFrames(2, long, 0), long, true},
		{"plain binary", []testFrame{{fin: true, opcode: 2, payload: long}}, long, false},
		{"fragmented compressed text", z.messageFrames(1, long, 100), long, true},
		{"compressed empty text", z.messageFrames(1, nil, 0), []byte{}, false},
	}
	for _, c := range cases {
		z.send(c.frames...)
		before := z.rsv1Messages
		got := z.readMessage()
		if !bytes.Equal(got.payload, c.payload) {
			t.Fatalf("%s: echo differs (%d bytes, want %d)", c.name, len(got.payload), len(c.payload))
		}
		if rsv1 := z.rsv1Messages > before; rsv1 != c.rsv1 {
			t.Errorf("%s: echo compressed %v, want %v", c.name, rsv1, c.rsv1)
		}
	}
	if z.wireBytesRecv > 5*len(long) {
		t.Errorf("echoes took %d bytes on the wire for 7 messages, 6 of %d bytes: not compressed", z.wireBytesRecv, len(long))
	}
}

// TestDeflateEchoAsReceived: where the agreement allows it, a compressed
// message is echoed as the very bytes it came in; where not, compressed
// afresh. Either way the second message, which refers back to the first
// when the client takes over context, comes back intact.
func TestDeflateEchoAsReceived(t *testing.T) {
	addr := deflateServer(t, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		offer    string
		verbatim bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true},
		{"permessage-deflate; client_no_context_takeover", true},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true},
		{"permessage-deflate; server_no_context_takeover", false}, // the client refers back; we may not
		{"permessage-deflate; server_max_window_bits=9", false},   // the client's window is larger than ours
		{"permessage-deflate; server_max_window_bits=10; client_max_window_bits=10", true},
	} {
		z := dialDeflate(t, addr, c.offer)
		for i := range 2 {
			msg := jsonish(rng, 2000)
			sent := z.compress(msg)
			z.send(testFrame{fin: true, rsv: 0x40, opcode: 1, payload: sent})
			raw, err := readServerFrameExt(z.br, true)
			if err != nil || raw.rsv != 0x40 {
				t.Fatalf("%q: echo %d: %v, RSV %#x", c.offer, i, err, raw.rsv)
			}
			// The first message compressed afresh by the same compress/flate may
			// come out the same bytes; the second, which refers back, may not.
			if same := bytes.Equal(raw.payload, sent); i == 1 && same != c.verbatim {
				t.Errorf("%q: echo %d is the bytes as received: %v, want %v", c.offer, i, same, c.verbatim)
			}
			got := z.inflateEcho(raw.payload) // with the server's context, as a client keeps it
			if !bytes.Equal(got, msg) {
				t.Fatalf("%q: echo %d differs", c.offer, i)
			}
		}
	}
}

// TestDeflateMalformed: what RFC 7692 forbids, with its close code.
func TestDeflateMalformed(t *testing.T) {
	addr := deflateServer(t, func(c *config) { c.maxMessage = 64 << 10 })
	cases := []struct {
		name   string
		frames func(z *zClient) []testFrame
		code   uint16
	}{
		{"RSV1 on a ping", func(*zClient) []testFrame {
			return []testFrame{{fin: true, rsv: 0x40, opcode: 0x9, payload: []byte("x")}}
		}, 1002},
		{"RSV1 on a close", func(*zClient) []testFrame {
			return []testFrame{{fin: true, rsv: 0x40, opcode: 0x8, payload: []byte{0x03, 0xe8}}}
		}, 1002},
		{"RSV1 on a continuation", func(z *zClient) []testFrame {
			fs := z.messageFrames(1, []byte("Hello, Hello, Hello"), 4)
			fs[1].rsv = 0x40
			return fs
		}, 1002},
		{"RSV2 with deflate agreed", func(*zClient) []testFrame {
			return []testFrame{{fin: true, rsv: 0x20, opcode: 1, payload: []byte("x")}}
		}, 1002},
		{"not deflate data", func(*zClient) []testFrame {
			return []testFrame{{fin: true, rsv: 0x40, opcode: 1, payload: []byte{0xff, 0xff, 0xff, 0xff, 0xff}}}
		}, 1007},
		{"inflates to invalid UTF-8", func(z *zClient) []testFrame {
			return z.messageFrames(1, []byte("caf\xc3 is not UTF-8, repeated: caf\xc3 caf\xc3"), 0)
		}, 1007},
		{"inflates past -max-message", func(z *zClient) []testFrame {
			return z.messageFrames(2, make([]byte, 64<<10+1), 0)
		}, 1009},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := dialDeflate(t, addr, "permessage-deflate")
			z.send(c.frames(z)...)
			z.expectClose(c.code)
		})
	}
	t.Run("exactly -max-message inflated", func(t *testing.T) {
		z := dialDeflate(t, addr, "permessage-deflate")
		z.send(z.messageFrames(2, make([]byte, 64<<10), 0)...)
		if got := z.readMessage(); len(got.payload) != 64<<10 {
			t.Fatalf("echo of %d bytes", len(got.payload))
		}
	})
}

// TestDeflateMaxMessageBetweenClasses: a -max-message that is no buffer
// class (pool.go's msgClasses) holds exactly for what a message inflates
// to: the buffer it inflates into is rounded up to a class, and the limit
// must not be.
func TestDeflateMaxMessageBetweenClasses(t *testing.T) {
	const limit = 10000 // between the 4 and 16 KiB classes
	addr := deflateServer(t, func(c *config) { c.maxMessage = limit })
	z := dialDeflate(t, addr, "permessage-deflate")
	z.send(z.messageFrames(2, make([]byte, limit), 0)...)
	if got := z.readMessage(); len(got.payload) != limit {
		t.Fatalf("echo of %d bytes", len(got.payload))
	}
	z = dialDeflate(t, addr, "permessage-deflate")
	z.send(z.messageFrames(2, make([]byte, limit+1), 0)...)
	z.expectClose(1009)
}

// TestDeflateZipBomb: a few KiB that inflate to 64 MiB are refused with
// 1009 as soon as the inflated bytes pass -max-message, having cost no more
// than the limit.
func TestDeflateZipBomb(t *testing.T) {
	const limit = 1 << 20
	addr := deflateServer(t, func(c *config) { c.maxMessage = limit })
	z := dialDeflate(t, addr, "permessage-deflate")
	fw, _ := flate.NewWriter(nil, flate.BestCompression)
	var bomb bytes.Buffer
	fw.Reset(&bomb)
	zeros := make([]byte, 1<<20)
	for range 64 {
		fw.Write(zeros)
	}
	fw.Flush()
	payload := bomb.Bytes()[:bomb.Len()-4]
	if len(payload) > 80<<10 {
		t.Fatalf("bomb of %d bytes", len(payload))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	z.send(testFrame{fin: true, rsv: 0x40, opcode: 2, payload: payload})
	z.expectClose(1009)
	runtime.ReadMemStats(&after)
	// The server and this test share the process: everything allocated
	// meanwhile counts. Inflating the whole 64 MiB would allocate at least that.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*limit {
		t.Errorf("a %d-byte bomb cost %d bytes of allocation; the limit is %d", len(payload), got, limit)
	}
	t.Logf("%d compressed bytes refused in %v", len(payload), time.Since(start))
}

// deflateOffers are the offers of the conformance suite's section 13 and
// more: context takeover on and off each way, the server's window at 8, 9
// and 15 bits, the client naming its own window, and a list to choose from.
var deflateOffers = []string{
	"permessage-deflate",
	"permessage-deflate; server_no_context_takeover",
	"permessage-deflate; client_no_context_takeover",
	"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	"permessage-deflate; server_max_window_bits=8",
	"permessage-deflate; server_max_window_bits=9",
	"permessage-deflate; server_max_window_bits=15",
	"permessage-deflate; server_no_context_takeover; server_max_window_bits=9",
	"permessage-deflate; client_max_window_bits",
	"permessage-deflate; client_max_window_bits=9",
	"permessage-deflate; client_no_context_takeover; client_max_window_bits=15",
	"permessage-deflate; server_max_window_bits=7, permessage-deflate; server_no_context_takeover; server_max_window_bits=8, permessage-deflate",
}

// deflateSizes are section 12's message sizes, and 256 KiB.
var deflateSizes = []int{16, 64, 256, 1 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10}

// TestDeflateSections12And13 sends, for every offer, text and binary
// messages of every size, 1,000 in a row each (fewer of the large ones
// unless WSECHO_DEFLATE_FULL=1, see deflateCount), compressed, every fifth one
// fragmented, while the echoes are read as they come; every echo must be
// the message.
func TestDeflateSections12And13(t *testing.T) {
	addr := deflateServer(t, func(c *config) { c.maxMessage = 1 << 20 })
	for i, offer := range deflateOffers {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			for _, op := range []byte{1, 2} {
				for _, size := range deflateSizes {
					z := dialDeflate(t, addr, offer)
					if z.agreed == "" {
						t.Fatalf("offer %q declined", offer)
					}
					deflateRun(t, z, op, size, deflateCount(size), uint64(i))
					z.send(closeFrame(1000, ""))
					z.expectCloseReply(1000)
				}
			}
		})
	}
}

// deflateCount is how many messages of a size one run sends: 1,000, as
// the conformance suite does, with WSECHO_DEFLATE_FULL=1 (CI sets it for a
// run of its own, without the race detector: it takes minutes). Otherwise
// 1,000 up to 4 KiB, and larger sizes as many as make 4 MiB; under the
// race detector, which slows compress/flate tenfold, 1,000 up to 256 B and
// as many as make 128 KiB.
func deflateCount(size int) int {
	small, total := 4<<10, 4<<20
	if raceEnabled {
		small, total = 256, 128<<10
	}
	if os.Getenv("WSECHO_DEFLATE_FULL") == "1" || size <= small {
		return 1000
	}
	return max(2, total/size)
}

// deflateRun sends count messages of op and size through z, every fifth
// fragmented, and checks each echo as it arrives.
func deflateRun(t *testing.T, z *zClient, op byte, size, count int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	msgs := make([][]byte, count)
	for i := range msgs {
		if op == 1 {
			msgs[i] = jsonish(rng, size)
		} else {
			msgs[i] = mixedBinary(rng, size)
		}
	}
	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() {
		for i, m := range msgs {
			piece := 0
			if i%5 == 4 {
				piece = max(1, size/7)
			}
			if _, err := z.nc.Write(frames(z.messageFrames(op, m, piece)...)); err != nil {
				sendErr = err
				return
			}
		}
	})
	z.nc.SetReadDeadline(time.Now().Add(2 * time.Minute))
	for i, m := range msgs {
		got := z.readMessage()
		if got.opcode != op || !bytes.Equal(got.payload, m) {
			wg.Wait()
			t.Fatalf("%q, %d-byte messages: echo %d of %d differs (opcode %d, %d bytes)", z.agreed, size, i, count, got.opcode, len(got.payload))
		}
	}
	wg.Wait()
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	if size >= 256 && z.rsv1Messages < count { // text and compressed binary come back compressed
		t.Errorf("%q: %d of %d echoes compressed", z.agreed, z.rsv1Messages, count)
	}
}

// TestFlateWriterMem checks the figure the budget counts a kept compressor as.
func TestFlateWriterMem(t *testing.T) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	w, _ := flate.NewWriter(io.Discard, flate.BestSpeed)
	runtime.ReadMemStats(&b)
	runtime.KeepAlive(w)
	if got := b.TotalAlloc - a.TotalAlloc; got > flateWriterMem || got < flateWriterMem/2 {
		t.Errorf("flate.NewWriter allocates %d bytes; flateWriterMem says %d", got, flateWriterMem)
	}
}

// FuzzInflate feeds any bytes to the server as a compressed message: it
// must inflate them or refuse them with 1007 or 1009, never hold more than
// the limit, never panic.
func FuzzInflate(f *testing.F) {
	f.Add([]byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, false)
	f.Add([]byte{0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00}, true)
	f.Add([]byte{0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, false)
	f.Add([]byte{0xff}, false)
	const limit = 4 << 10
	f.Fuzz(func(t *testing.T, z []byte, takeover bool) {
		c := &wsConn{maxMessage: limit}
		c.deflate = newDeflater(&deflateParams{serverMaxWindowBits: 15, clientMaxWindowBits: 15, clientNoContextTakeover: !takeover})
		for range 2 { // twice: the second message sees the first one's window
			c.msg = append(make([]byte, msgHeadroom, msgHeadroom+len(z)), z...)
			err := c.inflate()
			switch {
			case err == nil && len(c.msg)-msgHeadroom > limit:
				t.Fatalf("inflated to %d bytes, limit %d", len(c.msg)-msgHeadroom, limit)
			case err != nil && err != errBadDeflate && err != errMessageTooBig:
				t.Fatalf("error %v", err)
			case len(c.deflate.hist) > 1<<15:
				t.Fatalf("window of %d bytes", len(c.deflate.hist))
			}
			c.releaseMsgBuf()
		}
	})
}
