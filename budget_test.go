package main

// budget_test.go: every byte held is paid for, fairly (budget.go), each
// over a real socket: a budget charged on bytes that arrived, nothing
// charged between messages, compressors and windows bounded apart from
// messages, a decompression bomb that costs its sender, and the largest
// holders refused first, so that a well-behaved client is echoed while
// others fill the budget.

import (
	"bytes"
	"compress/flate"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// wellBehaved checks that a client sending 16 B, 20 KiB and 1 MiB text
// messages gets each echoed whole: never a 1013.
func wellBehaved(t *testing.T, addr string) {
	t.Helper()
	c := dial(t, addr)
	for _, n := range []int{16, 20 << 10, 1 << 20} {
		msg := bytes.Repeat([]byte("w"), n)
		c.send(testFrame{fin: true, opcode: 1, payload: msg})
		f := c.read()
		if f.opcode != 1 || !bytes.Equal(f.payload, msg) {
			t.Fatalf("a %d-byte message: got opcode %#x, %d bytes (close code %d); want its echo", n, f.opcode, len(f.payload), closeCodeOf(f))
		}
	}
	c.send(closeFrame(1000, ""))
	c.expectCloseReply(1000)
}

// waitBlockedIn waits until n goroutines are blocked on the network with
// fn on their stack: the server has read what the clients sent and waits
// for more, where fn is.
func waitBlockedIn(t *testing.T, fn string, n int) {
	t.Helper()
	buf := make([]byte, 16<<20)
	waitFor(t, "the server waits in "+fn, func() bool {
		dump := string(buf[:runtime.Stack(buf, true)])
		count := 0
		for g := range strings.SplitSeq(dump, "\n\n") {
			if strings.Contains(g, "[IO wait") && strings.Contains(g, fn) {
				count++
			}
		}
		return count >= n
	})
}

// TestBudgetChargesArrivedBytes: clients that each send the header of a
// final frame announcing 65,535 bytes, and one byte of it, hold nothing
// of the budget: a buffer grows with the bytes that arrived, not with the
// length announced. A well-behaved client is echoed meanwhile.
func TestBudgetChargesArrivedBytes(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 4 << 20 })
	const attackers = 60 // 60 x 64 KiB is nearly all of the budget
	for range attackers {
		c := dial(t, addr)
		hdr := testFrame{fin: true, opcode: 2, payload: []byte{1}, declare: 65535}.encode()
		if _, err := c.nc.Write(hdr); err != nil {
			t.Fatal(err)
		}
	}
	waitBlockedIn(t, "readPayload", attackers)
	if used := srv.budget.used.Load(); used > 0 {
		t.Errorf("%d clients that sent 9 bytes each hold %d bytes of the budget", attackers, used)
	}
	wellBehaved(t, addr)
}

// TestBudgetFreeBetweenMessages: clients that echo a 16,385-byte message,
// then another with the first byte of a pong after it, and nothing more,
// hold nothing of the budget: a byte of the next frame does not keep the
// last message's buffer.
func TestBudgetFreeBetweenMessages(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 4 << 20 })
	const attackers = 60
	msg := bytes.Repeat([]byte{5}, 16385)
	echo := frames(binaryMsg(msg))
	pong := testFrame{fin: true, opcode: 0xA}.encode()
	for range attackers {
		c := dial(t, addr)
		c.send(binaryMsg(msg)) // the server now expects frames of this size (direct.go)
		if f := c.read(); len(f.payload) != len(msg) {
			t.Fatalf("echo of %d bytes", len(f.payload))
		}
		if _, err := c.nc.Write(append(echo, pong[0])); err != nil { // the frame and a byte after it, in one write
			t.Fatal(err)
		}
		if f := c.read(); len(f.payload) != len(msg) {
			t.Fatalf("echo of %d bytes", len(f.payload))
		}
	}
	waitBlockedIn(t, "readFrameHeader", attackers)
	if used := srv.budget.used.Load(); used > 0 {
		t.Errorf("%d clients between messages hold %d bytes of the budget", attackers, used)
	}
	wellBehaved(t, addr)
}

