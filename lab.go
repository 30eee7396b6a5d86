package main

// lab.go is the frame lab: bytes a learner wrote, as a client would send
// them after the handshake, run through the very code a connection runs
// (conn.go's wsConn, its reading loop and its one write path) on an
// in-memory connection, and told back as JSON: the frames it read and sent,
// as the inspector reports them (inspectevents.go), how it closed, what it
// still waits for, and the -trace text of the run.
//
//	GET  /lab?frames=HEX    HEX: the bytes, spaces allowed (as long as -max-header-bytes allows)
//	POST /lab               the bytes, raw, as the body: at most labMaxBody (more: 413)
//
// lab.html builds frames bit by bit and shows the answer beside what the
// article's app2.js would have read from the same bytes. A run holds no
// state between requests; its memory is paid from the budget (budget.go)
// like a message's, and it ends when the bytes end or labTime passes.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

const (
	labMaxBody   = 128 << 10                      // POST /lab's body: RFC 6455 §5.7's 64 KiB frame fits, with its header
	labMaxFrames = 50                             // frames a run may hold: their events, and their answers', fit one inspection's queue
	labMaxSent   = labMaxBody + 2*labMaxFrames*14 // bytes a run may send: every echo, pong and Close of what a body can hold
	labTime      = time.Second                    // a run's time limit: it reads from memory, so it never needs as long
)

// labAnswer is what /lab answers: the frames the connection read (in) and
// sent (out), as the inspector reports them; all it sent, in hex (sent);
// the closing handshake, whoever began it (close); what it still waits for
// when the bytes end inside a frame or a message (waiting); the -trace text.
type labAnswer struct {
	In      []json.RawMessage `json:"in"`
	Out     []json.RawMessage `json:"out"`
	Sent    string            `json:"sent"`
	Close   *labClose         `json:"close"`
	Waiting *labWaiting       `json:"waiting"`
	Trace   string            `json:"trace"`
}

