package main

// attack.go: -mode attack -attack NAME, the attacks of issue 21 ("every
// byte held is paid for, fairly"), each run by -conns attackers for
// -duration while one well-behaved client, the probe, echoes text messages
// of 16 B, 20 KB and 1 MB in turn on a connection of its own and checks
// every echo byte for byte. At the end: the probe's round trips and
// failures per size (any Close, with its code, or an echo that differs),
// the bytes the attackers sent, the server's RSS (idle baseline, peak,
// after the attackers left), its CPU during the attack, and the bytes it
// held (RSS growth over the idle baseline, at the peak) divided by the
// bytes the attackers sent. Every attacker's reads and writes end at the
// attack's deadline; every loop is bounded in count as well.

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var attackName = flag.String("attack", "", "-mode attack: the attack to run with -conns attackers for -duration, "+
	"while a probe echoes 16 B, 20 KB and 1 MB text messages: "+strings.Join(attackNames(), ", ")+" (attack.go)")

// attacks are the attacks by name, each with what it needs of the server.
var attacks = map[string]struct {
	deflate bool   // the attackers offer permessage-deflate: run the server with -deflate
	offer   string // what they offer, with deflate
	run     func(a *attack, stop time.Time)
	what    string
}{
	"none": {run: nil, what: "no attackers: the probe alone, for reference"},
	"announce": {run: (*attack).announce,
		what: "after the handshake, a final binary frame's header announcing 65,535 bytes, its masking key and 1 payload byte (9 bytes); then silence"},
	"pin": {run: (*attack).pin,
		what: "a 16,385-byte binary message echoed, then a second one written together with the first byte of a pong (0x8A), its echo read; then silence"},
	"zipbusy": {deflate: true, offer: deflateOffer, run: (*attack).zipbusy,
		what: "a 2 KB plain text message echoed (compressed by the server), then a second one written together with 0x81, its echo read; then silence"},
	"bomb": {deflate: true, offer: "permessage-deflate", run: (*attack).bomb,
		what: "a compressed binary message of about 65 KB that inflates to 64 MiB of zeros, again and again, reading each echo or Close; a new connection after a Close"},
	"windows": {deflate: true, offer: deflateOffer, run: (*attack).windows,
		what: "one 32 KiB text message of random letters, compressed, its echo read; then silence, the connection held"},
	"hold": {run: (*attack).hold,
		what: "a binary message of 64 MiB - 1 sent in 1 MiB fragments, never the last (as -mode hold); then silence"},
}

