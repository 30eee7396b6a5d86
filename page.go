package main

// page.go answers plain HTTP requests, the ones that do not ask for a
// WebSocket: index.html, the article's 3.2.2 browser client, and push.html,
// its section 2, so that http://127.0.0.1:9999/ works as well as opening the
// files from disk, and the clocks of push.go. The responses are written by
// hand, like the 101 in upgrade.go. Between a kept-alive poll's requests
// (push.go:keepsAlive) the connection waits as an idle WebSocket does,
// holding no buffer (answerPlain, awaitPoll).

import (
	"bufio"
	_ "embed"
	"errors"
	"net"
	"time"
)

// indexHTML is the page, built into the binary: the server never reads
// index.html from disk, so a built binary serves it whatever its working
// directory.
//
//go:embed index.html
var indexHTML []byte

// pushHTML is the page of the article's section 2: the clocks of push.go,
// polled twice (a new connection each time, and kept alive), and the
// WebSocket's (clockws.go).
//
//go:embed push.html
var pushHTML []byte

// labHTML is the frame lab's page (lab.go): a frame built bit by bit, what
// this server's code does with it, and what the article's app2.js reads.
//
//go:embed lab.html
var labHTML []byte

// plainCheck refuses a plain HTTP request this server cannot answer:
// methods other than GET and HEAD (405; POST on /lab is the lab's, lab.go),
// a repeated Host, a missing one from HTTP/1.1 on, or a body, which
// nothing here reads but the lab's POST (400).
// The connection closes after every answer (Connection: close) but a
// kept-alive poll's (push.go:keepsAlive), whose connection waits for the
// next poll (answerPlain).
func plainCheck(req *request, lab bool) *httpError {
	switch {
	case lab && req.method == "POST":
	case req.method != "GET" && req.method != "HEAD":
		allow := "GET, HEAD"
		if lab {
			allow += ", POST"
		}
		return &httpError{status: 405, msg: preview(req.method) + " is not served here: only " + allow, header: "Allow: " + allow}
	}
	switch {
	case req.hosts > 1 || req.hosts == 0 && req.minor >= 1:
		return badRequest("need exactly one Host header") // RFC 9112 §3.2; HTTP/1.0 may send none
	case req.hasBody && !lab:
		return badRequest("a GET here has no body")
	}
	return nil
}

// pageResponse answers GET or HEAD for one of the pages, or 404.
func pageResponse(req *request, path string, lab bool) ([]byte, error) {
	page := indexHTML
	switch {
	case path == "/" || path == "/index.html":
	case path == "/push.html":
		page = pushHTML
	case path == "/lab.html" && lab:
		page = labHTML
	default:
		return nil, &httpError{status: 404, msg: "not found: this server has /, /push.html, /lab.html and /lab (the frame lab, unless -lab=false), /clock..., and WebSocket upgrades"}
	}
	return fixedResponse(req, "text/html; charset=utf-8", "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n", page), nil
}

// servePlain answers a request that is not a WebSocket handshake: the
// pages, the clocks, and the lab, which reads a POST's body from br. It
// returns how the response ended, for the log.
func (s *server) servePlain(nc net.Conn, br *bufio.Reader, req *request, tr *tracer) (status int, err error) {
	nc.SetDeadline(time.Time{})
	p := &pushConn{s: s, nc: nc, tr: tr, chunked: req.minor >= 1, counter: s.pushStats.counter(req)}
	p.counter.request(len(req.head)) // pushstats.go: push.html counts what each clock costs
	p.counter.hold(nc, p.drop)
	defer p.counter.release(nc)
	var resp []byte
	path := requestPath(req.target)
	isLab := path == "/lab" && s.cfg.lab
	switch he := plainCheck(req, isLab); {
	case he != nil:
		err = he
	case isLab:
		var paid func()
		resp, paid, err = s.serveLab(nc, br, req) // lab.go
		defer paid()                              // the answer stays paid for until it is written
	case path == "/clock/stats" || path == "/clock/drop":
		resp, err = s.serveStats(req, path)
	case path == "/inspect" && s.cfg.inspect: // inspect.go
		x, he := s.openInspect(req)
		if he != nil {
			err = he
			break
		}
		tr.handshake(req, streamHead(req, "text/event-stream; charset=utf-8"))
		return 200, s.serveInspect(p, req, x)
	case path == "/clock":
		resp = clockPoll(req)
		p.counter.updated()
	case path == "/clock/long":
		tr.handshake(req, nil)
		err := p.clockLong(req)
		if err == errShutdown {
			return 503, err // it answered 503: the browser will ask again
		}
		return 200, err
	case path == "/clock/iframe":
		tr.handshake(req, streamHead(req, "text/html; charset=utf-8"))
		return 200, p.clockIframe(req)
	case path == "/clock/events":
		tr.handshake(req, streamHead(req, "text/event-stream; charset=utf-8"))
		return 200, p.clockEvents(req)
	default:
		resp, err = pageResponse(req, path, s.cfg.lab)
	}
	status = 200
	if he, ok := errors.AsType[*httpError](err); ok {
		resp, status = errorResponse(he), he.status
	}
	tr.handshake(req, resp)
	if werr := p.write(resp); werr != nil {
		return status, werr
	}
	return status, err
}