// labClose is the closing handshake: the code, its RFC 6455 §7.4.1 name,
// the reason, and who sent the first Close ("server" or "client").
type labClose struct {
	Code   uint16 `json:"code"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// labWaiting is what the connection still waits for: the rest of frame
// Frame's header or payload (Missing bytes more), or the rest of a
// fragmented message (Missing 0: as many continuation frames as it takes).
type labWaiting struct {
	Frame   int    `json:"frame"`
	Part    string `json:"part"` // "header", "payload" or "message"
	Missing uint64 `json:"missing"`
	Text    string `json:"text"`
}

// serveLab answers /lab: the bytes from the query or the body (labInput),
// run (runLab), as JSON. br is the connection's reader, from which a POST's
// body is read; nc's read deadline bounds that read. The body and the
// run's buffers are paid from the budget while the run holds them; the
// answer, made in one go once they are given back, is paid for before it
// is written, and stays paid until the caller, having written it, calls
// release: a client that reads it slowly holds only what it paid for.
func (s *server) serveLab(nc net.Conn, br *bufio.Reader, req *request) (resp []byte, release func(), err error) {
	charged := &wsConn{}
	charged.budget = s.budget
	release = func() { s.budget.give(charged, int(charged.held.Load()), false) }
	in, he := s.labInput(nc, br, req, charged)
	if he == nil {
		var ans *labAnswer
		if ans, he = s.runLab(in, charged); he == nil {
			body, _ := json.Marshal(ans)
			resp = fixedResponse(req, "application/json", labHeaders, append(body, '\n'))
			release() // the body, now part of the answer
			if s.budget.take(charged, len(resp)) {
				return resp, release, nil
			}
			he = labBusy()
		}
	}
	e := *he
	e.header = strings.TrimPrefix(e.header+"\r\nAccess-Control-Allow-Origin: *", "\r\n") // a page from disk may read why
	return nil, release, &e
}

// labBusy refuses a run the budget cannot pay for, as a full server
// refuses a connection (errTooMany).
func labBusy() *httpError {
	return &httpError{status: 503, msg: errLabBusy.Error(), header: "Retry-After: " + retryAfter}
}

// labHeaders go with every answer of /lab: its JSON is the same for
// everyone who sends the same bytes, and holds nothing private, so any
// page, one opened from disk too, may read it.
const labHeaders = "Cache-Control: no-store\r\nAccess-Control-Allow-Origin: *\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"

// labInput is the bytes to run: GET's ?frames=HEX, or POST's body, paid
// from the budget as it arrives, on the connection whose run will use it
// (charged); the caller gives it back.
func (s *server) labInput(nc net.Conn, br *bufio.Reader, req *request, charged *wsConn) ([]byte, *httpError) {
	if req.method != "POST" {
		if req.hasBody {
			return nil, badRequest("a GET here has no body: POST /lab takes the bytes as its body")
		}
		frames, err := queryValue(req.target, "frames") // inspect.go
		if err != nil {
			return nil, badRequest("the query is not name=value pairs joined by &: " + err.Error())
		}
		return labHex(frames)
	}
	switch {
	case req.bodyLength == bodyNone || req.bodyLength == bodyChunked:
		return nil, &httpError{status: 411, msg: "POST /lab needs a Content-Length, not chunked: the bytes, raw, as the body"}
	case req.bodyLength == bodyBadLength:
		return nil, badRequest("a Content-Length that is not a number of bytes, or two that differ (RFC 9112 §6.3)")
	case req.bodyLength == 0:
		return nil, badRequest("no bytes: POST /lab takes the frames, raw, as its body")
	case req.bodyLength > labMaxBody:
		return nil, &httpError{status: 413, msg: fmt.Sprintf("a body of %d bytes: the lab takes at most %d (128 KiB)", req.bodyLength, labMaxBody)}
	}
	if req.minor >= 1 && hasToken(req.expect, "100-continue") { // an HTTP/1.0 client waits for no 100 (RFC 9110 §10.1.1)
		nc.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n"))
	}
	nc.SetReadDeadline(time.Now().Add(s.cfg.handshakeTimeout))
	body := labBuffer{c: charged}
	for n := int(req.bodyLength); len(body.buf) < n; {
		if !body.grow(len(body.buf)+1, n) { // doubling, so each byte is paid for once it is on its way
			return nil, labBusy()
		}
		k, err := br.Read(body.buf[len(body.buf):cap(body.buf)])
		body.buf = body.buf[:len(body.buf)+k]
		switch {
		case len(body.buf) == n:
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, &httpError{status: 408, msg: fmt.Sprintf("the body stopped after %d of its %d bytes, and -handshake-timeout passed", len(body.buf), n)}
		case err != nil:
			return nil, badRequest(fmt.Sprintf("the body ended after %d of its %d bytes: %s", len(body.buf), n, errText(err)))
		}
	}
	return body.buf, nil
}

// labHex decodes the HEX of ?frames=HEX: pairs of hex digits, with spaces
// (or none) anywhere between them.
func labHex(q string) ([]byte, *httpError) {
	digits := make([]byte, 0, len(q))
	for i := 0; i < len(q); i++ {
		if c := q[i]; c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			digits = append(digits, c)
		}
	}
	switch {
	case len(digits) == 0:
		return nil, badRequest("no bytes: give them as /lab?frames=HEX, for example /lab?frames=818537fa213d7f9f4d5158 (RFC 6455 §5.7's masked \"Hello\")")
	case len(digits)%2 == 1:
		return nil, badRequest(fmt.Sprintf("an odd number of hex digits (%d): each byte is two", len(digits)))
	}
	b := make([]byte, len(digits)/2)
	if _, err := hex.Decode(b, digits); err != nil {
		var bad hex.InvalidByteError
		if errors.As(err, &bad) {
			what := fmt.Sprintf("%q", rune(bad))
			if bad >= 0x80 {
				what = fmt.Sprintf("the byte %#02x", byte(bad)) // not a character on its own
			}
			return nil, badRequest(what + " is not a hex digit: the bytes are pairs of 0-9 and a-f")
		}
		return nil, badRequest("not hex: " + err.Error())
	}
	return b, nil
}

// runLab runs in through a wsConn of its own, as a connection's frames
// after the handshake, and reports what it did. The connection c, with the
// server's budget, carries the charge for in; the run's buffers are
// charged to it too.
func (s *server) runLab(in []byte, c *wsConn) (*labAnswer, *httpError) {
	n, cut := labScan(in)
	if n > labMaxFrames {
		return nil, badRequest(fmt.Sprintf("%d frames: the lab runs at most %d at a time", n, labMaxFrames))
	}
	x := &inspection{wake: make(chan struct{}, 1), streaming: true}
	var trace bytes.Buffer
	c.trace = &tracer{out: &trace, prefix: "[lab] ", insp: x}
	c.br = bufio.NewReaderSize(&labReader{r: bytes.NewReader(in), until: time.Now().Add(labTime)}, readBufferSize)
	sent := &labWriter{labBuffer{c: c}}
	c.out = frameWriter{w: sent}
	c.maxMessage = int64(s.cfg.maxMessage)
	err := c.serve() // conn.go: the same loop as every connection's
	c.releaseMsgBuf()
	c.releaseHeld()
	defer sent.release()
	switch {
	case errors.Is(err, errLabBusy):
		return nil, labBusy()
	case errors.Is(err, errLabSent) || errors.Is(err, errLabTime):
		return nil, &httpError{status: 422, msg: err.Error()}
	}
	ans := &labAnswer{In: []json.RawMessage{}, Out: []json.RawMessage{}, Sent: hex.EncodeToString(sent.buf)}
	if code, reason, by := c.closeStatus(err); by != "none" {
		ans.Close = &labClose{Code: uint16(code), Name: code.String(), Reason: reason, By: by}
		c.trace.closed(code, reason, by)
	} else {
		ans.Waiting = labWaits(cut, n, c)
		c.trace.note("the lab's bytes end here: %s", labEndText(ans.Waiting))
	}
	for _, e := range labEvents(x.queue) {
		if e.dir == "in" {
			ans.In = append(ans.In, e.data)
		} else if e.dir == "out" {
			ans.Out = append(ans.Out, e.data)
		}
	}
	ans.Trace = trace.String()
	return ans, nil
}

// labEndText says what a run that ended with the bytes waits for.
func labEndText(w *labWaiting) string {
	if w == nil {
		return "between messages, the connection would wait for the next frame"
	}
	return w.Text
}

// labScan walks the frames in begins, as decodeFrameHeader reads them
// (frame.go): how many there are, the last one perhaps unfinished, and, if
// the bytes end inside that one, the rest of it that the connection
// waits for (nil if they end between frames).
func labScan(in []byte) (n int, cut *labWaiting) {
	for off := 0; off < len(in); {
		n++
		var h frameHeader
		hl, ok := decodeFrameHeader(in[off:], &h)
		rest := len(in) - off
		if !ok {
			need := max(hl, 2) - rest
			return n, &labWaiting{Frame: n, Part: "header", Missing: uint64(need),
				Text: fmt.Sprintf("the rest of frame %d's header: %d more byte(s)", n, need)}
		}
		if have := uint64(rest - hl); have < h.length {
			return n, &labWaiting{Frame: n, Part: "payload", Missing: h.length - have,
				Text: fmt.Sprintf("the rest of frame %d's payload: %d of %d bytes came, %d more", n, have, h.length, h.length-have)}
		}
		off += hl + int(h.length)
	}
	return n, nil
}

// labWaits is what the connection waits for once its n frames have run
// out: the rest of the last one (cut, from labScan), or the rest of the
// message the connection has open; nil between messages.
func labWaits(cut *labWaiting, n int, c *wsConn) *labWaiting {
	if cut == nil && c.msgOp != 0 {
		return &labWaiting{Frame: n + 1, Part: "message",
			Text: fmt.Sprintf("the rest of the %s message: continuation frames (opcode 0), the last with FIN set", c.msgOp)}
	}
	return cut
}

// labEvent is one event of the inspection's queue: its direction, for a
// frame, and its JSON.
type labEvent struct {
	dir  string
	data json.RawMessage
}

// labEvents reads back the frame events the run's inspection queued, from
// the server-sent-events text the page's stream would have received; the
// others (close, inflated, dropped) are skipped: the close is answered
// apart (labClose), and labMaxFrames keeps every frame's event in the queue.
func labEvents(queue []byte) []labEvent {
	var events []labEvent
	for _, block := range strings.Split(string(queue), "\n\n") {
		name, data, ok := strings.Cut(block, "\ndata: ")
		if !ok || name != "event: frame" {
			continue
		}
		var f struct {
			Dir string `json:"dir"`
		}
		if json.Unmarshal([]byte(data), &f) == nil {
			events = append(events, labEvent{f.Dir, json.RawMessage(data)})
		}
	}
	return events
}

// errLabTime, errLabSent and errLabBusy end a run that went on too long,
// would send more than a lab answer may hold, or found the budget spent.
var (
	errLabTime = errors.New("the run took longer than the lab's time limit")
	errLabSent = fmt.Errorf("the run would send more than %d bytes, the lab's limit", labMaxSent)
	errLabBusy = errors.New("server busy: too many bytes held; try again later")
)

// labReader is the run's connection, reading side: the learner's bytes,
// then EOF, where a real connection would wait; past its time, an error.
type labReader struct {
	r     io.Reader
	until time.Time
}

// Read reads the bytes, as long as the run's time lasts.
func (l *labReader) Read(p []byte) (int, error) {
	if time.Now().After(l.until) {
		return 0, errLabTime
	}
	return l.r.Read(p)
}

// labBuffer is bytes the lab holds, a POST's body or what a run sends,
// paid from c's budget, on c, as the buffer grows.
type labBuffer struct {
	c   *wsConn
	buf []byte
}

// grow makes room for need bytes, doubling, but never past limit, and
// pays for the growth first; false: the budget cannot.
func (l *labBuffer) grow(need, limit int) bool {
	if need <= cap(l.buf) {
		return true
	}
	grown := min(max(need, 2*cap(l.buf), 512), limit)
	if !l.c.budget.take(l.c, grown-cap(l.buf)) {
		return false
	}
	l.buf = append(make([]byte, 0, grown), l.buf...)
	return true
}

// labWriter is the run's connection, writing side: what the server sends,
// kept for the answer.
type labWriter struct{ labBuffer }

// Write keeps p, or refuses it past labMaxSent or the budget.
func (w *labWriter) Write(p []byte) (int, error) {
	need := len(w.buf) + len(p)
	if need > labMaxSent {
		return 0, errLabSent
	}
	if !w.grow(need, labMaxSent) {
		return 0, errLabBusy
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// release gives back what buf cost.
func (w *labWriter) release() {
	w.c.budget.give(w.c, cap(w.buf), false)
}
