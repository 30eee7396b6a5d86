package main

// http.go reads an HTTP/1.1 request head from raw bytes and writes the
// answers that are not a 101: the grammar of RFC 9110 and RFC 9112 that the
// upgrade (upgrade.go) and the plain pages (page.go) share. The article's
// server does this with one toString() and split("\r\n"); here the head is
// read line by line through a bufio.Reader, however many TCP segments it
// comes in.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// request is what the server needs from a request head: an upgrade request
// (article 3.3.1) or a plain GET for a page or a clock. Repeated list
// headers are joined with ", " (RFC 9110 §5.3).
type request struct {
	method      string // request line: GET is the only one allowed
	target      string // request line: "/" or "ws://host/path"; any path echoes
	proto       string // request line: HTTP/1.x; the upgrade needs 1.1 or later
	minor       int    // its minor version: 0 for HTTP/1.0
	host        string // Host: required by HTTP/1.1
	hosts       int    // how many Host lines came (more than one is a 400, RFC 9112 §3.2)
	upgrade     string // Upgrade: must list the token "websocket"
	connection  string // Connection: must list the token "upgrade"
	key         string // Sec-WebSocket-Key: base64 of 16 random bytes
	keys        int    // how many Sec-WebSocket-Key lines came (must be one)
	version     string // Sec-WebSocket-Version: must be 13
	origin      string // Origin: "null" for a page opened from disk
	lastEventID string // Last-Event-ID: where a reconnecting EventSource left off (push.go)
	protocol    string // Sec-WebSocket-Protocol: offered subprotocols (we choose none)
	extensions  string // Sec-WebSocket-Extensions: offered extensions (-deflate may accept one, extensions.go)
	hasBody     bool   // Content-Length other than 0, or Transfer-Encoding: a body follows the head
	bodyLength  int64  // Content-Length's value, or bodyNone, bodyChunked, bodyBadLength (only POST /lab reads a body, lab.go)
	expect      string // Expect: "100-continue" asks for an interim answer before the body (RFC 9110 §10.1.1)
	forwardFor  string // X-Forwarded-For: the addresses a request came through, the client's first (read only from a -trust-proxy address, proxy.go)
	forwarded   string // Forwarded: the same, standard (RFC 7239), "for=" in each element
	head        []byte // the request head exactly as received, for -trace and the inspector

	lists map[*string]*strings.Builder // the fields above that a repeated list header fills (addList)
}

// httpError is a request refused: the status, one line saying why, and
// any header the status needs (Allow for 405, Sec-WebSocket-Version for 426).
type httpError struct {
	status int
	msg    string
	header string // "Name: value", or empty
}

// Error reads like "400 Bad Request: missing Host header".
func (e *httpError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, statusText(e.status), e.msg)
}

