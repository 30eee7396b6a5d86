package main

// inspectevents.go writes the inspector's events (inspect.go): the
// handshake, each frame, an inflated message and the close, as
// server-sent events whose data is one JSON object, written by hand, field
// by field. It buys frame, inflated-message and close events made without
// allocating (the queue they are copied into aside), each in a buffer on
// the stack, and every event of a known largest size, what the client
// chose cut short to fit; the handshake's, once per connection, is built
// in one of a few shared buffers, though its SHA-1 and accept value are
// computed with a few allocations. The plain code it stands in for is json.Marshal of a struct or a
// map, which goes through reflection, allocates the event and each hex
// string in it, and writes "<" as six bytes (\u003c), so that a head of
// them grows sixfold.

import (
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"sync"
	"unicode/utf8"
)

// inspectPreview is how many payload bytes a frame event shows.
const inspectPreview = 64

// The handshake event shows at most these many bytes of each field the
// client chose, as JSON-encoded: a head or a key over them is cut short
// and the event says "truncated". So the event fits the early queue,
// however large -max-header-bytes lets a head be, and whatever bytes it
// holds (a control byte takes six bytes in JSON, as \u0001).
const (
	inspectRequestShown  = 4 << 10 // the request head: a browser's is far shorter
	inspectKeyShown      = 64      // Sec-WebSocket-Key: a valid one has 24 characters
	inspectResponseShown = 1 << 10 // the answer, made by the server: a 101 or an error's few lines
)

