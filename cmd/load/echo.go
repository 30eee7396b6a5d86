package main

// echo.go: -mode echo, throughput and latency: -conns clients, each with
// one message in flight, for -duration.

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// echoRun is the throughput and latency run.
func echoRun(o options) error {
	payload := make([]byte, o.size)
	rand.Read(payload)
	if o.deflate {
		payload = jsonText(o.size)
	}
	clients, err := openAll(newDialer(o.sources, o.conns), o, payload)
	if err != nil {
		return fmt.Errorf("opening connections: %w", err)
	}
	defer closeAll(clients)
	cpu0 := procCPU(o.pid)
	start := time.Now()
	rtts, n, err := echoUntil(clients, start.Add(o.duration))
	elapsed := time.Since(start)
	cpu1 := procCPU(o.pid)
	if err != nil {
		return err
	}
	slices.Sort(rtts)
	kind := "websocket"
	if o.tcp {
		kind = "plain-tcp"
	}
	fmt.Printf("%s conns=%d size=%d: %d messages in %v: %.0f msg/s, %.1f MB/s payload; rtt p50 %v p99 %v p999 %v\n",
		kind, o.conns, o.size, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
		float64(n)*float64(o.size)/elapsed.Seconds()/1e6, quantile(rtts, 0.50), quantile(rtts, 0.99), quantile(rtts, 0.999))
	if o.pid != 0 && n > 0 {
		fmt.Printf("server CPU: %v in all, %.2f µs per message\n", cpu1-cpu0, float64((cpu1-cpu0).Microseconds())/float64(n))
	}
	return nil
}

// echoUntil has every client echo one message after another until stop,
// and returns the round trips (up to maxSamples of each client's), how
// many echoes there were, and the first error.
func echoUntil(clients []*client, stop time.Time) ([]time.Duration, int64, error) {
	var total atomic.Int64
	var failed atomic.Value
	rtts := make([][]time.Duration, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			var err error
			if rtts[i], err = c.echoUntil(stop, &total); err != nil {
				failed.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, 0, err
	}
	return slices.Concat(rtts...), total.Load(), nil
}

// maxSamples bounds the round trips one client keeps.
const maxSamples = 1 << 20

// echoUntil echoes one message after another until stop, counting each
// in total, and returns the round trips of the first maxSamples.
func (c *client) echoUntil(stop time.Time, total *atomic.Int64) ([]time.Duration, error) {
	samples := make([]time.Duration, 0, 1<<14)
	for {
		t0 := time.Now()
		if !t0.Before(stop) {
			return samples, nil
		}
		if err := c.echo(); err != nil {
			return samples, err
		}
		if len(samples) < maxSamples {
			samples = append(samples, time.Since(t0))
		}
		total.Add(1)
	}
}

// quantile is the p-th quantile of sorted round trips (0 if there are none).
func quantile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}
