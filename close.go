package main

// close.go is the closing handshake (RFC 6455 §5.5.1, §7), which the
// article's server does not have: the close codes, the one error type that
// carries a code, answering the client's Close, and the server's own Close
// when it fails a connection or shuts down.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// closeCode is the status code at the start of a Close frame's payload (§7.4).
type closeCode uint16

// Close status codes, named as in the RFC 6455 §11.7 registry (meanings in §7.4.1).
const (
	closeNormalClosure           closeCode = 1000
	closeGoingAway               closeCode = 1001
	closeProtocolError           closeCode = 1002
	closeUnsupportedData         closeCode = 1003
	closeNoStatusRcvd            closeCode = 1005 // "no code in the Close frame": never sent on the wire
	closeAbnormalClosure         closeCode = 1006 // "closed without a Close frame": never sent on the wire
	closeInvalidFramePayloadData closeCode = 1007
	closePolicyViolation         closeCode = 1008
	closeMessageTooBig           closeCode = 1009
	closeMandatoryExt            closeCode = 1010
	closeInternalServerErr       closeCode = 1011
	closeTryAgainLater           closeCode = 1013 // added to the registry since the RFC
	closeTLSHandshake            closeCode = 1015 // never sent on the wire
)

// String is the code's registry name, for logs and -trace.
func (code closeCode) String() string {
	switch code {
	case closeNormalClosure:
		return "Normal Closure"
	case closeGoingAway:
		return "Going Away"
	case closeProtocolError:
		return "Protocol error"
	case closeUnsupportedData:
		return "Unsupported Data"
	case closeNoStatusRcvd:
		return "No Status Rcvd"
	case closeAbnormalClosure:
		return "Abnormal Closure"
	case closeInvalidFramePayloadData:
		return "Invalid frame payload data"
	case closePolicyViolation:
		return "Policy Violation"
	case closeMessageTooBig:
		return "Message Too Big"
	case closeMandatoryExt:
		return "Mandatory Ext."
	case closeInternalServerErr:
		return "Internal Server Error"
	case closeTryAgainLater:
		return "Try Again Later"
	case closeTLSHandshake:
		return "TLS handshake"
	}
	switch {
	case code >= 3000 && code <= 3999:
		return "registered by a library or framework"
	case code >= 4000 && code <= 4999:
		return "private use"
	}
	return "unknown"
}

// validOnWire says whether a peer may send code in a Close frame (§7.4.1,
// §7.4.2): 1000-1003, 1007-1011, 1012-1014 (added to the IANA registry
// since the RFC), and 3000-4999. 1004 is reserved, and 1005, 1006 and 1015
// are for reporting only, never for the wire.
func (code closeCode) validOnWire() bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// closeError is the one reason the server closes a connection itself: a
// rule the client broke (failing the connection, §7.1.7), or the server
// going away. It carries the code and reason of the Close frame it sends.
type closeError struct {
	code   closeCode
	reason string // sent as the Close frame's reason: short, ASCII
}

// Error reads like "1002 Protocol error: client frame is not masked".
func (e *closeError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.code, e.code, e.reason)
}

// Reasons to close that concern the Close frame itself, and the server's own 1001s.
var (
	errCloseOneByte    = &closeError{closeProtocolError, "close frame payload of 1 byte"}             // §5.5.1
	errCloseCode       = &closeError{closeProtocolError, "invalid close code"}                        // §7.4
	errCloseReasonUTF8 = &closeError{closeInvalidFramePayloadData, "close reason is not valid UTF-8"} // §5.5.1
	errIdleTimeout     = &closeError{closeGoingAway, "idle timeout"}                                  // keepalive.go
	errGoingAway       = &closeError{closeGoingAway, "server shutting down"}                          // server.go
)

// peerClose is what the client said in its Close, for the log line.
type peerClose struct {
	code   closeCode // the client's code, closeNoStatusRcvd for an empty Close, 0 if none came
	reason string    // its reason
	first  bool      // the client's Close came before ours
}

// closeReceived checks the client's Close frame (payload p, unmasked) and
// answers it (§5.5.1): with a Close echoing its code, or an empty Close for
// an empty one. If we sent our Close first, this was the reply, and the
// handshake is done. Either way the server then closes TCP first (§7.1.1).
func (c *wsConn) closeReceived(p []byte) error {
	code := closeNoStatusRcvd
	switch {
	case len(p) == 1:
		return errCloseOneByte
	case len(p) >= 2:
		code = closeCode(binary.BigEndian.Uint16(p))
		if !code.validOnWire() {
			return errCloseCode
		}
		if !utf8.Valid(p[2:]) {
			return errCloseReasonUTF8
		}
		c.peer.reason = string(p[2:])
	}
	c.peer.code = code
	c.trace.note("<- Close from the client: %d (%s), reason %q", code, code, c.peer.reason)
	reply := code
	if code == closeNoStatusRcvd {
		reply = 0 // 1005 is never put on the wire: an empty Close answers an empty Close
	}
	err := c.writeClose(reply, "")
	if err == errCloseSent {
		return nil // ours went first: this Close was the reply
	}
	c.peer.first = true
	return err
}

// writeClose sends a Close frame with code and reason, the last frame this
// side sends. A zero code sends an empty Close.
func (c *wsConn) writeClose(code closeCode, reason string) error {
	var f [2 + 125]byte
	return c.writeFrame(putClose(&f, code, reason), false, false)
}

// putClose lays out a Close frame in f and returns it: the code, then the
// reason, cut to fit a control frame's 125 bytes; no payload for code 0.
func putClose(f *[2 + 125]byte, code closeCode, reason string) []byte {
	n := 0
	if code != 0 {
		binary.BigEndian.PutUint16(f[2:], uint16(code))
		n = 2 + copy(f[4:], reason)
	}
	putServerHeader(f[:], opClose, n)
	return f[:2+n]
}

// fail tells the client why the connection ends, when err is a closeError:
// a Close frame with its code and reason (best effort: the connection is
// ending anyway; endWS closes TCP).
func (c *wsConn) fail(err error) {
	if ce, ok := errors.AsType[*closeError](err); ok {
		c.trace.failing(ce)
		c.writeClose(ce.code, ce.reason)
	}
}

// goAway starts the server's side of the closing handshake at shutdown:
// Close 1001 now if no message is being received, or right after the echo
// of the message being received (writeFrame sends it), so that no message
// is lost half-way. A client that does not read cannot hold the shutdown
// past deadline.
func (c *wsConn) goAway(deadline time.Time) {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	c.out.setDeadline(deadline) // never later than halt's, if the budget evicted it
	c.out.goingAway = true
	if !c.out.inMessage {
		c.writeLocked(goingAwayFrame, false, false)
	}
}

// closeStatus says how the connection ended, for the log line: the close
// code, its reason, and who closed ("client", "server", or "none" when TCP
// simply ended, code 1006).
func (c *wsConn) closeStatus(err error) (code closeCode, reason, by string) {
	if ce, ok := errors.AsType[*closeError](err); ok {
		return ce.code, ce.reason, "server"
	}
	switch {
	case err != nil:
		return closeAbnormalClosure, err.Error(), "none"
	case c.peer.first:
		return c.peer.code, c.peer.reason, "client"
	}
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.sentCode, c.out.sentReason, "server"
}
