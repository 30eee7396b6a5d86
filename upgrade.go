package main

// upgrade.go is article section 3.3: the client asks to switch protocols
// (3.3.1), the server answers 101 (3.3.2) with Sec-WebSocket-Accept (3.3.3).
// The request is read from raw bytes, as the article's net server does, but
// however many TCP segments it comes in, and checked as RFC 6455 §4.2 says.

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// websocketGUID is the fixed string of RFC 6455 §1.3, the article's CODE.
const websocketGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey computes Sec-WebSocket-Accept (article 3.3.3, RFC 6455 §4.2.2):
// base64(SHA-1(key + GUID)).
func acceptKey(key string) string {
	h := sha1.New()
	io.WriteString(h, key)
	io.WriteString(h, websocketGUID)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// upgradeRequest is what the server needs from the client's opening handshake
// (article 3.3.1). Repeated list headers are joined with ", " (RFC 9110 §5.3).
type upgradeRequest struct {
	method      string // request line: GET is the only one allowed
	target      string // request line: "/" or "ws://host/path"; any path echoes
	proto       string // request line: HTTP/1.1 or later
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
	extensions  string // Sec-WebSocket-Extensions: offered extensions (we accept none)
}

// httpError is a handshake refused: the status, one line saying why, and
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
	case 426:
		return "Upgrade Required"
	case 431:
		return "Request Header Fields Too Large"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

// badRequest is a 400 with its one-line reason.
func badRequest(msg string) *httpError { return &httpError{status: 400, msg: msg} }

// errHeaderTooLarge answers a request head over the limit (RFC 6585 §5).
var errHeaderTooLarge = &httpError{status: 431, msg: "request header too large"}

// handshakeRules are the server's own conditions on a handshake, on top of
// RFC 6455's: they come from the flags.
type handshakeRules struct {
	maxHeaderBytes int      // -max-header-bytes: a larger request head gets 431
	origins        []string // -origin: the Origin values allowed; empty allows any
	full           bool     // the server holds -max-conns connections: 503
}

// retryAfter is what a client refused for lack of room is told to wait (seconds).
const retryAfter = "5"

// check refuses a valid handshake that the server's rules do not allow:
// an Origin not on the list (403, RFC 6455 §4.2.2 and §10.2), or no room (503).
func (r handshakeRules) check(req *upgradeRequest) *httpError {
	if len(r.origins) > 0 && req.origin != "" && !slices.ContainsFunc(r.origins, func(o string) bool {
		return strings.EqualFold(o, req.origin)
	}) {
		return &httpError{status: 403, msg: "Origin " + strconv.Quote(req.origin) + " is not allowed here"}
	}
	if r.full {
		return &httpError{status: 503, msg: "too many connections: try again later", header: "Retry-After: " + retryAfter}
	}
	return nil
}

// handshake is the whole of article 3.3 on the server's side: read the
// request from br, check it, and write the answer to w: the 101 that
// switches the connection to frames, or an HTTP error after which the
// connection closes. The error is the *httpError that was answered,
// errPlainHTTP for a plain HTTP request (not answered yet), or the I/O
// error that cut the request short (nothing can be answered then).
func handshake(br *bufio.Reader, w io.Writer, rules handshakeRules, tr *tracer) (*upgradeRequest, error) {
	req, err := readRequest(br, rules.maxHeaderBytes, tr)
	var resp []byte
	switch {
	case err != nil:
	case !req.isWebSocket():
		return req, errPlainHTTP // a plain GET: answered by servePlain (push.go)
	default:
		if he := req.check(); he != nil {
			err = he
		} else if he := rules.check(req); he != nil {
			err = he
		} else {
			resp = switchingProtocols(req.key)
		}
	}
	if he, ok := errors.AsType[*httpError](err); ok {
		resp = errorResponse(he)
	}
	if resp == nil {
		return nil, err // cut short: there is nobody to answer
	}
	_, werr := w.Write(resp)
	tr.handshake(req, resp)
	if err != nil {
		return nil, err
	}
	if werr != nil {
		return nil, werr
	}
	return req, nil
}

// readRequest reads the request line and header fields up to the blank line
// that ends them, from br, however the bytes were split into reads. Bytes
// after the blank line stay in br: they are the client's first frames.
// maxBytes bounds the whole head; tr, if not nil, keeps the raw lines. The error is an *httpError to answer, or
// the I/O error that cut the request short (nothing can be answered then).
func readRequest(br *bufio.Reader, maxBytes int, tr *tracer) (*upgradeRequest, error) {
	req := &upgradeRequest{}
	total := 0
	first := true
	for {
		line, err := readLine(br, maxBytes-total)
		if err != nil {
			return nil, err
		}
		tr.requestLine(line)
		total += len(line)
		line = trimEOL(line)
		if first {
			first = false
			if err := req.parseRequestLine(string(line)); err != nil {
				return nil, err
			}
			continue
		}
		if len(line) == 0 {
			return req, nil // the blank line: the head is complete
		}
		if err := req.parseField(line); err != nil {
			return nil, err
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
func (req *upgradeRequest) parseRequestLine(line string) error {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || !isToken(method) || target == "" || strings.ContainsAny(target, " \t") {
		return badRequest("malformed request line")
	}
	major, minor, ok := parseHTTPVersion(proto)
	if !ok {
		return badRequest("malformed HTTP version " + strconv.Quote(proto))
	}
	if major < 1 || major == 1 && minor < 1 {
		return badRequest("WebSocket needs HTTP/1.1 or later, not " + proto) // RFC 6455 §4.1
	}
	req.method, req.target, req.proto = method, target, proto
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
func (req *upgradeRequest) parseField(line []byte) error {
	if line[0] == ' ' || line[0] == '\t' {
		return badRequest("obsolete line folding in header") // RFC 9112 §5.2
	}
	colon := strings.IndexByte(string(line), ':')
	if colon <= 0 || !isToken(string(line[:colon])) {
		return badRequest("malformed header line")
	}
	name := line[:colon]
	value := strings.Trim(string(line[colon+1:]), " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; c < ' ' && c != '\t' || c == 0x7F {
			return badRequest("control character in header " + strconv.Quote(string(name)))
		}
	}
	switch {
	case equalFold(name, "Host"):
		req.host = value
		req.hosts++
	case equalFold(name, "Upgrade"):
		req.upgrade = joinList(req.upgrade, value)
	case equalFold(name, "Connection"):
		req.connection = joinList(req.connection, value)
	case equalFold(name, "Sec-WebSocket-Key"):
		req.key = value
		req.keys++
	case equalFold(name, "Sec-WebSocket-Version"):
		req.version = joinList(req.version, value)
	case equalFold(name, "Origin"):
		req.origin = value
	case equalFold(name, "Last-Event-ID"):
		req.lastEventID = value
	case equalFold(name, "Sec-WebSocket-Protocol"):
		req.protocol = joinList(req.protocol, value)
	case equalFold(name, "Sec-WebSocket-Extensions"):
		req.extensions = joinList(req.extensions, value)
	}
	return nil
}

// check applies RFC 6455 §4.2.1 to a complete request: the first rule broken
// decides the answer.
func (req *upgradeRequest) check() *httpError {
	switch {
	case req.method != "GET":
		return &httpError{status: 405, msg: "a WebSocket handshake is a GET, not " + req.method, header: "Allow: GET"}
	case req.hosts == 0:
		return badRequest("missing Host header")
	case req.hosts > 1:
		return badRequest("more than one Host header")
	case !hasToken(req.upgrade, "websocket"):
		return badRequest("not a WebSocket handshake: Upgrade header must list \"websocket\"")
	case !hasToken(req.connection, "upgrade"):
		return badRequest("not a WebSocket handshake: Connection header must list \"Upgrade\"")
	case req.version != "13": // §4.4: say which version we speak
		return &httpError{status: 426, msg: "Sec-WebSocket-Version must be 13", header: "Sec-WebSocket-Version: 13"}
	case req.keys != 1:
		return badRequest("need exactly one Sec-WebSocket-Key header")
	}
	if k, err := base64.StdEncoding.DecodeString(req.key); err != nil || len(k) != 16 {
		return badRequest("Sec-WebSocket-Key must be base64 of 16 bytes")
	}
	return nil
}

// switchingProtocols is the 101 response of article 3.3.2, written by hand.
// Nothing else goes in it: no subprotocol and no extension is chosen, which
// tells the client that none is in use (RFC 6455 §4.2.2).
func switchingProtocols(key string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n" +
		"\r\n")
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

// joinList adds a repeated header's value to the ones before it.
func joinList(list, value string) string {
	if list == "" {
		return value
	}
	return list + ", " + value
}

// equalFold compares a header name with an ASCII name, without regard to case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// lower is ASCII lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
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
