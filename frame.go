package main

// frame.go is the article's 3.4.1 and 3.4.2 and nothing else: the layout of
// a frame on the wire, reading a client's frame header, writing a server's,
// and the masking algorithm. It is only the codec; the connection that reads
// frames with it and echoes messages is conn.go (3.4.3).

import (
	"encoding/binary"
	"io"
)

// opcode is the frame's "opcode (4)": what the frame carries (RFC 6455 §5.2).
type opcode byte

// Opcodes, named as in RFC 6455 §5.2 and §11.8. 0x3-0x7 and 0xB-0xF are reserved.
const (
	opContinuation opcode = 0x0 // continues a fragmented message (§5.4)
	opText         opcode = 0x1 // a text message: UTF-8 (§5.6)
	opBinary       opcode = 0x2 // a binary message (§5.6)
	opClose        opcode = 0x8 // closing handshake (§5.5.1)
	opPing         opcode = 0x9 // keepalive request, answered with a pong (§5.5.2)
	opPong         opcode = 0xA // answer to a ping (§5.5.3)
)

// String is the opcode's meaning, as the RFC's table names it.
func (op opcode) String() string {
	switch op {
	case opContinuation:
		return "continuation"
	case opText:
		return "text"
	case opBinary:
		return "binary"
	case opClose:
		return "close"
	case opPing:
		return "ping"
	case opPong:
		return "pong"
	}
	return "reserved"
}

// isControl says whether the opcode is a control frame's (§5.5): its top bit is set.
func (op opcode) isControl() bool { return op&0x8 != 0 }

// frameHeader is the article's 3.4.1 diagram (RFC 6455 §5.2), one field per box:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |   (if payload len==126/127)   |
//	| |1|2|3|       |K|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|     Extended payload length continued, if payload len == 127  |
//	+ - - - - - - - - - - - - - - - +-------------------------------+
//	|                               |Masking-key, if MASK set to 1  |
//	+-------------------------------+-------------------------------+
//	| Masking-key (continued)       |          Payload Data         |
//	+-------------------------------- - - - - - - - - - - - - - - - +
type frameHeader struct {
	fin        bool    // FIN: this frame ends its message (the article's fin)
	rsv1       bool    // RSV1: 0 unless an extension gives it a meaning (-deflate: "compressed", deflate.go)
	rsv2       bool    // RSV2: 0, as no extension here gives it a meaning
	rsv3       bool    // RSV3: likewise
	opcode     opcode  // opcode: 4 bits (the article's opcode)
	mask       bool    // MASK: 1 on every frame from a client, §5.3 (the article's isMask)
	payloadLen byte    // Payload len: 7 bits; 126: a 16-bit length follows, 127: a 64-bit one (the article's payloadLength)
	length     uint64  // the payload length itself, from Payload len or the extended length
	maskingKey [4]byte // Masking-key: 32 bits chosen by the client (the article's mask)
}

// maxFrameHeaderLen is the longest header: 2 bytes, a 64-bit length, a masking key.
const maxFrameHeaderLen = 2 + 8 + 4

// The ways a frame header can break RFC 6455 §5.2, each with its close code.
var (
	errReservedBits      = &closeError{closeProtocolError, "RSV bit set without a negotiated extension"}
	errRSV1Control       = &closeError{closeProtocolError, "RSV1 (compressed) on a control frame"}      // RFC 7692 §6.1
	errRSV1Continuation  = &closeError{closeProtocolError, "RSV1 (compressed) on a continuation frame"} // RFC 7692 §6.1
	errReservedOpcode    = &closeError{closeProtocolError, "reserved opcode"}
	errNotMasked         = &closeError{closeProtocolError, "client frame is not masked"}  // §5.1
	errFragmentedControl = &closeError{closeProtocolError, "control frame is fragmented"} // §5.5
	errControlTooLong    = &closeError{closeProtocolError, "control frame payload over 125 bytes"}
	errLength64          = &closeError{closeProtocolError, "64-bit payload length has its top bit set"}
)

