package main

// inspect.go tells the page what the server really received and sent on
// its WebSocket: the handshake as it came and went, and every frame's
// header bytes, masking key and first payload bytes, masked and unmasked.
// The browser hides all of that from the page; the server has it. It is
// told with the article's own section 2.4 technique, an EventSource:
//
//	GET /inspect?token=T                 the stream (text/event-stream)
//	GET ws://host/?inspect=T             the WebSocket it reports on
//
// The page makes T, at least 128 random bits, so only it can read its own
// connection's bytes. A connection without a token costs nothing here:
// its tracer hooks (trace.go) are nil. A slow or vanished stream reader
// never slows the echo: events (inspectevents.go) wait in a queue bounded
// in bytes, and what does not fit is dropped, with a note in the stream
// saying how many.
//
// What a token costs the server is bounded whatever its client sends. The
// page opens its stream before its WebSocket; a client that never opens
// one gets a queue of inspectEarlyBytes, room for the handshake and a few
// frames, and nothing more is kept for it. Once a stream reads the token,
// the queue may hold inspectQueueBytes, and the stream, while it writes a
// batch, holds one more copy of it, in its chunk (serveInspect).

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// inspectEarlyBytes bounds the queue of a token no stream reads (yet, or
// any more): the handshake event, at most handshakeEventMax bytes, and a
// few frame events, of under 600 bytes each. A page's stream is open
// before its WebSocket is, so only a client without one is held to this.
const inspectEarlyBytes = 8 << 10

// inspectQueueBytes bounds the queue of a token a stream reads: room for
// a hundred frame events of under 600 bytes each (a page's fifty messages
// sent at once, and their echoes) while the stream writes the batch
// before them.
const inspectQueueBytes = 64 << 10

// inspectCloseRoom is kept free in the queue for the close event, the
// connection's last, which tells the page how it ended: every other event
// must leave it. A close event, with the dropped note that may go before
// it, is smaller: its reason, name and side are cut to fit (closeEvent).
const inspectCloseRoom = 1 << 10

// inspectKeepAlive is how often an idle stream sends a comment line, so
// that proxies and the browser see it is alive.
const inspectKeepAlive = 15 * time.Second

// inspection is one token's queue: events from its connection, for its stream.
type inspection struct {
	token string
	wake  chan struct{} // a new event, or the connection's end (capacity 1)

	mu        sync.Mutex
	queue     []byte // formatted SSE events waiting for the stream, in order: inspectEarlyBytes at most (length and capacity) until a stream reads the token, inspectQueueBytes after
	dropped   int    // events dropped since the last note, for want of room in the queue
	connected bool   // a WebSocket uses the token (only the first one does)
	connDone  bool   // that connection has ended: the stream ends once it has sent all
	streaming bool   // a stream reads the token (only one may)
}

// inspector holds the inspections by token.
type inspector struct {
	mu sync.Mutex
	m  map[string]*inspection
}

