package main

// page.go serves index.html, the article's 3.2.2 browser client, and
// push.html, its section 2, to a plain HTTP request on the server's port,
// so that http://127.0.0.1:9999/ works as well as opening the files from
// disk. The responses are written by hand, like the 101 in upgrade.go.

import (
	_ "embed"
	"errors"
	"strings"
)

// indexHTML is the page, built into the binary: `go run .` serves it from any directory.
//
//go:embed index.html
var indexHTML []byte

// pushHTML is the page of the article's section 2: four clocks and the WebSocket.
//
//go:embed push.html
var pushHTML []byte

// errPlainHTTP is a request that is not a WebSocket handshake: nothing is
// answered yet; servePlain (push.go) answers it.
var errPlainHTTP = errors.New("plain HTTP request")

// isWebSocket says whether the request tries to open a WebSocket: it asks
// for the websocket upgrade or carries a key. Anything else is plain HTTP.
func (req *upgradeRequest) isWebSocket() bool {
	return hasToken(req.upgrade, "websocket") || req.keys > 0
}

// plainCheck refuses a plain HTTP request this server cannot answer:
// methods other than GET and HEAD (405), and a missing or repeated Host (400).
// The connection closes after every answer (Connection: close), so there
// is no keep-alive to manage.
func plainCheck(req *upgradeRequest) *httpError {
	switch {
	case req.method != "GET" && req.method != "HEAD":
		return &httpError{status: 405, msg: req.method + " is not served here: only GET and HEAD", header: "Allow: GET, HEAD"}
	case req.hosts != 1:
		return badRequest("need exactly one Host header") // RFC 9112 §3.2
	}
	return nil
}

// pageResponse answers GET or HEAD for one of the pages, or 404.
func pageResponse(req *upgradeRequest, path string) ([]byte, error) {
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

// requestPath is the path of a request target, without its query: "/" for
// "/?x=1" and for the absolute form "ws://host/" (RFC 9112 §3.2).
func requestPath(target string) string {
	if _, rest, ok := strings.Cut(target, "://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			target = rest[i:]
		} else {
			target = "/"
		}
	}
	path, _, _ := strings.Cut(target, "?")
	return path
}
