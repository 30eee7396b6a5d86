// Command load measures an echo server from outside: messages per second,
// round-trip percentiles, and, given the server's PID, its CPU time per
// message and its memory per connection, read from /proc. It speaks
// WebSocket (masked client frames, as RFC 6455 asks of a client) or, with
// -tcp, plain TCP with the same bytes, against the baseline server that
// -serve-tcp runs. Every run is bounded in time and in connections.
//
//	go run . &                                          # the server under test
//	go run ./cmd/load -conns 100 -size 1024 -duration 10s -pid $!
//	go run ./cmd/load -mode idle -conns 10000 -pid $!   # memory per connection
//	go run ./cmd/load -mode noread -conns 100 -pid $!   # clients that send and never read
//	go run ./cmd/load -mode trickle -conns 1000 -pid $! # clients that announce 60 MiB and send 1000 bytes
//	go run ./cmd/load -mode hold -conns 16 -size 67108863 -pid $! # clients that never finish a 64 MiB message
//	go run ./cmd/load -mode attack -attack announce -conns 4095 -duration 15s -pid $! # an attack of issue 21, with a probe (attack.go)
//	go run ./cmd/load -serve-tcp 127.0.0.1:9998 &       # the plain TCP echo baseline
//	go run ./cmd/load -tcp -addr 127.0.0.1:9998 -conns 100 -size 1024 -pid $!
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// options are the flags.
type options struct {
	addr     string
	tcp      bool
	conns    int
	size     int
	duration time.Duration
	mode     string
	pid      int
	sources  string
	serveTCP string
	deflate  bool
	offer    string
	idleEcho int
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9999", "server `host:port`")
	flag.BoolVar(&o.tcp, "tcp", false, "plain TCP echo: no handshake, no frames, the same bytes (the baseline)")
	flag.IntVar(&o.conns, "conns", 1, "connections, each with one message in flight")
	flag.IntVar(&o.size, "size", 16, "message payload `bytes`")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 10m)")
	flag.StringVar(&o.mode, "mode", "echo", "echo: throughput and latency; idle: memory per open connection, before and after one echo each (-idle-echo); "+
		"noread: clients that send -size messages and never read; trickle: clients that announce a 60 MiB frame (under the server's default limit), send 1000 bytes and wait; "+
		"hold: clients that send -size bytes of a binary message in 1 MiB fragments, all but the last, and wait; "+
		"attack: -conns attackers run -attack while a probe echoes 16 B, 20 KB and 1 MB text messages (attack.go)")
	flag.IntVar(&o.pid, "pid", 0, "the server's PID, to read its CPU time and memory from /proc")
	flag.StringVar(&o.sources, "sources", "auto", "local source addresses, comma-separated, or auto: 127.0.0.x as the port range needs")
	flag.StringVar(&o.offer, "offer", deflateOffer, "with -deflate: the Sec-WebSocket-Extensions offered")
	flag.IntVar(&o.idleEcho, "idle-echo", 1024, "-mode idle: the `bytes` of the one echo each connection makes")
	flag.BoolVar(&o.deflate, "deflate", false, "offer permessage-deflate as Chromium does, send -size bytes of JSON-like text compressed, inflate and check the echoes")
	flag.StringVar(&o.serveTCP, "serve-tcp", "", "run the plain TCP echo baseline server (io.Copy) on this `host:port` instead")
	flag.Parse()
	if o.serveTCP != "" {
		log.Fatal(serveTCPEcho(o.serveTCP))
	}
	o.duration = min(o.duration, 10*time.Minute)
	fmt.Printf("open files: %s\n", raiseFileLimit())
	var err error
	switch o.mode {
	case "echo":
		err = echoRun(o)
	case "idle":
		err = idleRun(o)
	case "noread", "trickle", "hold":
		err = hostileRun(o)
	case "attack":
		err = attackRun(o)
	default:
		err = fmt.Errorf("unknown -mode %q", o.mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// serveTCPEcho is the baseline: each connection's bytes copied back to it.
func serveTCPEcho(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("plain TCP echo on %s", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// raiseFileLimit lifts the soft open-file limit to the hard one and says what it got.
func raiseFileLimit() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err.Error()
	}
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return fmt.Sprintf("soft limit %d (hard %d)", rl.Cur, rl.Max)
}

// client is one connection of the load.
type client struct {
	nc    net.Conn
	br    *bufio.Reader
	frame []byte // the message as it goes on the wire: masked frame, or raw bytes with -tcp
	reply []byte // room for the echo's payload
	hdr   [10]byte
	tcp   bool
	msg   []byte    // the message, to check inflated echoes against (-deflate)
	zin   *inflater // -deflate: the server's compressed echoes (deflate.go)
	z     []byte    // a compressed echo as it arrives
}

// dialer hands out local source addresses in turn, so that more
// connections than one address's ephemeral ports can be opened.
type dialer struct {
	sources []net.IP
	next    atomic.Uint64
}

// newDialer uses the given sources, or as many 127.0.0.x as n connections need.
func newDialer(sources string, n int) *dialer {
	d := &dialer{}
	if sources == "auto" {
		// 127.0.R.1, 127.0.R.2, ...: one address per 10,000 connections, as
		// the ephemeral range is about 28,000 ports; R is new each run, so
		// that the last run's ports in TIME_WAIT are not in the way.
		var r [1]byte
		rand.Read(r[:])
		for i := range n/10000 + 1 {
			d.sources = append(d.sources, net.IPv4(127, 0, 1+r[0]%250, byte(1+i)))
		}
	} else {
		for s := range strings.SplitSeq(sources, ",") {
			if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil {
				d.sources = append(d.sources, ip)
			}
		}
	}
	return d
}

// dial opens one connection from the next source address.
func (d *dialer) dial(addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, rc syscall.RawConn) error {
		// IP_BIND_ADDRESS_NO_PORT: with a source address bound, the port is
		// chosen at connect(2) for the whole 4-tuple, so ports in TIME_WAIT
		// from an earlier run towards another address stay usable.
		return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1) })
	}}
	if len(d.sources) > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: d.sources[d.next.Add(1)%uint64(len(d.sources))]}
	}
	return nd.Dial("tcp", addr)
}

