// Command load measures an echo server from outside: messages per second,
// round-trip percentiles, and, given the server's PID, its CPU time per
// message and its memory per connection, read from /proc. It speaks
// WebSocket (masked client frames, as RFC 6455 asks of a client) or, with
// -tcp, plain TCP with the same bytes, against the baseline server,
// cmd/tcpecho. Every run is bounded in time and in connections.
//
//	go run . &                                          # the server under test
//	go run ./cmd/load -conns 100 -size 1024 -duration 10s -pid $!
//	go run ./cmd/load -mode idle -conns 10000 -pid $!   # memory per connection
//	go run ./cmd/load -mode noread -conns 100 -pid $!   # clients that send and never read
//	go run ./cmd/load -mode trickle -conns 1000 -pid $! # clients that announce 60 MiB and send 1000 bytes
//	go run ./cmd/load -mode hold -conns 16 -size 67108863 -pid $! # clients that never finish a 64 MiB message
//	go run ./cmd/load -mode attack -attack announce -conns 4095 -duration 15s -pid $! # an attack of issue 21, with a probe (attack.go)
//	go run ./cmd/tcpecho -addr 127.0.0.1:9998 &         # the plain TCP echo baseline
//	go run ./cmd/load -tcp -addr 127.0.0.1:9998 -conns 100 -size 1024 -pid $!
//
// The files, by what they do: main.go the flags; dial.go opens connections
// from many source addresses; client.go is one connection, on
// internal/wstest, and deflate.go its -deflate; the modes are echo.go,
// idle.go, hostile.go (noread, trickle, hold) and attack.go, whose
// attackers are attackers.go and whose probe is probe.go; proc.go reads
// the server's memory and CPU time from /proc.
package main

import (
	"flag"
	"fmt"
	"log"
	"strings"
	"time"

	"wsecho/internal/fdlimit"
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
	deflate  bool
	offer    string
	idleEcho int
	attack   string
}

func main() {
	o := parseFlags()
	fmt.Printf("open files: %s\n", fdlimit.Raise())
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// parseFlags reads the command line.
func parseFlags() options {
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
	flag.StringVar(&o.attack, "attack", "", "-mode attack: the attack to run with -conns attackers for -duration, "+
		"while a probe echoes 16 B, 20 KB and 1 MB text messages: "+strings.Join(attackNames(), ", ")+" (attack.go)")
	flag.IntVar(&o.pid, "pid", 0, "the server's PID, to read its CPU time and memory from /proc")
	flag.StringVar(&o.sources, "sources", "auto", "local source addresses, comma-separated, or auto: 127.0.R.x (R random each run) as the port range needs")
	flag.StringVar(&o.offer, "offer", deflateOffer, "with -deflate: the Sec-WebSocket-Extensions offered")
	flag.IntVar(&o.idleEcho, "idle-echo", 1024, "-mode idle: the `bytes` of the one echo each connection makes")
	flag.BoolVar(&o.deflate, "deflate", false, "offer permessage-deflate as Chromium does, send -size bytes of JSON-like text compressed, inflate and check the echoes")
	flag.Parse()
	o.duration = min(o.duration, 10*time.Minute)
	return o
}

// run runs -mode.
func run(o options) error {
	switch o.mode {
	case "echo":
		return echoRun(o)
	case "idle":
		return idleRun(o)
	case "noread", "trickle", "hold":
		return hostileRun(o)
	case "attack":
		return attackRun(o)
	}
	return fmt.Errorf("unknown -mode %q", o.mode)
}