// validToken says whether a token is one the page could have made: 22 to
// 128 characters of letters, digits, "-" and "_" (128 bits or more).
func validToken(t string) bool {
	if len(t) < 22 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// queryParam is the value of name in the target's query, or "".
func queryParam(target, name string) string {
	v, _ := queryValue(target, name)
	return v
}

// queryValue is queryParam that says when the query is malformed, for
// an answer that can tell why (lab.go).
func queryValue(target, name string) (string, error) {
	_, query, ok := strings.Cut(target, "?")
	if !ok {
		return "", nil
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return "", err
	}
	return v.Get(name), nil
}

// get returns the token's inspection, made if new.
func (in *inspector) get(token string) *inspection {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.m == nil {
		in.m = make(map[string]*inspection)
	}
	x := in.m[token]
	if x == nil {
		x = &inspection{token: token, wake: make(chan struct{}, 1)}
		in.m[token] = x
	}
	return x
}

// forget drops the token's inspection once neither side uses it.
func (in *inspector) forget(x *inspection) {
	in.mu.Lock()
	defer in.mu.Unlock()
	x.mu.Lock()
	unused := !x.streaming && (!x.connected || x.connDone)
	x.mu.Unlock()
	if unused && in.m[x.token] == x {
		delete(in.m, x.token)
	}
}

// attach gives the connection the token's inspection, or nil if another
// connection has the token already: a stream carries one connection's bytes.
func (in *inspector) attach(token string) *inspection {
	x := in.get(token)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.connected {
		return nil
	}
	x.connected = true
	return x
}

// detach ends the connection's part: the stream sends what is queued and ends.
func (in *inspector) detach(x *inspection) {
	x.mu.Lock()
	x.connDone = true
	x.mu.Unlock()
	x.signal()
	in.forget(x)
}

// signal wakes the stream without waiting.
func (x *inspection) signal() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// streamLeft ends the stream's claim on x. A queue that grew past
// inspectEarlyBytes while the stream read it (a stream that stopped
// reading, then died) is not kept for the rest of the connection's life:
// its events are counted as dropped, so that a stream that comes back for
// the token says how many it missed.
func (x *inspection) streamLeft() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.streaming = false
	if cap(x.queue) > inspectEarlyBytes && !x.connDone { // an ended connection's queue, its close event last, is kept for a stream that comes back
		x.dropped += queuedEvents(x.queue)
		x.queue = nil
	}
}

// queuedEvents counts the events in a queue, a dropped note as the
// events it stands for. Each event ends with the one blank line: its data
// is JSON, whose newlines are escaped.
func queuedEvents(q []byte) int {
	n := 0
	sep := []byte("\n\n")
	for block := range bytes.SplitSeq(bytes.TrimSuffix(q, sep), sep) { // no copy of the queue: it runs under x.mu
		if v, ok := bytes.CutPrefix(block, []byte("event: dropped\ndata: ")); ok {
			k, _ := strconv.Atoi(string(v))
			n += k
		} else if len(block) > 0 {
			n++
		}
	}
	return n
}

// queueLimit is how many bytes the queue may hold now (x.mu held): the
// larger bound only while a stream reads it (streamLeft).
func (x *inspection) queueLimit() int {
	if x.streaming {
		return inspectQueueBytes
	}
	return inspectEarlyBytes
}

// push queues one formatted event, or counts it dropped if it does not
// fit in the queue's bound, less room that only the close event may use.
// The first event that fits after some were dropped goes after a note
// saying how many, so the stream tells the drops where they happened.
// The queue is made with inspectEarlyBytes, all of a queue no stream
// reads may hold, and past that grows by doubling, never past its bound;
// e is copied: the caller may format it in a buffer of its own.
func (x *inspection) push(e []byte, room int) {
	var nb [48]byte
	x.mu.Lock()
	var note []byte
	if x.dropped > 0 {
		note = appendDropped(nb[:0], x.dropped)
	}
	limit := x.queueLimit()
	need := len(note) + len(e)
	if len(x.queue)+need > limit-room {
		x.dropped++
		x.mu.Unlock()
		return
	}
	if cap(x.queue)-len(x.queue) < need {
		q := make([]byte, len(x.queue), min(max(2*cap(x.queue), len(x.queue)+need, inspectEarlyBytes), limit))
		copy(q, x.queue)
		x.queue = q
	}
	x.queue = append(append(x.queue, note...), e...)
	x.dropped = 0
	streaming := x.streaming
	x.mu.Unlock()
	if streaming { // else nobody waits: a stream, when it comes, takes the queue first
		x.signal()
	}
}

