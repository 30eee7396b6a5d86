package main

// pushstats.go counts, for push.html, what each push technique really
// costs one page: the bytes the server received from it and sent to it,
// headers and frames included, counted as they cross the socket, and the
// updates it sent. The page names itself with ?client=ID on every clock
// request (its kept-alive poll as ID followed by "k", counted apart);
// GET /clock/stats?client=ID returns its counts (techTotals: the bytes
// of the updates apart from those of opening and closing), and GET
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

// techTotals is one technique's counts for one page.
//
// Every byte is counted in bytesIn or bytesOut as it crosses the socket.
// Each is also put, once its request or connection says what it was for,
// either with the updates (updateIn, updateOut) or apart (apartIn,
// apartOut), so that push.html can show what an update costs without the
// cost of opening and closing connections spread over the updates:
//   - on a request answered with an update (polling, long polling), the
//     request and its answer go with the updates, when the request ends; a
//     request that ends without an update (a dropped long poll, answered
//     204) goes apart;
//   - on a stream (the iframe stream, EventSource, the WebSocket clock),
//     what comes before its first update (the request, the response's or
//     the 101's head, the iframe's preamble) goes apart, as does what comes
//     after its last update (the last chunk, the Close frames); each update
//     takes its own write and whatever crossed since the update before it.
type techTotals struct {
	connections atomic.Int64 // TCP connections whose first request is this technique's

	mu                                   sync.Mutex
	requests, updates, bytesIn, bytesOut int64
	settled, updateIn, updateOut         int64 // updates whose bytes are in updateIn and updateOut, and those bytes
	handshakes, unanswered               int64 // streams opened; requests ended without an update
	apartIn, apartOut                    int64 // the bytes outside updates
	liveMu                               sync.Mutex
	live                                 map[net.Conn]func() // how to break each of its open connections
}

// techCounter counts one request, or one upgraded connection, of a
// technique for a page, into the technique's totals: what it has sent and
// received since its last update waits here until it is known whether it
// goes with an update or apart.
type techCounter struct {
	t      *techTotals
	stream bool // iframe, events, ws: one connection, many updates

	mu       sync.Mutex
	in, out  int64 // bytes not yet put with the updates or apart
	lastOut  int64 // the last write's bytes: a stream's update
	pending  int64 // updates of a request, settled when it ends
	streamed bool  // a stream has sent an update
	ended    bool  // released: anything more goes apart
}

// pushStats holds the counts by page.
type pushStats struct {
	mu      sync.Mutex
	clients map[string]map[string]*techTotals
	order   []string // client ids, oldest first
}

// counter is a new counter, for one request or connection, of the
// request's technique for the page that names itself in the query, or nil.
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
		ps.clients = make(map[string]map[string]*techTotals)
	}
	c := ps.clients[id]
	if c == nil {
		if len(ps.order) >= maxPushClients {
			delete(ps.clients, ps.order[0])
			ps.order = ps.order[1:]
		}
		c = make(map[string]*techTotals)
		ps.clients[id] = c
		ps.order = append(ps.order, id)
	}
	t := c[what]
	if t == nil {
		t = &techTotals{live: make(map[net.Conn]func())}
		c[what] = t
	}
	return &techCounter{t: t, stream: what == "iframe" || what == "events" || what == "ws"}
}

// request counts a request of n bytes; on a stream, a stream opened.
func (tc *techCounter) request(n int) {
	if tc == nil {
		return
	}
	tc.t.mu.Lock()
	tc.t.requests++
	if tc.stream {
		tc.t.handshakes++
	}
	tc.t.mu.Unlock()
	tc.received(n)
}

// connected counts a TCP connection whose first request is this technique's.
func (tc *techCounter) connected() {
	if tc != nil {
		tc.t.connections.Add(1)
	}
}

// received counts n bytes from the client.
func (tc *techCounter) received(n int) {
	if tc != nil {
		tc.count(int64(n), &tc.t.bytesIn, &tc.t.apartIn, &tc.in, nil)
	}
}

