package main

// push.go is the article's section 2: four ways to push from server to
// browser before WebSocket, written by hand on the raw TCP connection like
// the upgrade, so that the difference on the wire is visible. push.html
// shows them side by side with the WebSocket echo.
//
//	GET /clock         2.1 polling:      the time, answered at once
//	GET /clock/long    2.2 long polling: held until the next second that is a multiple of 5
//	GET /clock/iframe  2.3 iframe:       an HTML page that never ends, one <script> a second
//	GET /clock/events  2.4 EventSource:  text/event-stream, one event a second
//
// The long poll and the two streams read their connection while they wait,
// so that each ends (freeing its goroutine) as soon as its client leaves,
// not at its next answer; a poll is answered at once and waits for nothing.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// clock tells the time, and calls f once d has passed on it; stop cancels
// a call not yet made, and reports whether it did. The clocks of section 2
// read the time and wait for it through one (pushTime), not through the
// time package, so that the tests can put in a fake one that they move on
// by hand: a long poll's wait then takes no time, and the time it answers
// is known exactly.
type clock interface {
	now() time.Time
	afterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the time package's clock, the one the server runs on.
type realClock struct{}

func (realClock) now() time.Time { return time.Now() }

func (realClock) afterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// pushTime is the clock of push.go and clockws.go: the real one, unless
// the tests have put their own in its place (push_test.go).
var pushTime clock = realClock{}

// clockText is the time, in one fixed format for every technique. It is
// not the article's toLocaleString(), which its Node server calls, and
// whose format depends on that server's locale (zh-CN gives
// "2019/3/23 17:45:51").
func clockText(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

// pushHeaders are common to the four clocks: no caching (each answer is
// new), and readable by a page from anywhere, push.html opened from disk
// (Origin: null) included: the clocks are public.
const pushHeaders = "Cache-Control: no-cache\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Connection: close\r\n"

// streamHead is the head of a response whose body is sent as it is made,
// with no length known in advance: in chunks (RFC 9112 §7.1) to an
// HTTP/1.1 client; to an HTTP/1.0 one, which knows no chunks, as bytes
// that end when the connection does.
func streamHead(req *request, contentType string) []byte {
	te := "Transfer-Encoding: chunked\r\n"
	if req.minor < 1 {
		te = ""
	}
	return []byte("HTTP/1.1 200 OK\r\n" +
		"Content-Type: " + contentType + "\r\n" +
		te + pushHeaders + "\r\n")
}

// chunk frames s as one chunk, its length in hex, CRLF, s, CRLF; for an
// HTTP/1.0 client, s as it is.
func (p *pushConn) chunk(s string) []byte {
	if !p.chunked {
		return []byte(s)
	}
	return fmt.Appendf(nil, "%x\r\n%s\r\n", len(s), s)
}

// lastChunk ends a chunked body.
var lastChunk = []byte("0\r\n\r\n")

// errClientGone ends a push whose client closed its connection.
var errClientGone = errors.New("the client left")

// errShutdown ends a push because the server is shutting down.
var errShutdown = errors.New("the server is shutting down")

// errDropped ends a push that push.html's drop button ended (pushstats.go).
var errDropped = errors.New("dropped from push.html")

// errClientTalks ends a push whose client sends more than its request:
// nothing it sends is read, so a client that writes on is closed, rather
// than costing the server a read for every few bytes.
var errClientTalks = errors.New("the client sent more than its request")

// pushConn is one push response in progress.
type pushConn struct {
	s       *server
	nc      net.Conn
	tr      *tracer      // -trace: what is sent after the head is traced too
	chunked bool         // the body goes in chunks (an HTTP/1.1 client)
	counter *techCounter // push.html's counts for this technique and page (pushstats.go); nil: none
	dropped atomic.Bool  // push.html's drop button ends this response now (drop)
	ignored int          // bytes the client sent after its request, thrown away
}

// maxIgnored is how much a push's client may send after its request (a
// browser sends nothing) before the connection is closed.
const maxIgnored = 4 << 10

// write sends p within the write timeout.
func (p *pushConn) write(b []byte) error {
	if t := p.s.cfg.writeTimeout; t > 0 {
		p.nc.SetWriteDeadline(time.Now().Add(t))
	}
	n, err := p.nc.Write(b)
	p.counter.sent(n)
	return err
}

// wait waits until pushTime reaches until, and reports errClientGone as
// soon as the client closes its connection (its FIN arrives as an end of
// file), or errShutdown or errDropped if the server is shutting down or
// the page dropped the push. The read is there to see the FIN: anything
// the client sends meanwhile is thrown away, up to maxIgnored bytes in
// all, and past that the connection ends (errClientTalks). The clock ends
// the read when the time comes as the shutdown and the drop do, by moving
// its deadline to now (wake).
func (p *pushConn) wait(until time.Time) error {
	var b [512]byte
	for {
		// The deadline is cleared before the checks, not after: a shutdown
		// or a drop that the checks miss moves it after this, and so still
		// ends the read.
		p.nc.SetReadDeadline(time.Time{})
		if err := p.ending(); err != nil {
			return err
		}
		now := pushTime.now()
		if !now.Before(until) {
			return nil
		}
		stop := pushTime.afterFunc(until.Sub(now), p.wake)
		n, err := p.nc.Read(b[:])
		stop()
		if p.ignored += n; p.ignored > maxIgnored {
			return errClientTalks
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return errClientGone
		}
	}
}

// wake ends a wait's read at once, whatever it is waiting for: the checks
// at the top of wait's loop then say why.
func (p *pushConn) wake() { p.nc.SetReadDeadline(time.Now()) }

// ending says why a push must end now: the server shuts down, or the page
// dropped it; nil if neither.
func (p *pushConn) ending() error {
	switch {
	case p.s.isClosing():
		return errShutdown
	case p.dropped.Load():
		return errDropped
	}
	return nil
}

// drop ends the push from the server's side, as the shutdown does: a held
// long poll is answered 204, a stream's body ends; the wait wakes at once.
func (p *pushConn) drop() {
	p.dropped.Store(true)
	p.wake()
}

// clockPoll is article 2.1, polling: the browser asks every second, and
// every answer is a whole response, on a new connection each time since
// this server answers Connection: close, or on the same one for a page
// that asks for keep-alive (keepsAlive), to show what that saves.
func clockPoll(req *request) []byte {
	headers := pushHeaders
	if req.keepsAlive() {
		headers = strings.Replace(headers, "Connection: close", "Connection: keep-alive", 1)
	}
	return fixedResponse(req, "text/plain; charset=utf-8", headers, []byte(clockText(pushTime.now())+"\n"))
}

// keepsAlive says whether a poll is answered on a connection kept open
// for the next one: push.html asks with ?keepalive=1, over HTTP/1.1,
// without Connection: close. Every other request closes its connection.
func (req *request) keepsAlive() bool {
	return requestPath(req.target) == "/clock" && queryParam(req.target, "keepalive") == "1" &&
		req.minor >= 1 && !hasToken(req.connection, "close")
}

// keepAliveIdle is how long a kept-alive connection waits for its next
// poll (page.go:awaitPoll).
const keepAliveIdle = 5 * time.Second

// nextFive is the first second after now that is a multiple of 5.
func nextFive(now time.Time) time.Time {
	t := now.Truncate(time.Second).Add(time.Second)
	for t.Second()%5 != 0 {
		t = t.Add(time.Second)
	}
	return t
}

// clockLong is article 2.2, long polling: the request is held open until
// there is something to say (here: the next second that is a multiple of
// 5), then answered; the browser asks again at once.
func (p *pushConn) clockLong(req *request) error {
	if err := p.wait(nextFive(pushTime.now())); err != nil {
		switch err {
		case errShutdown: // an answer all the same: the browser will ask again, elsewhere or later
			p.write(errorResponse(&httpError{status: 503, msg: "the server is shutting down", header: "Retry-After: " + retryAfter}))
		case errDropped: // no news, no error: the page asks again
			p.write([]byte("HTTP/1.1 204 No Content\r\n" + pushHeaders + "\r\n"))
		}
		return err
	}
	resp := fixedResponse(req, "text/plain; charset=utf-8", pushHeaders, []byte(clockText(pushTime.now())+"\n"))
	p.tr.pushed("article 2.2, the long poll's answer", resp)
	p.counter.updated()
	return p.write(resp)
}

// iframePreamble starts the iframe's page. The padding makes browsers that
// wait for the first kilobyte before running a page start at once.
var iframePreamble = "<!doctype html><meta charset=\"utf-8\"><title>clock</title>\n" +
	"<!-- article 2.3: this page never ends; each script below arrives a second after the one before -->\n" +
	"<!--" + strings.Repeat(" ", 1024) + "-->\n"

// clockIframe is article 2.3, the iframe stream: a hidden iframe loads a
// page that never ends, and the server adds a <script> to it every second,
// which hands the time to the parent page. postMessage works whatever the
// parent's origin (push.html from disk has none).
func (p *pushConn) clockIframe(req *request) error {
	if err := p.write(streamHead(req, "text/html; charset=utf-8")); err != nil || req.method == "HEAD" {
		return err
	}
	if err := p.write(p.chunk(iframePreamble)); err != nil {
		return err
	}
	return p.everySecond("article 2.3, an iframe chunk", func(now time.Time, n int) string {
		return fmt.Sprintf("<script>parent.postMessage({technique: \"iframe\", n: %d, time: %q}, \"*\")</script>\n",
			n, clockText(now))
	})
}

// eventRetry is the reconnection time the event stream asks for, in ms (2.4.2's retry field).
const eventRetry = 2000

// clockEvents is article 2.4, EventSource: one long response in the
// text/event-stream format (always UTF-8), an event a second, each with
// the four fields of 2.4.2: id, event, retry, data. After a lost
// connection the browser reconnects by itself and sends the last id it
// saw as Last-Event-ID; the count resumes after it.
func (p *pushConn) clockEvents(req *request) error {
	first := 0 // an id that is not a count this stream could have sent starts from 0
	if id, err := strconv.ParseUint(strings.TrimSpace(req.lastEventID), 10, 53); err == nil {
		first = int(id) + 1
	}
	if err := p.write(streamHead(req, "text/event-stream; charset=utf-8")); err != nil || req.method == "HEAD" {
		return err
	}
	return p.everySecond("article 2.4, an event", func(now time.Time, n int) string {
		return fmt.Sprintf("id: %d\nevent: clock\nretry: %d\ndata: %s\n\n", first+n, eventRetry, clockText(now))
	})
}

// everySecond writes one chunk a second, at the turn of each second, made
// by next from the time and a count from 0, until the client leaves; what
// names it for -trace.
func (p *pushConn) everySecond(what string, next func(now time.Time, n int) string) error {
	for n := 0; ; n++ {
		if err := p.wait(pushTime.now().Truncate(time.Second).Add(time.Second)); err != nil {
			if err == errShutdown || err == errDropped {
				if p.chunked {
					p.write(lastChunk) // end the body properly: the browser sees a finished response
				}
			}
			return err
		}
		s := next(pushTime.now(), n)
		p.tr.pushed(what, []byte(s))
		if err := p.write(p.chunk(s)); err != nil {
			return err
		}
		p.counter.updated()
	}
}