// readFrameHeader reads one frame header from r into h, field by field as the
// diagram lays it out, and rejects what RFC 6455 §5.2 forbids a client to
// send. It reads exactly the header's bytes with io.ReadFull, however the
// TCP segments cut them: a read is never taken to be a frame. scratch must
// hold maxFrameHeaderLen bytes (it keeps the reading free of allocations).
// rsv1 says that an extension agreed in the handshake gives RSV1 a meaning
// (permessage-deflate, deflate.go); without one every RSV bit must be 0.
func readFrameHeader(r io.Reader, scratch []byte, h *frameHeader, rsv1 bool) error {
	*h = frameHeader{}
	b := scratch[:2] // the article's buffers[0] and buffers[1]
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	h.firstTwo(b[0], b[1])

	// Rules that the first two bytes already decide: fail before reading more.
	switch {
	case h.rsv1 && !rsv1 || h.rsv2 || h.rsv3:
		return errReservedBits
	case h.rsv1 && h.opcode.isControl(): // RSV1 marks a message, on its first frame only
		return errRSV1Control
	case h.rsv1 && h.opcode == opContinuation:
		return errRSV1Continuation
	case h.opcode > opBinary && h.opcode < opClose || h.opcode > opPong:
		return errReservedOpcode
	case !h.mask:
		return errNotMasked
	case h.opcode.isControl() && !h.fin:
		return errFragmentedControl
	case h.opcode.isControl() && h.payloadLen > 125:
		return errControlTooLong
	}

	switch h.payloadLen {
	case 126: // a 16-bit extended length
		b = scratch[2:4]
		if _, err := io.ReadFull(r, b); err != nil {
			return noEOF(err)
		}
		h.length = uint64(binary.BigEndian.Uint16(b))
	case 127: // a 64-bit extended length, whose most significant bit MUST be 0
		b = scratch[2:10]
		if _, err := io.ReadFull(r, b); err != nil {
			return noEOF(err)
		}
		h.length = binary.BigEndian.Uint64(b)
		if h.length>>63 != 0 {
			return errLength64
		}
	default:
		h.length = uint64(h.payloadLen)
	}
	// The RFC asks senders for the shortest length encoding; a longer one from
	// a client is still unambiguous, so we accept it (be liberal in what you accept).

	// The key follows the length: at byte 2 (the article's buffers.slice(2, 6))
	// only for a 7-bit length; at byte 4 after a 16-bit one, at byte 10 after a 64-bit one.
	if _, err := io.ReadFull(r, h.maskingKey[:]); err != nil {
		return noEOF(err)
	}
	return nil
}

// noEOF turns an end of stream inside a frame into io.ErrUnexpectedEOF: only
// between frames is an EOF a (rude) end of the conversation.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// firstTwo sets the fields of the header's first two bytes, the article's
// buffers[0] and buffers[1]: FIN, RSV1-3 and opcode, then MASK and Payload len.
func (h *frameHeader) firstTwo(b0, b1 byte) {
	h.fin = b0&0x80 != 0
	h.rsv1 = b0&0x40 != 0
	h.rsv2 = b0&0x20 != 0
	h.rsv3 = b0&0x10 != 0
	h.opcode = opcode(b0 & 0x0F)
	h.mask = b1&0x80 != 0
	h.payloadLen = b1 & 0x7F
}

// extendedLen is how many bytes of extended payload length follow a
// Payload len (RFC 6455 §5.2): 2 after 126, 8 after 127, none otherwise.
var extendedLen = [128]int{126: 2, 127: 8}

// decodeFrameHeader reads the frame header at the start of b, a client's
// or a server's, into h, laid out as readFrameHeader reads it, but
// checking nothing: it is for bytes already read or written (a frame
// buffered whole, the server's own frame). headerLen is the header's
// length, with the masking key if MASK is set; ok false: b is too short to
// hold the whole header, and headerLen is the length it will have (0 while
// b holds less than the first two bytes, which say it).
func decodeFrameHeader(b []byte, h *frameHeader) (headerLen int, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	*h = frameHeader{}
	h.firstTwo(b[0], b[1])
	headerLen = 2 + extendedLen[h.payloadLen]
	if h.mask {
		headerLen += 4
	}
	if len(b) < headerLen {
		return headerLen, false
	}
	switch h.payloadLen {
	case 126:
		h.length = uint64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		h.length = binary.BigEndian.Uint64(b[2:])
	default:
		h.length = uint64(h.payloadLen)
	}
	if h.mask {
		copy(h.maskingKey[:], b[headerLen-4:])
	}
	return headerLen, true
}

// opcodeOf is the opcode of the frame that starts p.
func opcodeOf(p []byte) opcode { return opcode(p[0] & 0x0F) }

// serverHeaderLen is the length of the header of a server frame (no
// masking key) with an n-byte payload, using the shortest length encoding,
// which RFC 6455 §5.2 requires and Chromium enforces.
func serverHeaderLen(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	}
	return 10
}

// putServerHeader writes the header of an unfragmented, unmasked server frame
// (FIN=1, RSV=0, MASK=0, RFC 6455 §5.1) for op and an n-byte payload at the
// start of dst, which must have serverHeaderLen(n) bytes, and returns that
// length. It is the article's response[0] and response[1], with the
// server's own length: the extended 16- or 64-bit one past 125 bytes.
func putServerHeader(dst []byte, op opcode, n int) int {
	dst[0] = 0x80 | byte(op)
	switch {
	case n <= 125:
		dst[1] = byte(n)
		return 2
	case n <= 0xFFFF:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:4], uint16(n))
		return 4
	}
	dst[1] = 127
	binary.BigEndian.PutUint64(dst[2:10], uint64(n))
	return 10
}

// maskBytesSimple is the article's 3.4.2 maskOrUnmask, b[i] ^= key[i % 4],
// the same operation to mask and to unmask. One thing is added: pos, the
// offset of b[0] in the frame's payload, because a payload is unmasked piece
// by piece as its bytes arrive, and each piece must pick up the key where
// the last one left it. It returns the offset after b. The server calls
// maskBytes (mask.go), which does the same a word at a time and is tested
// against this loop.
func maskBytesSimple(key [4]byte, pos int, b []byte) int {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
	return pos + len(b)
}