// connect opens a client and, unless tcp, completes the WebSocket handshake.
func connect(d *dialer, o options, payload []byte) (*client, error) {
	nc, err := d.dial(o.addr)
	if err != nil {
		return nil, err
	}
	c := &client{nc: nc, br: bufio.NewReader(nc), tcp: o.tcp, reply: make([]byte, len(payload))}
	c.frame = maskedFrame(0x82, payload)
	offer := ""
	if o.deflate {
		z, err := compressMessage(payload)
		if err != nil {
			return nil, err
		}
		c.frame, c.msg = maskedFrame(0xC1, z), payload // FIN, RSV1 (compressed), text
		offer = "Sec-WebSocket-Extensions: " + o.offer + "\r\n"
	}
	if o.tcp {
		c.reply = make([]byte, len(c.frame))
		return c, nil
	}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	var k [16]byte
	rand.Read(k[:])
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n%s\r\n", o.addr, base64.StdEncoding.EncodeToString(k[:]), offer)
	status, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
		nc.Close()
		return nil, fmt.Errorf("handshake: %q %v", status, err)
	}
	for { // the rest of the 101
		line, err := c.br.ReadString('\n')
		if err != nil {
			nc.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
		if name, value, _ := strings.Cut(line, ":"); o.deflate && strings.EqualFold(name, "Sec-WebSocket-Extensions") {
			if c.zin, err = agreedDeflate(strings.TrimSpace(value)); err != nil {
				nc.Close()
				return nil, err
			}
		}
	}
	if o.deflate && c.zin == nil {
		nc.Close()
		return nil, errors.New("the server did not agree permessage-deflate (run it with -deflate)")
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// maskedFrame is a message as a client sends it, with first byte b0 (FIN,
// RSV, opcode): masked (RFC 6455 §5.3).
func maskedFrame(b0 byte, payload []byte) []byte {
	var key [4]byte
	rand.Read(key[:])
	f := []byte{b0}
	n := len(payload)
	switch {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xFFFF:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// echo sends the message and waits for it to come back whole: one binary
// frame, or a binary frame and continuations (RFC 6455 §5.4: a server may
// fragment its echo, and some do), adding up to the payload sent.
func (c *client) echo() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	if c.tcp {
		_, err := io.ReadFull(c.br, c.reply)
		return err
	}
	if c.zin != nil {
		return c.echoDeflate()
	}
	got, want := 0, byte(0x2) // the first frame is binary, the rest continuations
	for {
		n, err := c.readHead()
		if err != nil {
			return err
		}
		if c.hdr[0]&0x7F != want || c.hdr[1]&0x80 != 0 || n > len(c.reply)-got {
			return fmt.Errorf("unexpected frame %#x of %d bytes", c.hdr[0], n)
		}
		if _, err := io.ReadFull(c.br, c.reply[got:got+n]); err != nil {
			return err
		}
		got += n
		if c.hdr[0]&0x80 != 0 { // FIN
			if got != len(c.reply) {
				return fmt.Errorf("echo of %d bytes, sent %d", got, len(c.reply))
			}
			return nil
		}
		want = 0x0
	}
}

// readHead reads a server frame's header into c.hdr and returns its payload length.
func (c *client) readHead() (int, error) {
	if _, err := io.ReadFull(c.br, c.hdr[:2]); err != nil {
		return 0, err
	}
	n := int(c.hdr[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, c.hdr[2:4]); err != nil {
			return 0, err
		}
		n = int(binary.BigEndian.Uint16(c.hdr[2:4]))
	case 127:
		if _, err := io.ReadFull(c.br, c.hdr[2:10]); err != nil {
			return 0, err
		}
		n = int(binary.BigEndian.Uint64(c.hdr[2:10]))
	}
	return n, nil
}

// openAll opens n clients, 100 at a time.
func openAll(d *dialer, o options, payload []byte) ([]*client, error) {
	clients := make([]*client, o.conns)
	var wg sync.WaitGroup
	var first atomic.Value
	sem := make(chan struct{}, 100)
	for i := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := connect(d, o, payload)
			if err != nil {
				first.CompareAndSwap(nil, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return clients, err
	}
	return clients, nil
}

// echoRun is the throughput and latency run.
func echoRun(o options) error {
	payload := make([]byte, o.size)
	rand.Read(payload)
	if o.deflate {
		payload = jsonText(o.size)
	}
	d := newDialer(o.sources, o.conns)
	clients, err := openAll(d, o, payload)
	if err != nil {
		return fmt.Errorf("opening connections: %w", err)
	}
	defer closeAll(clients)
	cpu0 := procCPU(o.pid)
	var total atomic.Int64
	rtts := make([][]time.Duration, len(clients))
	start := time.Now()
	stop := start.Add(o.duration)
	var wg sync.WaitGroup
	var failed atomic.Value
	for i, c := range clients {
		wg.Go(func() {
			samples := make([]time.Duration, 0, 1<<14)
			for n := 0; ; n++ {
				t0 := time.Now()
				if !t0.Before(stop) {
					break
				}
				if err := c.echo(); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				if len(samples) < 1<<20 {
					samples = append(samples, time.Since(t0))
				}
				total.Add(1)
			}
			rtts[i] = samples
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1 := procCPU(o.pid)
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	all := slices.Concat(rtts...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	n := total.Load()
	kind := "websocket"
	if o.tcp {
		kind = "plain-tcp"
	}
	fmt.Printf("%s conns=%d size=%d: %d messages in %v: %.0f msg/s, %.1f MB/s payload; rtt p50 %v p99 %v p999 %v\n",
		kind, o.conns, o.size, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		float64(n)*float64(o.size)/elapsed.Seconds()/1e6, pct(0.50), pct(0.99), pct(0.999))
	if o.pid != 0 && n > 0 {
		fmt.Printf("server CPU: %v in all, %.2f µs per message\n", cpu1-cpu0, float64((cpu1-cpu0).Microseconds())/float64(n))
	}
	return nil
}

// idleRun measures memory per connection: idle after the handshake, then
// after one -idle-echo echo each (1 KiB), then checks that every connection still echoes.
func idleRun(o options) error {
	if o.pid == 0 {
		return errors.New("-mode idle needs -pid, the server's process to measure")
	}
	payload := make([]byte, o.idleEcho)
	rand.Read(payload)
	if o.deflate {
		payload = jsonText(o.idleEcho)
	}
	d := newDialer(o.sources, o.conns)
	rss0 := procRSS(o.pid)
	clients, err := openAll(d, o, payload)
	if err != nil {
		return fmt.Errorf("opening %d connections: %w", o.conns, err)
	}
	defer closeAll(clients)
	time.Sleep(2 * time.Second) // let the server settle
	rss1 := procRSS(o.pid)
	fmt.Printf("%d connections open: server RSS %d KiB -> %d KiB: %.2f KiB per idle connection\n",
		len(clients), rss0, rss1, float64(rss1-rss0)/float64(len(clients)))
	if err := echoAll(clients); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	rss2 := procRSS(o.pid)
	fmt.Printf("after one %d-byte echo on each, quiet again: server RSS %d KiB: %.2f KiB per connection\n",
		o.idleEcho, rss2, float64(rss2-rss0)/float64(len(clients)))
	if err := echoAll(clients); err != nil {
		return err
	}
	fmt.Printf("all %d connections still answer an echo\n", len(clients))
	return nil
}

// echoAll makes every client echo once, 200 at a time.
func echoAll(clients []*client) error {
	var wg sync.WaitGroup
	var failed atomic.Value
	sem := make(chan struct{}, 200)
	for _, c := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.nc.SetDeadline(time.Now().Add(30 * time.Second))
			if err := c.echo(); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// closeAll closes every open client.
func closeAll(clients []*client) {
	for _, c := range clients {
		if c != nil {
			c.nc.Close()
		}
	}
}

// procRSS is a process's resident memory in KiB, from /proc/PID/status.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// procCPU is a process's user plus system CPU time, from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks: 100 a second on Linux
}

// hostileRun opens -conns clients that misbehave, watches the server's
// memory while they do, then closes them and checks a fresh client's echo.
// noread: each sends -size messages as fast as it can and never reads, for
// -duration or until the server drops it. trickle: each announces a 60 MiB
// frame, sends 1000 bytes of it, and waits for -duration. hold: each sends
// -size bytes of a message in 1 MiB fragments, never the last one, and
// waits for -duration; the server's Close codes are counted.
func hostileRun(o options) error {
	if o.pid == 0 {
		return errors.New("-mode " + o.mode + " needs -pid")
	}
	payload := make([]byte, o.size)
	d := newDialer(o.sources, o.conns)
	rss0 := procRSS(o.pid)
	clients, err := openAll(d, o, payload)
	if err != nil {
		return err
	}
	var dropped atomic.Int64
	var codesMu sync.Mutex
	codes := map[uint16]int{} // the server's Close codes, for hold
	var wg sync.WaitGroup
	stop := time.Now().Add(o.duration)
	for _, c := range clients {
		wg.Go(func() {
			c.nc.SetWriteDeadline(stop)
			if o.mode == "hold" {
				piece := make([]byte, 1<<20)
				for sent := 0; sent < o.size; sent += len(piece) {
					n := min(len(piece), o.size-sent)
					op := byte(0x02)
					if sent > 0 {
						op = 0x00 // continuation; FIN is never set
					}
					f := binary.BigEndian.AppendUint64([]byte{op, 0x80 | 127}, uint64(n))
					f = append(f, 1, 2, 3, 4)
					if _, err := c.nc.Write(append(f, piece[:n]...)); err != nil {
						break // the server may close before it is all sent
					}
				}
				c.nc.SetReadDeadline(stop)
				for {
					h := make([]byte, 2)
					if _, err := io.ReadFull(c.br, h); err != nil {
						if !errors.Is(err, os.ErrDeadlineExceeded) {
							dropped.Add(1)
						}
						return
					}
					p := make([]byte, h[1]&0x7F)
					io.ReadFull(c.br, p)
					if h[0]&0x0F == 0x8 {
						var code uint16
						if len(p) >= 2 {
							code = binary.BigEndian.Uint16(p)
						}
						codesMu.Lock()
						codes[code]++
						codesMu.Unlock()
						dropped.Add(1)
						return
					}
				}
			}
			if o.mode == "trickle" {
				f := []byte{0x82, 0x80 | 127}
				f = binary.BigEndian.AppendUint64(f, 60<<20)
				f = append(f, 1, 2, 3, 4)
				c.nc.Write(append(f, make([]byte, 1000)...))
				c.nc.SetReadDeadline(stop)
				for { // until the deadline: pings are fine, a Close or an EOF is a drop
					b, err := c.br.ReadByte()
					if errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
					if err != nil || b&0x0F == 0x8 {
						dropped.Add(1)
						return
					}
					c.br.Discard(1) // the ping's length byte (no payload)
				}
			}
			for time.Now().Before(stop) {
				if _, err := c.nc.Write(c.frame); err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						dropped.Add(1)
					}
					return
				}
			}
		})
	}
	peak := rss0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(100 * time.Millisecond):
		}
		peak = max(peak, procRSS(o.pid))
	}
	fmt.Printf("%s: %d connections for up to %v: server RSS %d KiB before, %d KiB at the peak (%.1f KiB per connection); "+
		"%d dropped by the server\n", o.mode, len(clients), o.duration, rss0, peak,
		float64(peak-rss0)/float64(len(clients)), dropped.Load())
	if len(codes) > 0 {
		fmt.Printf("the server's Close codes: %v\n", codes)
	}
	closeAll(clients)
	time.Sleep(3 * time.Second)
	fmt.Printf("after they are gone: server RSS %d KiB\n", procRSS(o.pid))
	o.conns = 1
	fresh, err := openAll(d, o, make([]byte, 16))
	if err != nil {
		return err
	}
	defer closeAll(fresh)
	t0 := time.Now()
	if err := fresh[0].echo(); err != nil {
		return fmt.Errorf("fresh client: %w", err)
	}
	fmt.Printf("a fresh client's echo: %v\n", time.Since(t0))
	return nil
}
