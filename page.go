package main

// page.go answers plain HTTP requests, the ones that do not ask for a
// WebSocket: index.html, the article's 3.2.2 browser client, and push.html,
// its section 2, so that http://127.0.0.1:9999/ works as well as opening the
// files from disk, and the clocks of push.go. The responses are written by
// hand, like the 101 in upgrade.go.

import (
	_ "embed"
	"errors"
	"net"
	"time"
)

// indexHTML is the page, built into the binary: `go run .` serves it from any directory.
//
//go:embed index.html
var indexHTML []byte

// pushHTML is the page of the article's section 2: four clocks and the WebSocket.
//
//go:embed push.html
var pushHTML []byte

// plainCheck refuses a plain HTTP request this server cannot answer:
// methods other than GET and HEAD (405), a missing or repeated Host, or a
// body, which nothing here reads (400).
// The connection closes after every answer (Connection: close), so there
// is no keep-alive to manage.
func plainCheck(req *request) *httpError {
	switch {
	case req.method != "GET" && req.method != "HEAD":
		return &httpError{status: 405, msg: preview(req.method) + " is not served here: only GET and HEAD", header: "Allow: GET, HEAD"}
	case req.hosts > 1 || req.hosts == 0 && req.minor >= 1:
		return badRequest("need exactly one Host header") // RFC 9112 §3.2; HTTP/1.0 may send none
	case req.hasBody:
		return badRequest("a GET here has no body")
	}
	return nil
}

// pageResponse answers GET or HEAD for one of the pages, or 404.
func pageResponse(req *request, path string) ([]byte, error) {
	page := indexHTML
	switch path {
	case "/", "/index.html":
	case "/push.html":
		page = pushHTML
	default:
		return nil, &httpError{status: 404, msg: "not found: this server has /, /push.html, /clock..., and WebSocket upgrades"}
	}
	return fixedResponse(req, "text/html; charset=utf-8", "Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n", page), nil
}

// servePlain answers a request that is not a WebSocket handshake: the
// pages, and the clocks. It returns how the response ended, for the log.
func (s *server) servePlain(nc net.Conn, req *request, tr *tracer) (status int, err error) {
	nc.SetDeadline(time.Time{})
	p := &pushConn{s: s, nc: nc, tr: tr, chunked: req.minor >= 1, counter: s.pushStats.counter(req)}
	p.counter.request(len(req.head)) // pushstats.go: push.html counts what each clock costs
	p.counter.hold(nc, p.drop)
	defer p.counter.release(nc)
	var resp []byte
	path := requestPath(req.target)
	switch he := plainCheck(req); {
	case he != nil:
		err = he
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
		resp, err = pageResponse(req, path)
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