// servePlainConn serves a connection whose first request is plain HTTP:
// tracked as such for the shutdown, counted for push.html if it is one of
// its techniques, and answered (answerPlain). handedOn: a goroutine of
// answerPlain's has the connection now.
func (s *server) servePlainConn(nc net.Conn, kr *connReader, br *bufio.Reader, req *request, tr *tracer, remote string) (handedOn bool) {
	s.track(nc, tracked{plain: true})
	s.pushStats.counter(req).connected() // push.html counts connections per technique
	return s.answerPlain(nc, kr, br, req, tr, remote)
}

// answerPlain answers a plain request and logs it; on a connection kept
// alive for polls (push.go:keepsAlive), it goes on with the requests that
// follow, as long as they are already buffered (a client may send its next
// request before the answer, RFC 9112 §9.3.2). When none is, it gives the
// bufio.Reader back and hands the connection to awaitPoll, started on a
// goroutine of its own, and reports true; otherwise it closes the
// connection and reports false.
func (s *server) answerPlain(nc net.Conn, kr *connReader, br *bufio.Reader, req *request, tr *tracer, remote string) (handedOn bool) {
	for {
		start := time.Now()
		status, err := s.servePlain(nc, br, req, tr)
		s.log.Info("http", "remote", remote, "method", preview(req.method), "path", preview(req.target), "status", status,
			"end", errText(err), "duration", time.Since(start).Round(time.Millisecond))
		if status != 200 || err != nil || !req.keepsAlive() {
			break
		}
		// The deadline first, then the test: a shutdown that this test
		// misses sets its own deadline (now) after this one, so that the
		// wait ends at once all the same.
		nc.SetReadDeadline(time.Now().Add(keepAliveIdle))
		if s.isClosing() {
			break
		}
		if br.Buffered() == 0 && len(kr.wait.pend) == 0 && kr.wait.raw != nil {
			putReader(br) // the wait's read is handed on as it came (direct.go: a request is never taken for a frame read whole)
			s.wg.Add(1)
			go s.awaitPoll(nc, kr, tr, remote)
			return true
		}
		if req, err = readRequest(br, int(s.cfg.maxHeaderBytes)); err != nil || req.isWebSocket() {
			break
		}
	}
	putReader(br)
	closeTCP(nc)
	return false
}

// awaitPoll waits for a kept-alive poll's next request, until the
// keep-alive time is up (keepAliveIdle, the read deadline answerPlain
// set), the client leaves, or the shutdown ends the wait, the way an idle
// WebSocket waits for its next message (idle.go): for the socket to be
// readable, holding no bufio.Reader (on Linux; elsewhere readReady returns
// at once and the wait is pollAgain's, in its bufio.Reader), on a
// goroutine of its own that does nothing else, so that its stack stays the
// smallest (serveConn says why that takes a fresh goroutine). The request is
// read and answered on another fresh goroutine, pollAgain.
func (s *server) awaitPoll(nc net.Conn, kr *connReader, tr *tracer, remote string) {
	defer s.wg.Done()
	waiting := true
	defer func() {
		if waiting {
			s.untrack(nc)
		}
	}()
	defer s.recoverConn(nc, remote)
	if err := kr.readReady(); err != nil {
		closeTCP(nc)
		return
	}
	waiting = false
	s.wg.Add(1)
	go s.pollAgain(nc, kr, tr, remote)
}

// pollAgain reads the request whose first bytes awaitPoll saw arrive,
// through a bufio.Reader lent again, and answers it (answerPlain). A
// request that is not a whole plain one, a bad one or an upgrade, ends the
// connection unanswered.
func (s *server) pollAgain(nc net.Conn, kr *connReader, tr *tracer, remote string) {
	defer s.wg.Done()
	handedOn := false
	defer func() {
		if !handedOn {
			s.untrack(nc)
		}
	}()
	defer s.recoverConn(nc, remote)
	br := getReader(kr)
	req, err := readRequest(br, int(s.cfg.maxHeaderBytes))
	if err != nil || req.isWebSocket() {
		putReader(br)
		closeTCP(nc)
		return
	}
	handedOn = s.answerPlain(nc, kr, br, req, tr, remote)
}

// errText is err's text, or "complete" for none.
func errText(err error) string {
	if err == nil {
		return "complete"
	}
	return err.Error()
}
