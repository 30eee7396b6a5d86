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
// never slows the echo: events wait in a small queue, and past it they
// are dropped, with a note in the stream saying how many.

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// inspectPreview is how many payload bytes a frame event shows.
const inspectPreview = 64

// maxInspectQueue is how many events wait for a stream reader: enough for
// a page that sends a hundred messages at once. With frame events of under
// 600 bytes and the handshake (at most -max-header-bytes, twice), an
// inspected connection holds at most about 170 KiB here.
const maxInspectQueue = 256

// inspectKeepAlive is how often an idle stream sends a comment line, so
// that proxies and the browser see it is alive.
const inspectKeepAlive = 15 * time.Second

// inspection is one token's queue: events from its connection, for its stream.
type inspection struct {
	token string
	wake  chan struct{} // a new event, or the connection's end (capacity 1)

	mu        sync.Mutex
	events    [][]byte // formatted SSE events waiting for the stream
	dropped   int      // events dropped since the last note, the queue being full
	connected bool     // a WebSocket uses the token (only the first one does)
	connDone  bool     // that connection has ended: the stream ends once it has sent all
	streaming bool     // a stream reads the token (only one may)
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
	_, query, ok := strings.Cut(target, "?")
	if !ok {
		return ""
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return v.Get(name)
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

// send queues one event, or counts it dropped if the queue is full.
func (x *inspection) send(event string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	e := make([]byte, 0, len(event)+len(data)+16)
	e = append(e, "event: "...)
	e = append(e, event...)
	e = append(e, "\ndata: "...)
	e = append(e, data...)
	e = append(e, "\n\n"...)
	x.mu.Lock()
	if len(x.events) >= maxInspectQueue {
		x.dropped++
	} else {
		x.events = append(x.events, e)
	}
	x.mu.Unlock()
	x.signal()
}

// handshakeEvent reports the request head as received and the response as sent.
func (x *inspection) handshakeEvent(req *request, response []byte) {
	sum := sha1.Sum([]byte(req.key + websocketGUID))
	x.send("handshake", map[string]string{
		"request":  string(req.head),
		"key":      req.key,
		"guid":     websocketGUID,
		"sha1":     hex.EncodeToString(sum[:]),
		"accept":   acceptKey(req.key),
		"response": string(response),
	})
}

// frameEvent is one frame, in either direction, as the page draws it.
type frameEvent struct {
	Dir           string `json:"dir"`
	Header        string `json:"header"`
	Fin           bool   `json:"fin"`
	Rsv1          bool   `json:"rsv1"`
	Rsv2          bool   `json:"rsv2"`
	Rsv3          bool   `json:"rsv3"`
	Opcode        int    `json:"opcode"`
	Mask          bool   `json:"mask"`
	Length        uint64 `json:"length"`
	MaskingKey    string `json:"maskingKey"`
	PayloadMasked string `json:"payloadMasked"`
	Payload       string `json:"payload"`
	Truncated     bool   `json:"truncated"`
}

// frameIn reports a client's frame: its header re-encoded exactly as it
// came (the length in the form the client chose), and the first payload
// bytes, unmasked as the server read them and masked again as they came.
func (x *inspection) frameIn(h *frameHeader, unmasked []byte) {
	hdr := clientHeaderBytes(h) // trace.go
	key := ""
	masked := append([]byte(nil), unmasked...)
	if h.mask {
		key = hex.EncodeToString(h.maskingKey[:])
		maskBytesSimple(h.maskingKey, 0, masked)
	}
	x.send("frame", frameEvent{Dir: "in", Header: hex.EncodeToString(hdr), Fin: h.fin, Rsv1: h.rsv1, Rsv2: h.rsv2,
		Rsv3: h.rsv3, Opcode: int(h.opcode), Mask: h.mask, Length: h.length, MaskingKey: key,
		PayloadMasked: hex.EncodeToString(masked), Payload: hex.EncodeToString(unmasked),
		Truncated: uint64(len(unmasked)) < h.length})
}

// frameOut reports a server frame from its bytes (header and payload, or
// a streamed echo's header and first piece). A server frame is unmasked.
func (x *inspection) frameOut(frame []byte) {
	b0, b1 := frame[0], frame[1]
	n, hl := serverFrameLen(frame)
	p := frame[hl:min(len(frame), hl+inspectPreview)]
	x.send("frame", frameEvent{Dir: "out", Header: hex.EncodeToString(frame[:hl]), Fin: b0&0x80 != 0,
		Rsv1: b0&0x40 != 0, Rsv2: b0&0x20 != 0, Rsv3: b0&0x10 != 0, Opcode: int(b0 & 0x0F), Mask: b1&0x80 != 0,
		Length: n, PayloadMasked: hex.EncodeToString(p), Payload: hex.EncodeToString(p),
		Truncated: uint64(len(p)) < n})
}

// inflatedEvent reports what a compressed message (RSV1, deflate.go)
// inflated to: its length and first bytes, for the page to compare with
// what it sent, since the frames carried the message compressed.
func (x *inspection) inflatedEvent(compressed int, msg []byte) {
	x.send("inflated", map[string]any{"compressed": compressed, "length": len(msg),
		"payload": hex.EncodeToString(msg[:min(len(msg), inspectPreview)])})
}

// closeEvent reports how the connection ended: code, reason, who closed first.
func (x *inspection) closeEvent(code closeCode, reason, by string) {
	x.send("close", map[string]any{"code": int(code), "name": code.String(), "reason": reason, "by": by})
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
// were sent, the client leaves, or the server shuts down.
func (s *server) serveInspect(p *pushConn, req *request, x *inspection) error {
	defer func() {
		x.mu.Lock()
		x.streaming = false
		x.mu.Unlock()
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
	for {
		x.mu.Lock()
		events, dropped, done := x.events, x.dropped, x.connDone
		x.events, x.dropped = nil, 0
		x.mu.Unlock()
		var out []byte
		if dropped > 0 {
			out = append(out, "event: dropped\ndata: "+strconv.Itoa(dropped)+"\n\n"...)
		}
		for _, e := range events {
			out = append(out, e...)
		}
		if len(out) > 0 {
			if err := p.write(p.chunk(string(out))); err != nil {
				return err
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
