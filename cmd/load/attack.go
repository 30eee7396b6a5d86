package main

// attack.go: -mode attack -attack NAME, the attacks of issue 21 ("every
// byte held is paid for, fairly"), each run by -conns attackers for
// -duration while one well-behaved client, the probe, echoes text messages
// of 16 B, 20 KB and 1 MB in turn on a connection of its own and checks
// every echo byte for byte (probe.go). At the end: the probe's round trips
// and failures per size (any Close, with its code, or an echo that
// differs), the bytes the attackers sent, the server's RSS (idle baseline,
// peak, after the attackers left), its CPU during the attack, and the
// bytes it held (RSS growth over the idle baseline, at the peak) divided
// by the bytes the attackers sent. Every attacker's reads and writes end
// at the attack's deadline; every loop is bounded in count as well. What
// each attacker does is attackers.go.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// attackSpec is one attack: what its attackers do and need of the server.
type attackSpec struct {
	deflate bool   // the attackers offer permessage-deflate: run the server with -deflate
	offer   string // what they offer, with deflate
	run     func(a *attack, stop time.Time)
	what    string
}

// attacks are the attacks by name.
var attacks = map[string]attackSpec{
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

// attack is one run: the attackers' options and what they did.
type attack struct {
	o     options // the attackers' options: -deflate and -offer as the attack needs
	d     *dialer
	frame []byte       // the attack's message, prepared once
	held  *heldMessage // hold's message, prepared once
	hsLen int          // the bytes of one handshake request

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

// measured is what a run saw of the server, and the probe's results.
type measured struct {
	rss0, peak, after int64         // RSS in KiB: idle baseline, peak, 3 s after the attackers left
	cpu, elapsed      time.Duration // the server's CPU time during the run, and the run's
	probe             probeResult
}

// attackRun runs -attack with -conns attackers for -duration, and the probe.
func attackRun(o options) error {
	spec, ok := attacks[o.attack]
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
	a.report(spec, a.run(spec))
	return nil
}

// run runs the attackers and the probe until -duration is over and both
// are done, closes the attackers' connections, and measures the server.
func (a *attack) run(spec attackSpec) measured {
	probeOpts := a.o
	probeOpts.deflate = false // plain, whatever the server agrees to
	m := measured{rss0: procRSS(a.o.pid)}
	cpu0 := procCPU(a.o.pid)
	start := time.Now()
	stop := start.Add(a.o.duration)
	probe := make(chan probeResult, 1)
	var wg sync.WaitGroup
	wg.Go(func() { probe <- runProbe(a.d, probeOpts, stop) })
	if spec.run != nil {
		wg.Go(func() { spec.run(a, stop) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Bounded, in case something outlasts its deadline: the probe's last
	// echo has 10 s, and every attacker's reads and writes end at stop.
	m.peak = peakRSS(a.o.pid, m.rss0, done, a.o.duration+time.Minute)
	m.cpu, m.elapsed = procCPU(a.o.pid)-cpu0, time.Since(start)
	select {
	case m.probe = <-probe:
	default:
	}
	a.mu.Lock()
	for _, c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	time.Sleep(3 * time.Second)
	m.after = procRSS(a.o.pid)
	return m
}

// report prints what the run saw.
func (a *attack) report(spec attackSpec, m measured) {
	fmt.Printf("attack %s: %s\n", a.o.attack, spec.what)
	fmt.Printf("attackers: %d, %d connections opened (%d failed to open), for %v; %d ended by the server without a Close; the server's Close codes to them: %s\n",
		a.o.conns, a.opened.Load(), a.failed.Load(), a.o.duration, a.dropped.Load(), a.codeList())
	if err, _ := a.firstErr.Load().(error); err != nil {
		fmt.Printf("first attacker error: %v\n", err)
	}
	for i, n := range probeSizes {
		s := m.probe.sizes[i]
		fmt.Printf("probe %7d B: %6d echoes, p50 %v, p99 %v; failures %d%s\n", n, len(s.rtts), pct(s.rtts, 0.50), pct(s.rtts, 0.99), s.failures, s.reasons())
	}
	fmt.Printf("probe: Close 1013 %d times\n", m.probe.closes[1013])
	sent := a.sent.Load()
	fmt.Printf("attackers sent: %d bytes (%d of them in %d handshakes)\n", sent, a.handshake.Load(), a.opened.Load())
	fmt.Printf("server RSS: %d KiB idle baseline, %d KiB at the peak, %d KiB 3 s after the attackers left\n", m.rss0, m.peak, m.after)
	fmt.Printf("server CPU: %.2f s in %.1f s\n", m.cpu.Seconds(), m.elapsed.Seconds())
	if sent > 0 {
		fmt.Printf("held / sent: (%d - %d) KiB / %d bytes = %.3g\n", m.peak, m.rss0, sent, float64((m.peak-m.rss0)*1024)/float64(sent))
	} else {
		fmt.Printf("held / sent: n/a (nothing sent)\n")
	}
}

// handshakeLen is the length of the request connect (client.go) writes:
// its key is always 24 characters.
func handshakeLen(o options) int {
	u := upgrade(o)
	u.Key = strings.Repeat("x", 24)
	return len(u.Request())
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
	return tally(a.codes)
}

// tally lists a count of each key, "k xN", sorted, comma-separated.
func tally[K comparable](m map[K]int) string {
	var parts []string
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%v x%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// silent reads what the server sends until stop, answering nothing, and
// counts how it ended the connection, if it did.
func (a *attack) silent(c *client) {
	a.ended(untilClosed(c))
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