func attackNames() []string {
	var names []string
	for n := range attacks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// probeSizes are the probe's messages, sent in turn, one every
// probeInterval (or as soon as the last echo is back, if later): a
// client that keeps the server busy only a little, so that the server's
// CPU during an attack is mostly the attack's.
var probeSizes = [...]int{16, 20_000, 1_000_000}

const probeInterval = 10 * time.Millisecond

// attack is one run: the attackers' options and what they did.
type attack struct {
	o     options // the attackers' options: -deflate and -offer as the attack needs
	d     *dialer
	frame []byte // the attack's message, prepared once
	hsLen int    // the bytes of one handshake request

	sent      atomic.Int64 // bytes the attackers wrote, handshakes included
	handshake atomic.Int64 // of which handshakes
	opened    atomic.Int64 // connections opened
	failed    atomic.Int64 // connections that could not be opened
	dropped   atomic.Int64 // connections the server ended without a Close (EOF, reset)
	firstErr  atomic.Value

	mu    sync.Mutex
	codes map[int]int // the Close codes the server sent the attackers
	conns []net.Conn  // every attacker connection, closed at the end
}

// attackRun runs -attack with -conns attackers for -duration, and the probe.
func attackRun(o options) error {
	spec, ok := attacks[*attackName]
	if !ok {
		return fmt.Errorf("-attack: one of %s", strings.Join(attackNames(), ", "))
	}
	if o.pid == 0 {
		return errors.New("-mode attack needs -pid, the server's process to measure")
	}
	if spec.run == nil {
		o.conns = 0
	}
	a := &attack{o: o, d: newDialer(o.sources, o.conns+1), codes: map[int]int{}}
	a.o.deflate, a.o.offer = spec.deflate, spec.offer
	a.hsLen = handshakeLen(a.o)
	if err := a.prepare(); err != nil {
		return err
	}
	probeOpts := o
	probeOpts.deflate = false // plain, whatever the server agrees to

	rss0 := procRSS(o.pid)
	cpu0 := procCPU(o.pid)
	start := time.Now()
	stop := start.Add(o.duration)
	var probe probeResult
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); probe = runProbe(a.d, probeOpts, stop) }()
	attackersDone := make(chan struct{})
	go func() {
		defer close(attackersDone)
		if spec.run != nil {
			spec.run(a, stop)
		}
	}()
	peak := rss0
	for tick := 0; tick < 10*int(o.duration/time.Second+60); tick++ { // bounded: the probe ends at most 10 s after stop
		time.Sleep(100 * time.Millisecond)
		peak = max(peak, procRSS(o.pid))
		if isClosed(probeDone) && isClosed(attackersDone) {
			break
		}
	}
	cpu1 := procCPU(o.pid)
	elapsed := time.Since(start)
	a.mu.Lock()
	for _, c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	time.Sleep(3 * time.Second)
	rssAfter := procRSS(o.pid)

	fmt.Printf("attack %s: %s\n", *attackName, spec.what)
	fmt.Printf("attackers: %d, %d connections opened (%d failed to open), for %v; %d ended by the server without a Close; the server's Close codes to them: %s\n",
		o.conns, a.opened.Load(), a.failed.Load(), o.duration, a.dropped.Load(), a.codeList())
	if err, _ := a.firstErr.Load().(error); err != nil {
		fmt.Printf("first attacker error: %v\n", err)
	}
	for i, n := range probeSizes {
		s := probe.sizes[i]
		fmt.Printf("probe %7d B: %6d echoes, p50 %v, p99 %v; failures %d%s\n", n, len(s.rtts), pct(s.rtts, 0.50), pct(s.rtts, 0.99), s.failures, s.reasons())
	}
	fmt.Printf("probe: Close 1013 %d times\n", probe.closes[1013])
	sent := a.sent.Load()
	fmt.Printf("attackers sent: %d bytes (%d of them in %d handshakes)\n", sent, a.handshake.Load(), a.opened.Load())
	fmt.Printf("server RSS: %d KiB idle baseline, %d KiB at the peak, %d KiB 3 s after the attackers left\n", rss0, peak, rssAfter)
	fmt.Printf("server CPU: %.2f s in %.1f s\n", (cpu1 - cpu0).Seconds(), elapsed.Seconds())
	if sent > 0 {
		fmt.Printf("held / sent: (%d - %d) KiB / %d bytes = %.3g\n", peak, rss0, sent, float64((peak-rss0)*1024)/float64(sent))
	} else {
		fmt.Printf("held / sent: n/a (nothing sent)\n")
	}
	return nil
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// handshakeLen is the length of the request connect (main.go) writes.
func handshakeLen(o options) int {
	offer := ""
	if o.deflate {
		offer = "Sec-WebSocket-Extensions: " + o.offer + "\r\n"
	}
	return len(fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n%s\r\n", o.addr, strings.Repeat("x", 24), offer))
}

// prepare builds the attack's message once.
func (a *attack) prepare() error {
	switch *attackName {
	case "pin":
		p := make([]byte, 16385)
		rand.Read(p)
		a.frame = maskedFrame(0x82, p)
	case "zipbusy":
		a.frame = maskedFrame(0x81, jsonText(2048)) // plain: RSV1 clear
	case "bomb":
		z, err := zerosBomb(64 << 20)
		if err != nil {
			return err
		}
		a.frame = maskedFrame(0xC2, z) // FIN, RSV1 (compressed), binary
	case "windows":
		z, err := compressMessage(letters(32 << 10))
		if err != nil {
			return err
		}
		a.frame = maskedFrame(0xC1, z) // FIN, RSV1, text
	}
	return nil
}

// zerosBomb is n zeros compressed as tightly as compress/flate can, as a
// client sends a compressed message (§7.2.1: the final 00 00 ff ff cut off).
func zerosBomb(n int) ([]byte, error) {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		w.Write(zeros[:min(left, len(zeros))])
	}
	w.Flush()
	z := b.Bytes()
	if !bytes.HasSuffix(z, deflateTail[:4]) {
		return nil, errors.New("compress/flate's flush did not end in 00 00 ff ff")
	}
	return z[:len(z)-4], nil
}

// letters is n random letters and digits: text that compresses only by
// its alphabet, so that a compressed message of it fills a 32 KiB window.
func letters(n int) []byte {
	const abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
	p := make([]byte, n)
	rand.Read(p)
	for i := range p {
		p[i] = abc[int(p[i])%len(abc)]
	}
	return p
}

// open connects one attacker, counting its handshake as sent, with every
// read and write ending at stop.
func (a *attack) open(stop time.Time) (*client, error) {
	c, err := connect(a.d, a.o, []byte("x"))
	if err != nil {
		a.failed.Add(1)
		a.firstErr.CompareAndSwap(nil, err)
		return nil, err
	}
	a.opened.Add(1)
	a.sent.Add(int64(a.hsLen))
	a.handshake.Add(int64(a.hsLen))
	c.nc.SetDeadline(stop)
	a.mu.Lock()
	a.conns = append(a.conns, c.nc)
	a.mu.Unlock()
	return c, nil
}