// statusText is the reason phrase of the statuses this server sends.
func statusText(status int) string {
	switch status {
	case 101:
		return "Switching Protocols"
	case 400:
		return "Bad Request"
	case 200:
		return "OK"
	case 404:
		return "Not Found"
	case 403:
		return "Forbidden"
	case 405:
		return "Method Not Allowed"
	case 409:
		return "Conflict"
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 422:
		return "Unprocessable Content"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// badRequest is a 400 with its one-line reason.
func badRequest(msg string) *httpError { return &httpError{status: 400, msg: msg} }

// errHeaderTooLarge answers a request head over the limit (RFC 6585 §5).
var errHeaderTooLarge = &httpError{status: 431, msg: "request header too large"}

// retryAfter is what a client refused for lack of room is told to wait (seconds).
const retryAfter = "5"

// errTooMany is the answer when the server holds -max-conns connections.
var errTooMany = &httpError{status: 503, msg: "too many connections: try again later", header: "Retry-After: " + retryAfter}

// What request.bodyLength holds when there is no length to read a body by.
const (
	bodyNone      = -1 // no Content-Length
	bodyChunked   = -2 // Transfer-Encoding, which outweighs any Content-Length
	bodyBadLength = -3 // a Content-Length that is not digits, or two that differ
)

// readRequest reads the request line and header fields up to the blank line
// that ends them, from br, however the bytes were split into reads. Bytes
// after the blank line stay in br: they are the client's first frames.
// maxBytes bounds the whole head, which req.head keeps as received. The
// error is an *httpError to answer, or the I/O error that cut the request
// short (nothing can be answered then); req holds what was read either way.
func readRequest(br *bufio.Reader, maxBytes int) (*request, error) {
	req := &request{bodyLength: bodyNone}
	first := true
	for {
		line, err := readLine(br, maxBytes-len(req.head))
		if err != nil {
			return req, err
		}
		req.head = append(req.head, line...)
		line = trimEOL(line)
		if first && len(line) == 0 {
			continue // empty lines before the request line are ignored (RFC 9112 §2.2)
		}
		if first {
			first = false
			if err := req.parseRequestLine(string(line)); err != nil {
				return req, err
			}
			continue
		}
		if len(line) == 0 {
			return req, nil // the blank line: the head is complete
		}
		if err := req.parseField(line); err != nil {
			return req, err
		}
	}
}

// readLine returns the next line, "\n" included, of at most limit bytes; a
// longer one is errHeaderTooLarge. The slice is valid until br is read again.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull { // longer than the reader's buffer: gather it
		acc := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(acc) <= limit {
			line, err = br.ReadSlice('\n')
			acc = append(acc, line...)
		}
		line = acc
	}
	if len(line) > limit {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return line, nil
}

// trimEOL drops the line's "\r\n" (or a bare "\n", which RFC 9112 §2.2
// lets a server accept).
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// parseRequestLine splits "GET /chat HTTP/1.1" (RFC 9112 §3).
func (req *request) parseRequestLine(line string) error {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || strings.ContainsAny(target, " \t") {
		return badRequest("malformed request line")
	}
	major, minor, ok := parseHTTPVersion(proto)
	if !ok {
		return badRequest("malformed HTTP version " + strconv.Quote(preview(proto)))
	}
	if major != 1 {
		return &httpError{status: 505, msg: "this server speaks HTTP/1.x, not " + strconv.Quote(preview(proto))} // RFC 9110 §15.6.6
	}
	req.method, req.target, req.proto, req.minor = method, target, proto, minor
	return nil
}

// parseHTTPVersion reads "HTTP/1.1" as 1, 1.
func parseHTTPVersion(s string) (major, minor int, ok bool) {
	v, found := strings.CutPrefix(s, "HTTP/")
	if !found || len(v) != 3 || v[1] != '.' || !isDigit(v[0]) || !isDigit(v[2]) {
		return 0, 0, false
	}
	return int(v[0] - '0'), int(v[2] - '0'), true
}

// parseField reads one "Name: value" line (RFC 9110 §5, RFC 9112 §5). Names
// are matched without regard to case; the value loses its surrounding spaces.
func (req *request) parseField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return badRequest("obsolete line folding in header") // RFC 9112 §5.2
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(string(line[:colon])) {
		return badRequest("malformed header line")
	}
	name := string(line[:colon])
	value := strings.Trim(string(line[colon+1:]), " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7F {
			return badRequest("control character in header " + strconv.Quote(preview(name)))
		}
	}
	switch {
	case strings.EqualFold(name, "Host"):
		req.host = value
		req.hosts++
	case strings.EqualFold(name, "Upgrade"):
		req.addList(&req.upgrade, value)
	case strings.EqualFold(name, "Connection"):
		req.addList(&req.connection, value)
	case strings.EqualFold(name, "Sec-WebSocket-Key"):
		req.key = value
		req.keys++
	case strings.EqualFold(name, "Sec-WebSocket-Version"):
		req.addList(&req.version, value)
	case strings.EqualFold(name, "Origin"):
		req.origin = value
	case strings.EqualFold(name, "Last-Event-ID"):
		req.lastEventID = value
	case strings.EqualFold(name, "Sec-WebSocket-Protocol"):
		req.addList(&req.protocol, value)
	case strings.EqualFold(name, "Sec-WebSocket-Extensions"):
		req.addList(&req.extensions, value)
	case strings.EqualFold(name, "Content-Length"):
		req.hasBody = req.hasBody || value != "0"
		n, err := strconv.ParseInt(value, 10, 64)
		switch {
		case req.bodyLength == bodyChunked: // Transfer-Encoding outweighs it (RFC 9112 §6.3)
		case err != nil || !isDigit(value[0]) || req.bodyLength != bodyNone && req.bodyLength != n:
			req.bodyLength = bodyBadLength // not digits only, or two that differ (RFC 9112 §6.3)
		default:
			req.bodyLength = n
		}
	case strings.EqualFold(name, "Transfer-Encoding"):
		req.hasBody = true
		req.bodyLength = bodyChunked
	case strings.EqualFold(name, "Expect"):
		req.addList(&req.expect, value)
	case strings.EqualFold(name, "X-Forwarded-For"):
		req.addList(&req.forwardFor, value)
	case strings.EqualFold(name, "Forwarded"):
		req.addList(&req.forwarded, value)
	}
	return nil
}

