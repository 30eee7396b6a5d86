package main

// probe.go: the well-behaved client of -mode attack, which echoes text
// messages of three sizes in turn while the attackers run, and checks
// every echo byte for byte.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// probeSizes are the probe's messages, sent in turn, one every
// probeInterval (or as soon as the last echo is back, if later): a
// client that keeps the server busy only a little, so that the server's
// CPU during an attack is mostly the attack's.
var probeSizes = [...]int{16, 20_000, 1_000_000}

const probeInterval = 10 * time.Millisecond

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
	return " (" + tally(s.why) + ")"
}

// probeResult is what the probe saw: per size (sizes), and the server's
// Close codes over all sizes (closes).
type probeResult struct {
	sizes  [len(probeSizes)]probeSize
	closes map[int]int
}

// prober is the probe's state: its messages, as text and as frames, and
// its connection, nil until it opens one and after any failure.
type prober struct {
	d      *dialer
	o      options
	msgs   [len(probeSizes)][]byte
	frames [len(probeSizes)][]byte
	buf    []byte // room for the largest echo and a byte more
	c      *client
	r      probeResult
}

// runProbe echoes text messages of each of probeSizes in turn until stop,
// one at a time, one every probeInterval, each with 10 s to come back,
// checking every byte; after any failure it opens a new connection.
func runProbe(d *dialer, o options, stop time.Time) probeResult {
	p := &prober{d: d, o: o, r: probeResult{closes: map[int]int{}}}
	for i, n := range probeSizes {
		p.msgs[i] = letters(n)
		p.frames[i] = maskedFrame(0x81, p.msgs[i])
	}
	p.buf = make([]byte, 0, probeSizes[len(probeSizes)-1]+1)
	defer p.hangUp()
	next := time.Now()
	for i := 0; i < 1<<22 && time.Now().Before(stop); i++ {
		time.Sleep(time.Until(next))
		if next = next.Add(probeInterval); next.Before(time.Now()) {
			next = time.Now() // behind: no burst to catch up
		}
		p.echo(i % len(probeSizes))
	}
	return p.r
}

// echo sends message k and checks its echo, opening a connection first
// if there is none, and counts a round trip or a failure.
func (p *prober) echo(k int) {
	s := &p.r.sizes[k]
	if p.c == nil {
		var err error
		if p.c, err = connect(p.d, p.o, []byte("x")); err != nil {
			s.fail("connect: " + shortErr(err))
			time.Sleep(100 * time.Millisecond)
			return
		}
	}
	t0 := time.Now()
	p.c.nc.SetDeadline(t0.Add(10 * time.Second))
	if _, err := p.c.nc.Write(p.frames[k]); err != nil {
		s.fail("write: " + shortErr(err))
		p.hangUp()
		return
	}
	op, got, code, err := readMessage(p.c, p.buf, len(p.msgs[k])+1, true)
	rtt := time.Since(t0)
	switch {
	case code >= 0:
		p.r.closes[code]++
		s.fail(fmt.Sprintf("Close %d", code))
	case err != nil:
		s.fail("read: " + shortErr(err))
	case op != 0x1 || !bytes.Equal(got, p.msgs[k]):
		s.fail("mismatch")
	default:
		s.rtts = append(s.rtts, rtt)
		return
	}
	p.hangUp()
}

// hangUp closes the probe's connection, if it has one.
func (p *prober) hangUp() {
	if p.c != nil {
		p.c.nc.Close()
		p.c = nil
	}
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

// pct is the p-th quantile of the round trips, rounded to a precision
// that suits its size.
func pct(rtts []time.Duration, p float64) time.Duration {
	s := slices.Clone(rtts)
	slices.Sort(s)
	d := quantile(s, p)
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 100*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
