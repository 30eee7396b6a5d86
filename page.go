package main

// page.go serves index.html, the article's 3.2.2 browser client, to a plain
// HTTP request on the server's port, so that http://127.0.0.1:9999/ works
// as well as opening the file from disk. The response is written by hand,
// like the 101 in upgrade.go.

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

// indexHTML is the page, built into the binary: `go run .` serves it from any directory.
//
//go:embed index.html
var indexHTML []byte

// errPageServed ends a connection whose request was for the page: it was answered.
var errPageServed = errors.New("page served")

// isWebSocket says whether the request tries to open a WebSocket: it asks
// for the websocket upgrade or carries a key. Anything else is plain HTTP.
func (req *upgradeRequest) isWebSocket() bool {
	return hasToken(req.upgrade, "websocket") || req.keys > 0
}

// pageResponse answers a plain HTTP request: GET or HEAD of / or
// /index.html gets the page (and errPageServed), another path 404, another
// method 405 (an *httpError). The connection closes after the answer
// (Connection: close), so there is no keep-alive to manage.
func pageResponse(req *upgradeRequest) ([]byte, error) {
	switch {
	case req.method != "GET" && req.method != "HEAD":
		return nil, &httpError{status: 405, msg: req.method + " is not served here: only GET and HEAD", header: "Allow: GET, HEAD"}
	case req.hosts != 1:
		return nil, badRequest("need exactly one Host header") // RFC 9112 §3.2
	}
	switch requestPath(req.target) {
	case "/", "/index.html":
	default:
		return nil, &httpError{status: 404, msg: "not found: this server has / (the page) and WebSocket upgrades"}
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("Content-Type: text/html; charset=utf-8\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(indexHTML))
	b.WriteString("Cache-Control: no-cache\r\n")
	b.WriteString("X-Content-Type-Options: nosniff\r\n")
	b.WriteString("Connection: close\r\n\r\n")
	resp := []byte(b.String())
	if req.method == "GET" { // HEAD: the same headers, no body (RFC 9110 §9.3.2)
		resp = append(resp, indexHTML...)
	}
	return resp, errPageServed
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