// TestBudgetEvictsLargestHolder: four clients fill the budget with
// messages they never finish, the first holding most; a fifth client's
// 1 MiB message, within its fair share, is echoed, and the largest holder
// is the one closed with 1013.
func TestBudgetEvictsLargestHolder(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 16 << 20 })
	var holders []*testClient
	held := 0
	for _, size := range []int{6 << 20, 3 << 20, 3 << 19, 3 << 18} { // buffers of 8, 4, 2 and 1 MiB: 15 MiB
		c := dial(t, addr)
		for sent, op := 0, byte(2); sent < size; sent, op = sent+256<<10, 0 { // a binary frame, then continuations, none final
			c.send(testFrame{opcode: op, payload: make([]byte, 256<<10)})
		}
		held += size * 4 / 3
		waitFor(t, "the messages hold their buffers", func() bool { return srv.budget.used.Load() >= int64(held) })
		holders = append(holders, c)
	}
	wellBehaved(t, addr)
	holders[0].expectClose(1013)
}

// TestBudgetEvictsNonReader: the largest holder is evicted while the echo
// of its message waits for a client that does not read: its write fails at
// once (write.go:halt), not at -write-timeout, and its buffer goes back,
// while the client that needed the room is echoed.
func TestBudgetEvictsNonReader(t *testing.T) {
	addr, srv := startServer(t, func(c *config) { c.maxBuffered = 24 << 20; c.writeTimeout = time.Minute })
	a := dial(t, addr)
	if tc, ok := a.nc.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10) // the echo's write blocks soon: a reads nothing
	}
	a.send(testFrame{fin: true, opcode: 1, payload: bytes.Repeat([]byte("a"), 14<<20)})
	waitBlockedIn(t, "frameWriter", 1)
	b := dial(t, addr)
	msg := bytes.Repeat([]byte("b"), 7<<20) // its last buffer takes the budget past the limit, within b's fair share
	b.send(testFrame{fin: true, opcode: 1, payload: msg})
	if f := b.read(); f.opcode != 1 || !bytes.Equal(f.payload, msg) {
		t.Fatalf("the message that needed the room: opcode %#x, %d bytes (close code %d)", f.opcode, len(f.payload), closeCodeOf(f))
	}
	waitFor(t, "the evicted non-reader to give its buffer back", func() bool { return srv.budget.used.Load() < 14<<20 })
}

// TestBudgetCountsEvictedAsLeaving: a holder evicted but not yet ended
// still holds its bytes, and takes no more; until it gives them back they
// are room on its way, so a connection within its fair share is let in
// meanwhile, not refused for want of a second victim, as long as the
// others stay within the limit.
func TestBudgetCountsEvictedAsLeaving(t *testing.T) {
	b := &budget{limit: 16 << 20}
	victim, asker := &wsConn{}, &wsConn{}
	if !b.take(victim, 12<<20) {
		t.Fatal("12 MiB of 16 refused")
	}
	victim.evict()
	if !b.take(asker, 5<<20) {
		t.Fatalf("5 MiB within its share refused while the evicted holder's 12 MiB are on their way back")
	}
	if b.take(victim, 1) {
		t.Fatal("an evicted holder took more")
	}

	// Past the limit by no more than what the evicted hold: with holders
	// of 900 KiB, too small to evict, each 200 KiB more, within its fair
	// share, is let in until the rest pass the limit.
	b = &budget{limit: 4 << 20}
	victim = &wsConn{}
	b.take(victim, 1<<20)
	for range 3 {
		if !b.take(&wsConn{}, 900<<10) {
			t.Fatal("900 KiB refused")
		}
	}
	victim.evict()
	let := 0
	for b.take(&wsConn{}, 200<<10) {
		let++
	}
	if rest := b.used.Load() - victim.held.Load(); let != 6 || rest > b.limit {
		t.Fatalf("%d takes of 200 KiB let in, the rest holding %d; want 6, and at most the limit, %d", let, rest, b.limit)
	}
}

// TestEvictionDeadlinesStay: the deadlines evict sets are not undone by
// the connection's own, set just after from its goroutine: a read
// deadline a quiet spell sets (keepalive.go:setDeadline), or the
// shutdown's write deadline (close.go:goAway), which keeps halt's.
func TestEvictionDeadlinesStay(t *testing.T) {
	nc := &deadlineCounter{}
	ws := &wsConn{out: frameWriter{nc: nc, w: nc, timeout: time.Minute}}
	k := &connReader{nc: nc, ws: ws, ping: time.Minute}
	ws.evict()
	k.setDeadline(time.Now().Add(time.Minute)) // the reader's own, set just after evict's
	ws.goAway(time.Now().Add(time.Minute))
	ws.out.arm()
	if limit := time.Now().Add(haltGrace); nc.read.After(time.Now()) || nc.write.After(limit) {
		t.Fatalf("after the eviction, read deadline in %v, write deadline in %v; want none later than now and haltGrace",
			time.Until(nc.read).Round(time.Millisecond), time.Until(nc.write).Round(time.Millisecond))
	}
}