// appendDropped appends the note that n events were dropped, which the
// page shows in its log.
func appendDropped(b []byte, n int) []byte {
	b = append(b, "event: dropped\ndata: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, "\n\n"...)
}

// openInspect claims the stream of the token in req's query, or says why not.
func (s *server) openInspect(req *request) (*inspection, *httpError) {
	token := queryParam(req.target, "token")
	if !validToken(token) {
		return nil, badRequest("need ?token= of 22 to 128 letters, digits, - or _ (128 random bits or more)")
	}
	x := s.inspector.get(token)
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.streaming {
		return nil, &httpError{status: 409, msg: "this token already has a stream"}
	}
	x.streaming = true
	return x, nil
}

// serveInspect streams x's events until its connection has ended and all
// were sent, the client leaves, or the server shuts down. Each time it
// copies the whole queue, and the note of what was dropped since, into a
// buffer of its own, empties the queue and writes the copy: the connection
// fills the queue again meanwhile, and waits for nothing.
func (s *server) serveInspect(p *pushConn, req *request, x *inspection) error {
	defer func() {
		x.streamLeft()
		s.inspector.forget(x)
	}()
	if err := p.write(streamHead(req, "text/event-stream; charset=utf-8")); err != nil || req.method == "HEAD" {
		return err
	}
	if err := p.write(p.chunk(": inspecting one WebSocket (inspect.go)\n\n")); err != nil {
		return err
	}
	gone := p.watchClient()
	keepAlive := time.NewTicker(inspectKeepAlive)
	defer keepAlive.Stop()
	var out []byte // the batch being written, in its chunk if the stream is chunked
	for {
		var nb [48]byte
		x.mu.Lock()
		var note []byte
		if x.dropped > 0 {
			note = appendDropped(nb[:0], x.dropped)
		}
		out = out[:0]
		if n := len(x.queue) + len(note); n > 0 && p.chunked {
			out = append(strconv.AppendInt(out, int64(n), 16), "\r\n"...)
		}
		first := len(out) // the batch's events are out[first:last], between its chunk's framing
		out = append(append(out, x.queue...), note...)
		last := len(out)
		if cap(x.queue) > inspectEarlyBytes { // a burst's queue is not kept for a quiet connection
			x.queue = nil
		} else {
			x.queue = x.queue[:0]
		}
		x.dropped = 0
		done := x.connDone
		x.mu.Unlock()
		if len(out) > 0 {
			if p.chunked {
				out = append(out, "\r\n"...)
			}
			if err := p.write(out); err != nil {
				x.mu.Lock()
				x.dropped += queuedEvents(out[first:last]) // a stream that comes back is told of them
				x.mu.Unlock()
				return err
			}
			if cap(out) > inspectEarlyBytes { // nor the copy
				out = nil
			}
		}
		if done { // its connection sends nothing after its end: all was sent above
			if p.chunked {
				return p.write(lastChunk)
			}
			return nil
		}
		select {
		case <-x.wake:
		case <-keepAlive.C:
			if err := p.write(p.chunk(": keep-alive\n\n")); err != nil {
				return err
			}
		case err := <-gone:
			if err == errShutdown && p.chunked {
				p.write(lastChunk)
			}
			return err
		}
	}
}

// watchClient reads from the stream's client in a goroutine, which the
// stream cannot do while it waits for events, and says when the client
// leaves (its FIN), sends more than maxIgnored bytes, or the server shuts
// down. It ends when the connection is closed.
func (p *pushConn) watchClient() <-chan error {
	gone := make(chan error, 1)
	go func() {
		var b [512]byte
		for {
			n, err := p.nc.Read(b[:])
			switch {
			case p.s.isClosing():
				gone <- errShutdown
				return
			case err != nil:
				gone <- errClientGone
				return
			}
			if p.ignored += n; p.ignored > maxIgnored {
				gone <- errClientTalks
				return
			}
		}
	}()
	return gone
}

// inspectable is the upgrade request's inspection, if it asks for one and
// the server allows it (-inspect), or nil.
func (s *server) inspectable(req *request) *inspection {
	if !s.cfg.inspect {
		return nil
	}
	token := queryParam(req.target, "inspect")
	if !validToken(token) {
		return nil
	}
	return s.inspector.attach(token)
}

// inspectTracer is the tracer of an upgrade request that asks to be
// inspected (inspectable): tr, or a tracer that only informs the
// inspection if -trace is off. Otherwise tr as it is.
func (s *server) inspectTracer(req *request, tr *tracer, remote string) *tracer {
	x := s.inspectable(req)
	if x == nil {
		return tr
	}
	if tr == nil {
		tr = &tracer{remote: remote}
	}
	tr.insp = x
	return tr
}
