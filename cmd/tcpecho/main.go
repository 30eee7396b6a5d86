// Command tcpecho is the plain TCP echo that BENCH.md measures the
// WebSocket server against (internal/tcpecho): each connection's bytes
// copied back to it. Load it with cmd/load -tcp, which sends the same
// bytes a WebSocket client would.
//
//	go run ./cmd/tcpecho -addr 127.0.0.1:9998 &
//	go run ./cmd/load -tcp -addr 127.0.0.1:9998 -conns 100 -size 1024 -pid $!
package main

import (
	"flag"
	"fmt"
	"log"
	"net"

	"wsecho/internal/fdlimit"
	"wsecho/internal/tcpecho"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9998", "listen on `host:port`")
	flag.Parse()
	fmt.Printf("open files: %s\n", fdlimit.Raise())
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("plain TCP echo on %s", ln.Addr())
	log.Fatal(tcpecho.Serve(ln))
}