// TestDeflateCompressorsApart: connections that keep the server's
// compressor busy hold nothing of the message budget, and no more than
// half of maxCompressors compressors are kept between messages.
func TestDeflateCompressorsApart(t *testing.T) {
	addr, srv := startServer(t, func(c *config) {
		c.deflate = true
		c.maxBuffered = 8 << 20 // less than maxCompressors compressors
	})
	text := bytes.Repeat([]byte("a compressible echo, "), 20)
	const conns = maxCompressors + 8
	for range conns {
		z := dialDeflate(t, addr, "permessage-deflate")
		// The message, then the first byte of the next frame: the server
		// stays busy with this connection and keeps its compressor.
		if _, err := z.nc.Write(append(frames(testFrame{fin: true, opcode: 1, payload: text}), 0x81)); err != nil {
			t.Fatal(err)
		}
		if got := z.readMessage(); !bytes.Equal(got.payload, text) {
			t.Fatalf("echo differs")
		}
	}
	if out := compressorsOut.Load(); out > maxCompressors/2 {
		t.Errorf("%d compressors kept, more than %d", out, maxCompressors/2)
	}
	if used := srv.budget.used.Load(); used > 0 {
		t.Errorf("connections with a compressor hold %d bytes of the message budget", used)
	}
	wellBehaved(t, addr)
}

// TestDeflateWindowsPaid: the clients' windows are paid from a quarter of
// -max-buffered; once it is spent, the 101 asks the client to keep no
// context (client_no_context_takeover), its echoes still right, and a
// window given back at a connection's end is there for the next.
func TestDeflateWindowsPaid(t *testing.T) {
	addr, srv := startServer(t, func(c *config) {
		c.deflate = true
		c.maxBuffered = 1 << 20 // a quarter: room for eight windows of 32 KiB
	})
	offer := "permessage-deflate; client_max_window_bits" // Chromium's
	var zs []*zClient
	for i := range 10 {
		z := dialDeflate(t, addr, offer)
		if got, want := z.clientNoCtx, i >= 8; got != want {
			t.Fatalf("connection %d: %q (client_no_context_takeover %v, want %v)", i, z.agreed, got, want)
		}
		zs = append(zs, z)
	}
	msg := []byte(strings.Repeat("context taken over, or not; ", 8))
	for _, z := range zs[7:] {
		for range 3 {
			z.send(z.messageFrames(1, msg, 0)...)
			if got := z.readMessage(); !bytes.Equal(got.payload, msg) {
				t.Fatalf("%q: echo differs", z.agreed)
			}
		}
	}
	zs[0].send(closeFrame(1000, ""))
	zs[0].expectCloseReply(1000)
	waitFor(t, "the window is given back", func() bool { return srv.budget.windows.Load() <= 7*32<<10 })
	if z := dialDeflate(t, addr, offer); z.clientNoCtx {
		t.Errorf("after a window was given back: %q", z.agreed)
	}
}

// TestDeflateBombCostsSender: a message that inflates to a thousand times
// its size is refused with 1009 once it passes maxInflateRatio times that
// size, having cost the server a few MiB, not -max-message (64 MiB); one
// that inflates as far but stays under maxInflateFloor is echoed.
func TestDeflateBombCostsSender(t *testing.T) {
	addr := deflateServer(t, nil) // the default -max-message, 64 MiB
	bomb := func(n int) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		fw.Write(make([]byte, n))
		fw.Flush()
		return b.Bytes()[:b.Len()-4]
	}
	big := bomb(64 << 20)
	z := dialDeflate(t, addr, "permessage-deflate")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	z.send(testFrame{fin: true, rsv: 0x40, opcode: 2, payload: big})
	z.expectClose(1009)
	runtime.ReadMemStats(&after)
	// The server and this test share the process: everything allocated
	// meanwhile counts. Inflating to -max-message would allocate 64 MiB.
	if got, most := after.TotalAlloc-before.TotalAlloc, uint64(4*maxInflateRatio*len(big)); got > most {
		t.Errorf("a %d-byte bomb cost %d bytes of allocation; want at most %d", len(big), got, most)
	}

	small := bomb(maxInflateFloor / 2)
	z = dialDeflate(t, addr, "permessage-deflate")
	z.send(testFrame{fin: true, rsv: 0x40, opcode: 2, payload: small})
	if got := z.readMessage(); len(got.payload) != maxInflateFloor/2 {
		t.Fatalf("a %d-byte message that inflates to %d: echo of %d bytes", len(small), maxInflateFloor/2, len(got.payload))
	}
}