// appendJSONString appends s as a JSON string, of at most limit bytes
// between its quotes, and says whether s was cut short to fit (at a
// character's start). Only what JSON requires is escaped: unlike
// encoding/json, "<", ">" and "&" stay one byte each, as an event stream
// is not HTML. A byte that is not UTF-8 becomes U+FFFD, as there. s may
// be the request head's bytes, read in place.
func appendJSONString[S ~string | ~[]byte](b []byte, s S, limit int) ([]byte, bool) {
	b = append(b, '"')
	end := len(b) + limit
	for i := 0; i < len(s); {
		c, size := s[i], 1
		var enc [6]byte
		var e []byte
		switch {
		case c == '"' || c == '\\':
			e = append(enc[:0], '\\', c)
		case c == '\n':
			e = append(enc[:0], `\n`...)
		case c == '\r':
			e = append(enc[:0], `\r`...)
		case c == '\t':
			e = append(enc[:0], `\t`...)
		case c < 0x20:
			e = append(enc[:0], '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		case c < utf8.RuneSelf:
			e = append(enc[:0], c)
		default:
			var r rune
			r, size = utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r == utf8.RuneError && size == 1 {
				e = utf8.AppendRune(enc[:0], utf8.RuneError)
			} else {
				e = append(enc[:0], s[i:i+size]...)
			}
		}
		if len(b)+len(e) > end {
			return append(b, '"'), true
		}
		b = append(b, e...)
		i += size
	}
	return append(b, '"'), false
}

// hexDigits are the digits of a \u escape.
const hexDigits = "0123456789abcdef"

// appendField appends ,"name": (no comma for the first field, after "{").
func appendField(b []byte, name string) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// appendBool appends a JSON field whose value is true or false.
func appendBool(b []byte, name string, v bool) []byte {
	return strconv.AppendBool(appendField(b, name), v)
}

// appendHex appends a JSON field whose value is p in hex digits.
func appendHex(b []byte, name string, p []byte) []byte {
	b = append(appendField(b, name), '"')
	return append(hex.AppendEncode(b, p), '"')
}

// appendEventStart begins an event: its name line and the data line's start.
func appendEventStart(b []byte, event string) []byte {
	b = append(b, "event: "...)
	b = append(b, event...)
	return append(b, "\ndata: {"...)
}

// eventEnd ends the data line's JSON object and the event.
const eventEnd = "}\n\n"

// handshakeEventMax bounds the handshake event: what it shows of the
// fields the client chose, and its fixed text, the GUID, SHA-1 in hex,
// the accept value, the head's length and the client's address (64 bytes
// at most), which take less than 512 bytes.
// It fits in the early queue with inspectCloseRoom to spare
// (TestInspectHandshakeWorstCase).
const handshakeEventMax = 512 + inspectRequestShown + inspectKeyShown + inspectResponseShown

// handshakeBuffers hold handshake events while they are made: a buffer
// serves one handshake after another, not one per connection.
var handshakeBuffers = sync.Pool{New: func() any { return new([handshakeEventMax]byte) }}

// handshakeEvent reports the request head as received and the response
// as sent, each cut short if it is longer than the event may show.
func (x *inspection) handshakeEvent(req *request, response []byte, remote string) {
	sum := sha1.Sum([]byte(req.key + websocketGUID))
	buf := handshakeBuffers.Get().(*[handshakeEventMax]byte)
	defer handshakeBuffers.Put(buf)
	e := appendEventStart(buf[:0], "handshake")
	var cut, c bool
	e, cut = appendJSONString(appendField(e, "request"), req.head, inspectRequestShown)
	e, c = appendJSONString(appendField(e, "key"), req.key, inspectKeyShown)
	cut = cut || c
	e, _ = appendJSONString(appendField(e, "guid"), websocketGUID, len(websocketGUID))
	e = appendHex(e, "sha1", sum[:])
	e, _ = appendJSONString(appendField(e, "accept"), acceptKey(req.key), 28) // base64 of 20 bytes
	e, c = appendJSONString(appendField(e, "response"), response, inspectResponseShown)
	e = appendBool(e, "truncated", cut || c)                                         // a field above is cut short
	e = strconv.AppendInt(appendField(e, "requestLength"), int64(len(req.head)), 10) // the whole head's, in bytes
	e, _ = appendJSONString(appendField(e, "remote"), remote, 64)                    // the client's address as the server sees it (proxy.go)
	e = append(e, eventEnd...)
	x.push(e, inspectCloseRoom)
}

// frameEventMax is more than a frame event's length: its fixed text, a
// 14-byte header, a key and two previews in hex, and a 20-digit length.
const frameEventMax = 256 + 2*maxFrameHeaderLen + 4*inspectPreview

// appendFrameEvent formats one frame, in either direction, as the page
// draws it: its header bytes, their fields, and the first payload bytes,
// as they went on the wire (masked, for a client's) and unmasked.
func appendFrameEvent(e []byte, dir string, hdr []byte, h *frameHeader, key, masked, payload []byte) []byte {
	length := h.length
	e = appendEventStart(e, "frame")
	e = append(append(append(appendField(e, "dir"), '"'), dir...), '"')
	e = appendHex(e, "header", hdr)
	e = appendBool(e, "fin", h.fin)
	e = appendBool(e, "rsv1", h.rsv1)
	e = appendBool(e, "rsv2", h.rsv2)
	e = appendBool(e, "rsv3", h.rsv3)
	e = strconv.AppendInt(appendField(e, "opcode"), int64(h.opcode), 10)
	e = appendBool(e, "mask", h.mask)
	e = strconv.AppendUint(appendField(e, "length"), length, 10)
	e = appendHex(e, "maskingKey", key)
	e = appendHex(e, "payloadMasked", masked)
	e = appendHex(e, "payload", payload)
	e = appendBool(e, "truncated", uint64(len(payload)) < length)
	return append(e, eventEnd...)
}

// frameIn reports a client's frame: its header re-encoded exactly as it
// came (the length in the form the client chose), and the first payload
// bytes, unmasked as the server read them and masked again as they came.
// The event is made on the stack and copied into the queue, if it fits.
func (x *inspection) frameIn(h *frameHeader, unmasked []byte) {
	var hb [maxFrameHeaderLen]byte
	var masked [inspectPreview]byte
	var buf [frameEventMax]byte
	hdr := appendClientHeader(hb[:0], h) // trace.go
	m := masked[:copy(masked[:], unmasked)]
	var key []byte
	if h.mask {
		key = h.maskingKey[:]
		maskBytesSimple(h.maskingKey, 0, m)
	}
	x.push(appendFrameEvent(buf[:0], "in", hdr, h, key, m, unmasked), inspectCloseRoom)
}

// frameOut reports a server frame from its bytes (header and payload, or
// a streamed echo's header and first piece). A server frame is unmasked.
func (x *inspection) frameOut(frame []byte) {
	var buf [frameEventMax]byte
	var h frameHeader
	hl, _ := decodeFrameHeader(frame, &h) // frame.go
	p := frame[hl:min(len(frame), hl+inspectPreview)]
	x.push(appendFrameEvent(buf[:0], "out", frame[:hl], &h, nil, p, p), inspectCloseRoom)
}

// inflatedEvent reports what a compressed message (RSV1, deflate.go)
// inflated to: its length and first bytes, for the page to compare with
// what it sent, since the frames carried the message compressed.
func (x *inspection) inflatedEvent(compressed int, msg []byte) {
	var buf [128 + 2*inspectPreview]byte
	e := appendEventStart(buf[:0], "inflated")
	e = strconv.AppendInt(appendField(e, "compressed"), int64(compressed), 10)
	e = strconv.AppendInt(appendField(e, "length"), int64(len(msg)), 10)
	e = appendHex(e, "payload", msg[:min(len(msg), inspectPreview)])
	x.push(append(e, eventEnd...), inspectCloseRoom)
}

// closeEvent reports how the connection ended: code, reason, who closed
// first. It alone may use the queue's last inspectCloseRoom bytes, which
// its fields, each cut to fit, cannot outgrow.
func (x *inspection) closeEvent(code closeCode, reason, by string) {
	var buf [inspectCloseRoom]byte
	e := appendEventStart(buf[:0], "close")
	e = strconv.AppendInt(appendField(e, "code"), int64(code), 10)
	e, _ = appendJSONString(appendField(e, "name"), code.String(), 64)
	e, _ = appendJSONString(appendField(e, "reason"), reason, 640)
	e, _ = appendJSONString(appendField(e, "by"), by, 64)
	x.push(append(e, eventEnd...), 0)
}