// write sends b, counting what went out.
func (a *attack) write(c *client, b []byte) error {
	n, err := c.nc.Write(b)
	a.sent.Add(int64(n))
	return err
}

// ended counts how the server ended an attacker's connection: code is the
// Close code (-1: none), err what the read returned.
func (a *attack) ended(code int, err error) {
	switch {
	case code >= 0:
		a.mu.Lock()
		a.codes[code]++
		a.mu.Unlock()
	case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
		a.dropped.Add(1)
	}
}

func (a *attack) codeList() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.codes) == 0 {
		return "none"
	}
	var parts []string
	for code, n := range a.codes {
		parts = append(parts, fmt.Sprintf("%d x%d", code, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// silent reads what the server sends until stop, answering nothing, and
// counts how it ended the connection, if it did.
func (a *attack) silent(c *client) {
	for range 1 << 20 {
		if _, _, code, err := readMessage(c, nil, 0, false); code >= 0 || err != nil {
			a.ended(code, err)
			return
		}
	}
}

// echoed reads the echo of what was just sent (or a Close), and says
// whether the connection is still open.
func (a *attack) echoed(c *client) bool {
	_, _, code, err := readMessage(c, nil, 0, false)
	if code >= 0 || err != nil {
		a.ended(code, err)
		return false
	}
	return true
}

// each runs f for -conns attackers, 100 opening at a time, and waits for
// them all: f's first return is when its attacker has done its part and
// the next may start opening; it then holds until stop.
func (a *attack) each(stop time.Time, f func(c *client) bool) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for range a.o.conns {
		if !time.Now().Before(stop) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			c, err := a.open(stop)
			if err != nil {
				<-sem
				return
			}
			ok := f(c)
			<-sem
			if ok {
				a.silent(c)
			}
		})
	}
	wg.Wait()
}

// announce: a header announcing 65,535 bytes and one byte of them.
func (a *attack) announce(stop time.Time) {
	a.each(stop, func(c *client) bool {
		f := []byte{0x82, 0xFE, 0xFF, 0xFF, 0, 0, 0, 0, 0}
		rand.Read(f[4:])
		return a.write(c, f) == nil
	})
}

// pin: two 16,385-byte messages echoed, the second written with the first
// byte of a pong, which never gets its second.
func (a *attack) pin(stop time.Time) {
	second := append(slices.Clip(a.frame), 0x8A)
	a.each(stop, func(c *client) bool {
		return a.write(c, a.frame) == nil && a.echoed(c) && a.write(c, second) == nil && a.echoed(c)
	})
}

// zipbusy: 2 KB of text echoed compressed, twice, the second written with
// the first byte of the next text frame, which never gets its second.
func (a *attack) zipbusy(stop time.Time) {
	second := append(slices.Clip(a.frame), 0x81)
	a.each(stop, func(c *client) bool {
		return a.write(c, a.frame) == nil && a.echoed(c) && a.write(c, second) == nil && a.echoed(c)
	})
}

// windows: one compressed message of 32 KiB, echoed.
func (a *attack) windows(stop time.Time) {
	a.each(stop, func(c *client) bool {
		return a.write(c, a.frame) == nil && a.echoed(c)
	})
}

// hold: 64 MiB - 1 of a binary message in 1 MiB fragments, never the last.
func (a *attack) hold(stop time.Time) {
	const size = 64<<20 - 1
	piece := make([]byte, 1<<20)
	a.each(stop, func(c *client) bool {
		for sent := 0; sent < size; sent += len(piece) {
			n := min(len(piece), size-sent)
			op := byte(0x02)
			if sent > 0 {
				op = 0x00 // continuation; FIN is never set
			}
			f := binary.BigEndian.AppendUint64([]byte{op, 0x80 | 127}, uint64(n))
			f = append(f, 1, 2, 3, 4)
			if a.write(c, append(f, piece[:n]...)) != nil {
				break // the server may close before it is all sent
			}
		}
		return true
	})
}

// bomb: the compressed 64 MiB of zeros, again and again; a new connection
// after each Close.
func (a *attack) bomb(stop time.Time) {
	var wg sync.WaitGroup
	for range a.o.conns {
		wg.Go(func() {
			var c *client
			for n := 0; n < 5000 && time.Now().Before(stop); n++ {
				if c == nil {
					var err error
					if c, err = a.open(stop); err != nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
				}
				if a.write(c, a.frame) != nil || !a.echoed(c) {
					c.nc.Close()
					c = nil
				}
			}
		})
	}
	wg.Wait()
}

