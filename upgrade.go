package main

// upgrade.go is article section 3.3: the client asks to switch protocols
// (3.3.1), the server answers 101 (3.3.2) with Sec-WebSocket-Accept
// (3.3.3). The request head has been read by readRequest (http.go); here
// it is checked as RFC 6455 §4.2 says, and answered.

import (
	"crypto/sha1"
	"encoding/base64"
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

// isWebSocket says whether the request tries to open a WebSocket: it asks
// for the websocket upgrade or carries a key. Anything else is plain HTTP,
// answered by servePlain (page.go).
func (req *request) isWebSocket() bool {
	return hasToken(req.upgrade, "websocket") || req.keys > 0
}

// handshake is article 3.3 on the server's side, once the request head is
// read: check it, and write the 101 that switches the connection to
// frames. A request that may not upgrade is not answered here: its
// *httpError is returned for the caller to answer (server.go:refuse), as
// a malformed request head is. ext is the extension agreed: only with
// -deflate, and nil when the client offered none the server can honour.
func handshake(w io.Writer, req *request, rules handshakeRules, tr *tracer) (ext *deflateParams, err error) {
	if he := req.checkUpgrade(); he != nil {
		return nil, he
	}
	if he := rules.allow(req); he != nil {
		return nil, he
	}
	if rules.deflate {
		ext = negotiateDeflate(req.extensions) // deflate.go: RFC 7692, beyond the article
		ext.payWindow(rules.budget)
	}
	resp := switchingProtocols(req.key, ext.extensionsHeader())
	_, err = w.Write(resp)
	tr.handshake(req, resp)
	if err != nil && ext != nil {
		rules.budget.giveWindow(ext.window) // no connection will keep it
	}
	return ext, err
}

// checkUpgrade applies RFC 6455 §4.2.1 to a complete request: the first
// rule broken decides the answer.
func (req *request) checkUpgrade() *httpError {
	switch {
	case req.method != "GET":
		return &httpError{status: 405, msg: "a WebSocket handshake is a GET, not " + preview(req.method), header: "Allow: GET"}
	case req.minor < 1:
		return badRequest("WebSocket needs HTTP/1.1 or later, not " + req.proto) // RFC 6455 §4.1
	case req.hasBody:
		return badRequest("an upgrade request has no body: after its head come frames")
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

// handshakeRules are the server's own conditions on a handshake, on top of
// RFC 6455's: they come from the flags.
type handshakeRules struct {
	origins []string // -origin: the Origin values allowed; empty allows any
	deflate bool     // -deflate: accept a permessage-deflate offer (deflate.go)
	budget  *budget  // what pays for the client's compression window (budget.go:takeWindow); nil: no limit
}

// rules are the server's handshake rules for req, from its flags:
// /clock/ws offers no compression, as it only pushes the time.
func (s *server) rules(req *request) handshakeRules {
	return handshakeRules{origins: s.origins, deflate: s.cfg.deflate && requestPath(req.target) != clockWSPath, budget: s.budget}
}

// allow refuses a valid handshake that the server's rules do not allow:
// an Origin not on the list (403, RFC 6455 §4.2.2 and §10.2).
func (r handshakeRules) allow(req *request) *httpError {
	if len(r.origins) > 0 && req.origin != "" && !slices.ContainsFunc(r.origins, func(o string) bool {
		return strings.EqualFold(o, req.origin)
	}) {
		return &httpError{status: 403, msg: "Origin " + strconv.Quote(preview(req.origin)) + " is not allowed here"}
	}
	return nil
}

// switchingProtocols is the 101 response of article 3.3.2, written by hand.
// Nothing else goes in it but extensions, the Sec-WebSocket-Extensions
// line of an agreed extension (only with -deflate), or "": no subprotocol
// and no extension is chosen, which tells the client that none is in use
// (RFC 6455 §4.2.2).
func switchingProtocols(key, extensions string) []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + acceptKey(key) + "\r\n" +
		extensions +
		"\r\n")
}