// errorResponse is a complete HTTP answer for a refused handshake: status
// line, headers, and the one-line plain-text reason as its body. The
// connection closes after it.
func errorResponse(e *httpError) []byte {
	body := e.msg + "\n"
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", e.status, statusText(e.status))
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	b.WriteString("X-Content-Type-Options: nosniff\r\n")
	b.WriteString("Connection: close\r\n")
	if e.header != "" {
		b.WriteString(e.header + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

// hasToken says whether the comma-separated list holds token, in any case
// ("keep-alive, Upgrade" holds "upgrade").
func hasToken(list, token string) bool {
	for item := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.Trim(item, " \t"), token) {
			return true
		}
	}
	return false
}

// addList adds a list header's value to the ones before it, joined with
// ", " as RFC 9110 §5.3 lets a repeated header be. A value repeated is
// gathered in a strings.Builder, so that a head of many repeats costs
// time in proportion to its size, not to its square.
func (req *request) addList(field *string, value string) {
	if *field == "" {
		*field = value
		return
	}
	if req.lists == nil {
		req.lists = make(map[*string]*strings.Builder)
	}
	b := req.lists[field]
	if b == nil {
		b = new(strings.Builder)
		b.WriteString(*field)
		req.lists[field] = b
	}
	b.WriteString(", ")
	b.WriteString(value)
	*field = b.String() // no copy; the builder only appends, so the strings it gave before stay as they were
}

// isDigit is an ASCII digit.
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isToken says whether s is an HTTP token (RFC 9110 §5.6.2): a method or header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7F || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// fixedResponse is a complete 200 response with a body of known length;
// to HEAD, the same headers without the body (RFC 9110 §9.3.2).
func fixedResponse(req *request, contentType, headers string, body []byte) []byte {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	b.WriteString("Content-Type: " + contentType + "\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	b.WriteString(headers)
	b.WriteString("\r\n")
	resp := append(make([]byte, 0, b.Len()+len(body)), b.String()...) // one allocation: the lab's answer is large
	if req.method != "HEAD" {
		resp = append(resp, body...)
	}
	return resp
}

// requestPath is the path of a request target, without its query: "/" for
// "/?x=1" and for the absolute form "ws://host/" (RFC 9112 §3.2.2). Only a
// target that starts with a scheme is in absolute form: "/a?next=http://b/"
// is the path "/a".
func requestPath(target string) string {
	if scheme, rest, ok := strings.Cut(target, "://"); ok && isScheme(scheme) {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			target = rest[i:]
		} else {
			target = "/"
		}
	}
	path, _, _ := strings.Cut(target, "?")
	return path
}

// isScheme says whether s is a URI scheme: a letter, then letters, digits,
// "+", "-" or "." (RFC 3986 §3.1).
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := 'a' <= c|0x20 && c|0x20 <= 'z'
		if !letter && (i == 0 || !isDigit(c) && c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	return s != ""
}
