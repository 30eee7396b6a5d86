package main

// pushstats.go counts, for push.html, what each push technique really
// costs one page: the bytes the server received from it and sent to it,
// headers and frames included, counted as they cross the socket, and the
// updates it sent. The page names itself with ?client=ID on every request;
// GET /clock/stats?client=ID returns its counts, and GET
// /clock/drop?client=ID&what=TECHNIQUE breaks that technique's
// connections from the server's side, so that the page can show each one
// recover.

import (
	"encoding/json"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// techniques are the clocks push.html compares, by path.
var techniques = map[string]string{
	"/clock": "poll", "/clock/long": "long", "/clock/iframe": "iframe", "/clock/events": "events", clockWSPath: "ws",
}

// maxPushClients bounds how many pages are counted at once; past it the
// oldest is forgotten.
const maxPushClients = 1000

// techCounter is one technique's counts for one page.
type techCounter struct {
	requests, updates, bytesIn, bytesOut, connections atomic.Int64

	mu   sync.Mutex
	live map[net.Conn]func() // how to break each of its open connections
}

// pushStats holds the counts by page.
type pushStats struct {
	mu      sync.Mutex
	clients map[string]map[string]*techCounter
	order   []string // client ids, oldest first
}

// counter is the counter of the request's technique for the page that
// names itself in the query, or nil.
func (ps *pushStats) counter(req *request) *techCounter {
	what, ok := techniques[requestPath(req.target)]
	if !ok {
		return nil
	}
	id := queryParam(req.target, "client")
	if !validToken(id) {
		return nil
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.clients == nil {
		ps.clients = make(map[string]map[string]*techCounter)
	}
	c := ps.clients[id]
	if c == nil {
		if len(ps.order) >= maxPushClients {
			delete(ps.clients, ps.order[0])
			ps.order = ps.order[1:]
		}
		c = make(map[string]*techCounter)
		ps.clients[id] = c
		ps.order = append(ps.order, id)
	}
	tc := c[what]
	if tc == nil {
		tc = &techCounter{live: make(map[net.Conn]func())}
		c[what] = tc
	}
	return tc
}

// request counts a request of n bytes.
func (tc *techCounter) request(n int) {
	if tc != nil {
		tc.requests.Add(1)
		tc.bytesIn.Add(int64(n))
	}
}

// connected counts a TCP connection whose first request is this technique's.
func (tc *techCounter) connected() {
	if tc != nil {
		tc.connections.Add(1)
	}
}

// received counts n bytes from the client.
func (tc *techCounter) received(n int) {
	if tc != nil {
		tc.bytesIn.Add(int64(n))
	}
}

// sent counts n bytes to the client.
func (tc *techCounter) sent(n int) {
	if tc != nil {
		tc.bytesOut.Add(int64(n))
	}
}

// updated counts an update sent.
func (tc *techCounter) updated() {
	if tc != nil {
		tc.updates.Add(1)
	}
}

// hold notes an open connection of the technique and how to break it,
// until release.
func (tc *techCounter) hold(nc net.Conn, drop func()) {
	if tc != nil {
		tc.mu.Lock()
		tc.live[nc] = drop
		tc.mu.Unlock()
	}
}

// release forgets a connection that has ended.
func (tc *techCounter) release(nc net.Conn) {
	if tc != nil {
		tc.mu.Lock()
		delete(tc.live, nc)
		tc.mu.Unlock()
	}
}

// serveStats answers /clock/stats and /clock/drop for the page in the query.
func (s *server) serveStats(req *request, path string) ([]byte, error) {
	id := queryParam(req.target, "client")
	if !validToken(id) {
		return nil, badRequest("need ?client= of 22 to 128 letters, digits, - or _")
	}
	s.pushStats.mu.Lock()
	counters := make(map[string]*techCounter)
	for what, tc := range s.pushStats.clients[id] {
		counters[what] = tc
	}
	s.pushStats.mu.Unlock()
	out := map[string]any{}
	if path == "/clock/drop" {
		what := queryParam(req.target, "what")
		dropped := 0
		if tc := counters[what]; tc != nil {
			tc.mu.Lock()
			for _, drop := range tc.live {
				drop()
				dropped++
			}
			tc.mu.Unlock()
		}
		out["dropped"] = dropped
	} else {
		for what, tc := range counters {
			tc.mu.Lock()
			open := len(tc.live)
			tc.mu.Unlock()
			out[what] = map[string]int64{"requests": tc.requests.Load(), "updates": tc.updates.Load(), "connections": tc.connections.Load(),
				"bytesIn": tc.bytesIn.Load(), "bytesOut": tc.bytesOut.Load(), "open": int64(open)}
		}
	}
	body, _ := json.Marshal(out)
	return fixedResponse(req, "application/json", pushHeaders, body), nil
}

// open counts an upgrade request to /clock/ws for push.html, when it is
// one of the page's (counter), and returns what the connection writes
// through: nc, or nc counting what is sent, the 101 first. Every other
// upgrade request is not push.html's, and gets nc.
func (ps *pushStats) open(nc net.Conn, req *request) io.Writer {
	tc := ps.counter(req)
	if tc == nil || requestPath(req.target) != clockWSPath {
		return nc
	}
	tc.connected()
	tc.request(len(req.head))
	return countedWriter{nc, tc}
}

// countedWriter counts what is written through it.
type countedWriter struct {
	net.Conn
	tc *techCounter
}

// Write writes p and counts what went.
func (w countedWriter) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.tc.sent(n)
	return n, err
}