// readMessage reads the server's frames until the end of a data message,
// or a Close (code: its code, 1005 if it has none; -1 if no Close came).
// It keeps up to limit bytes of the payload, in into[:0]; pings are
// answered only when pong is set.
func readMessage(c *client, into []byte, limit int, pong bool) (op byte, p []byte, code int, err error) {
	p = into[:0]
	for range 1 << 20 {
		n, err := c.readHead()
		if err != nil {
			return 0, p, -1, err
		}
		b0 := c.hdr[0]
		if c.hdr[1]&0x80 != 0 {
			return b0, p, -1, errors.New("masked frame from the server")
		}
		if b0&0x08 != 0 { // control
			if n > 125 {
				return b0, p, -1, fmt.Errorf("control frame of %d bytes", n)
			}
			var ctl [125]byte
			if _, err := io.ReadFull(c.br, ctl[:n]); err != nil {
				return b0, p, -1, err
			}
			switch b0 & 0x0F {
			case 0x8:
				if n < 2 {
					return b0, p, 1005, nil
				}
				return b0, p, int(binary.BigEndian.Uint16(ctl[:2])), nil
			case 0x9:
				if pong {
					if _, err := c.nc.Write(maskedFrame(0x8A, ctl[:n])); err != nil {
						return b0, p, -1, err
					}
				}
			}
			continue
		}
		if b0&0x0F != 0 {
			op = b0 & 0x0F
		}
		keep := min(n, max(0, limit-len(p)))
		start := len(p)
		p = append(p, make([]byte, keep)...)
		if _, err := io.ReadFull(c.br, p[start:]); err != nil {
			return op, p, -1, err
		}
		if _, err := io.CopyN(io.Discard, c.br, int64(n-keep)); err != nil {
			return op, p, -1, err
		}
		if b0&0x80 != 0 {
			return op, p, -1, nil
		}
	}
	return op, p, -1, errors.New("too many frames")
}

// probeSize is what the probe saw for one size.
type probeSize struct {
	rtts     []time.Duration
	failures int
	why      map[string]int
}

func (s *probeSize) fail(why string) {
	s.failures++
	if s.why == nil {
		s.why = map[string]int{}
	}
	s.why[why]++
}

func (s *probeSize) reasons() string {
	if len(s.why) == 0 {
		return ""
	}
	var parts []string
	for w, n := range s.why {
		parts = append(parts, fmt.Sprintf("%s x%d", w, n))
	}
	sort.Strings(parts)
	return " (" + strings.Join(parts, ", ") + ")"
}

// probeResult is what the probe saw, per size.
type probeResult struct {
	sizes  [len(probeSizes)]probeSize
	closes map[int]int
}

// runProbe echoes text messages of each of probeSizes in turn until stop,
// one at a time, one every probeInterval, each with 10 s to come back,
// checking every byte; after any failure it opens a new connection.
func runProbe(d *dialer, o options, stop time.Time) probeResult {
	r := probeResult{closes: map[int]int{}}
	var msgs, frames [len(probeSizes)][]byte
	for i, n := range probeSizes {
		msgs[i] = letters(n)
		frames[i] = maskedFrame(0x81, msgs[i])
	}
	buf := make([]byte, 0, probeSizes[len(probeSizes)-1]+1)
	var c *client
	defer func() {
		if c != nil {
			c.nc.Close()
		}
	}()
	next := time.Now()
	for i := 0; i < 1<<22 && time.Now().Before(stop); i++ {
		time.Sleep(time.Until(next))
		if next = next.Add(probeInterval); next.Before(time.Now()) {
			next = time.Now() // behind: no burst to catch up
		}
		k := i % len(probeSizes)
		s := &r.sizes[k]
		if c == nil {
			var err error
			if c, err = connect(d, o, []byte("x")); err != nil {
				s.fail("connect: " + shortErr(err))
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		t0 := time.Now()
		c.nc.SetDeadline(t0.Add(10 * time.Second))
		if _, err := c.nc.Write(frames[k]); err != nil {
			s.fail("write: " + shortErr(err))
			c.nc.Close()
			c = nil
			continue
		}
		op, p, code, err := readMessage(c, buf, len(msgs[k])+1, true)
		rtt := time.Since(t0)
		switch {
		case code >= 0:
			r.closes[code]++
			s.fail(fmt.Sprintf("Close %d", code))
		case err != nil:
			s.fail("read: " + shortErr(err))
		case op != 0x1 || !bytes.Equal(p, msgs[k]):
			s.fail("mismatch")
		default:
			s.rtts = append(s.rtts, rtt)
			continue
		}
		c.nc.Close()
		c = nil
	}
	return r
}

func shortErr(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// pct is the p-th quantile of the round trips.
func pct(rtts []time.Duration, p float64) time.Duration {
	if len(rtts) == 0 {
		return 0
	}
	s := slices.Clone(rtts)
	slices.Sort(s)
	d := s[min(len(s)-1, int(p*float64(len(s))))]
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
