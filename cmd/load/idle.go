package main

// idle.go: -mode idle, the server's memory per open connection.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// idleRun measures memory per connection: idle after the handshake, then
// after one -idle-echo echo each (1 KiB unless told), then checks that
// every connection still echoes.
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