// sent counts n bytes to the client; a stream's last write is its update.
func (tc *techCounter) sent(n int) {
	if tc != nil {
		tc.count(int64(n), &tc.t.bytesOut, &tc.t.apartOut, &tc.out, &tc.lastOut)
	}
}

// count adds n to the technique's total, and to the connection's own
// count (and last, if not nil), or to the technique's bytes apart once
// the connection's updates have ended.
func (tc *techCounter) count(n int64, total, apart, own, last *int64) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.t.mu.Lock()
	defer tc.t.mu.Unlock()
	*total += n
	if tc.ended {
		*apart += n
		return
	}
	*own += n
	if last != nil {
		*last = n
	}
}

// updated counts an update: on a stream, sent by the last write, whose
// bytes and those since the update before go with the updates (before the
// first, apart); on a request, its bytes go with the updates when it ends.
func (tc *techCounter) updated() {
	if tc == nil {
		return
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.t.mu.Lock()
	defer tc.t.mu.Unlock()
	tc.t.updates++
	if !tc.stream {
		tc.pending++
		return
	}
	if !tc.streamed { // what opened the stream goes apart; the update is its last write
		tc.streamed = true
		tc.t.apartIn += tc.in
		tc.t.apartOut += tc.out - tc.lastOut
		tc.in, tc.out = 0, tc.lastOut
	}
	tc.t.settled++
	tc.t.updateIn += tc.in
	tc.t.updateOut += tc.out
	tc.in, tc.out, tc.lastOut = 0, 0, 0
}

// hold notes an open connection of the technique and how to break it,
// until release.
func (tc *techCounter) hold(nc net.Conn, drop func()) {
	if tc != nil {
		tc.t.liveMu.Lock()
		tc.t.live[nc] = drop
		tc.t.liveMu.Unlock()
	}
}

// release forgets a request or connection that has ended, and settles its
// bytes: a request's with its updates, or apart if it had none; what a
// stream sent and received after its last update, apart.
func (tc *techCounter) release(nc net.Conn) {
	if tc == nil {
		return
	}
	tc.t.liveMu.Lock()
	delete(tc.t.live, nc)
	tc.t.liveMu.Unlock()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	tc.t.mu.Lock()
	defer tc.t.mu.Unlock()
	if tc.pending > 0 {
		tc.t.settled += tc.pending
		tc.t.updateIn += tc.in
		tc.t.updateOut += tc.out
	} else {
		if !tc.stream {
			tc.t.unanswered++
		}
		tc.t.apartIn += tc.in
		tc.t.apartOut += tc.out
	}
	tc.in, tc.out, tc.pending, tc.ended = 0, 0, 0, true
}

// serveStats answers /clock/stats and /clock/drop for the page in the query.
func (s *server) serveStats(req *request, path string) ([]byte, error) {
	id := queryParam(req.target, "client")
	if !validToken(id) {
		return nil, badRequest("need ?client= of 22 to 128 letters, digits, - or _")
	}
	s.pushStats.mu.Lock()
	counters := make(map[string]*techTotals)
	for what, t := range s.pushStats.clients[id] {
		counters[what] = t
	}
	s.pushStats.mu.Unlock()
	out := map[string]any{}
	if path == "/clock/drop" {
		what := queryParam(req.target, "what")
		dropped := 0
		if t := counters[what]; t != nil {
			t.liveMu.Lock()
			for _, drop := range t.live {
				drop()
				dropped++
			}
			t.liveMu.Unlock()
		}
		out["dropped"] = dropped
	} else {
		for what, t := range counters {
			t.liveMu.Lock()
			open := len(t.live)
			t.liveMu.Unlock()
			t.mu.Lock()
			out[what] = map[string]int64{"requests": t.requests, "updates": t.updates, "connections": t.connections.Load(),
				"bytesIn": t.bytesIn, "bytesOut": t.bytesOut, "open": int64(open),
				"settled": t.settled, "updateBytesIn": t.updateIn, "updateBytesOut": t.updateOut,
				"handshakes": t.handshakes, "unanswered": t.unanswered, "apartBytesIn": t.apartIn, "apartBytesOut": t.apartOut}
			t.mu.Unlock()
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
