package wstest

// frame.go: the frame codec of a client, RFC 6455 §5. A client masks what
// it sends (§5.3) and reads what a server sends, which is never masked
// (§5.1); the reader checks each header against the rules of §5.1, §5.2
// and §5.5 for a server's frame.

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes, RFC 6455 §5.2. The others are reserved (§11.8).
const (
	OpContinuation byte = 0x0 // continues a fragmented message (§5.4)
	OpText         byte = 0x1 // a text message, UTF-8 (§5.6)
	OpBinary       byte = 0x2 // a binary message (§5.6)
	OpClose        byte = 0x8 // the closing handshake (§5.5.1)
	OpPing         byte = 0x9 // answered with a pong (§5.5.2)
	OpPong         byte = 0xA // the answer to a ping (§5.5.3)
)

// RSV1 is the first reserved bit, as it sits in a frame's first byte:
// permessage-deflate's "this message is compressed" (RFC 7692 §6).
const RSV1 byte = 0x40

// Key is the masking key of RFC 6455 §5.7's examples: a fixed key, for
// tests that compare a frame's bytes. Every other frame should get a key
// of its own from NewMaskKey, as §5.3 asks.
var Key = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// NewMaskKey is a masking key from crypto/rand: §5.3 asks that a server
// cannot predict it.
func NewMaskKey() [4]byte {
	var k [4]byte
	rand.Read(k[:])
	return k
}

// Frame is one frame: what a client sends, or, with the sending options
// left zero, what ReadFrame read from a server.
type Frame struct {
	Fin     bool
	RSV     byte // RSV1..3 as the bits 0x40, 0x20, 0x10 of the first byte
	Opcode  byte
	Payload []byte

	// Ways to break the rules when sending, to see how a server answers.
	NoMask  bool   // send it unmasked (a client must mask, §5.1)
	LenForm int    // the length's form: 7, 16 or 64 bits (0: the shortest, as §5.2 asks)
	Declare uint64 // announce this length instead of len(Payload) (0: len(Payload))
}

// Append lays out f as a client sends it (§5.2), masked with key (§5.3)
// unless f.NoMask, and appends it to dst.
func (f Frame) Append(dst []byte, key [4]byte) []byte {
	b0 := f.Opcode | f.RSV
	if f.Fin {
		b0 |= 0x80
	}
	maskBit := byte(0x80)
	if f.NoMask {
		maskBit = 0
	}
	n := uint64(len(f.Payload))
	if f.Declare != 0 {
		n = f.Declare
	}
	dst = append(dst, b0)
	switch f.lenForm(n) {
	case 7:
		dst = append(dst, maskBit|byte(n))
	case 16:
		dst = binary.BigEndian.AppendUint16(append(dst, maskBit|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, maskBit|127), n)
	}
	if f.NoMask {
		return append(dst, f.Payload...)
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	for i := range f.Payload { // §5.3: octet i is XORed with octet i mod 4 of the key
		dst[start+i] ^= key[i%4]
	}
	return dst
}

// lenForm is f.LenForm, or the shortest form that holds n (§5.2).
func (f Frame) lenForm(n uint64) int {
	switch {
	case f.LenForm != 0:
		return f.LenForm
	case n <= 125:
		return 7
	case n <= 0xFFFF:
		return 16
	}
	return 64
}

// MaxHeaderLen is the longest header a server sends: two bytes and a
// 64-bit length, with no masking key (§5.1).
const MaxHeaderLen = 2 + 8

// Header is a server frame's header (§5.2).
type Header struct {
	Fin    bool
	RSV    byte // as in Frame
	Opcode byte
	Length uint64 // the payload's length
}

// IsControl says whether the frame is a control frame (§5.5): its
// opcode's top bit is set.
func (h Header) IsControl() bool { return h.Opcode&0x8 != 0 }

// ReadHeader reads a server frame's header from r into scratch, which a
// caller that reads many frames keeps (in a struct of its own, say), so
// that reading a header allocates nothing. It checks the header against
// what §5 asks of every frame a server sends: not masked (§5.1); no
// reserved bit set (§5.2), but RSV1 on the first frame of a data message
// when allowRSV1 says that permessage-deflate was agreed (RFC 7692 §6); no
// reserved opcode (§5.2); the length in its shortest form, and a 64-bit
// one with its top bit clear (§5.2); a control frame unfragmented and at
// most 125 bytes (§5.5). The payload is left in r. It returns io.EOF only
// when r ends before the frame's first byte, io.ErrUnexpectedEOF when it
// ends inside the header.
func ReadHeader(r io.Reader, scratch *[MaxHeaderLen]byte, allowRSV1 bool) (Header, error) {
	b := scratch[:]
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return Header{}, err
	}
	h := Header{Fin: b[0]&0x80 != 0, RSV: b[0] & 0x70, Opcode: b[0] & 0x0F, Length: uint64(b[1] & 0x7F)}
	if err := h.check(b[1]&0x80 != 0, allowRSV1); err != nil {
		return Header{}, err
	}
	switch h.Length {
	case 126:
		if err := ReadPayload(r, b[2:4]); err != nil {
			return Header{}, err
		}
		if h.Length = uint64(binary.BigEndian.Uint16(b[2:4])); h.Length <= 125 {
			return Header{}, fmt.Errorf("length %d in 16 bits: not the shortest form (§5.2)", h.Length)
		}
	case 127:
		if err := ReadPayload(r, b[2:10]); err != nil {
			return Header{}, err
		}
		switch h.Length = binary.BigEndian.Uint64(b[2:10]); {
		case h.Length>>63 != 0:
			return Header{}, errors.New("64-bit length with its top bit set (§5.2)")
		case h.Length <= 0xFFFF:
			return Header{}, fmt.Errorf("length %d in 64 bits: not the shortest form (§5.2)", h.Length)
		}
	}
	if h.IsControl() && h.Length > 125 {
		return Header{}, fmt.Errorf("control frame %#x of %d bytes: at most 125 (§5.5)", h.Opcode, h.Length)
	}
	return h, nil
}

// check holds the rules of the first two bytes, with masked the MASK bit.
func (h Header) check(masked, allowRSV1 bool) error {
	switch {
	case masked:
		return errors.New("server frame is masked (§5.1)")
	case h.RSV != 0 && !(allowRSV1 && h.RSV == RSV1 && (h.Opcode == OpText || h.Opcode == OpBinary)):
		return fmt.Errorf("server frame %#x has reserved bits %#x set (§5.2)", h.Opcode, h.RSV)
	case h.Opcode > OpBinary && h.Opcode < OpClose || h.Opcode > OpPong:
		return fmt.Errorf("reserved opcode %#x (§5.2)", h.Opcode)
	case h.IsControl() && !h.Fin:
		return fmt.Errorf("fragmented control frame %#x (§5.5)", h.Opcode)
	}
	return nil
}

// ReadPayload fills p from r with the rest of a frame whose start was
// read, its payload after ReadHeader, say: an end of r here cuts the frame
// short, io.ErrUnexpectedEOF.
func ReadPayload(r io.Reader, p []byte) error {
	_, err := io.ReadFull(r, p)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// maxReadFrame bounds the payload ReadFrame allocates at once, so that a
// wrong length from a broken server fails instead of exhausting memory.
const maxReadFrame = 1 << 30

// ReadFrame reads a server's frame whole: its header, checked as
// ReadHeader does, and its payload. A frame cut short is
// io.ErrUnexpectedEOF; on any error the Frame is empty.
func ReadFrame(r io.Reader, allowRSV1 bool) (Frame, error) {
	var scratch [MaxHeaderLen]byte
	h, err := ReadHeader(r, &scratch, allowRSV1)
	if err != nil {
		return Frame{}, err
	}
	if h.Length > maxReadFrame {
		return Frame{}, fmt.Errorf("frame of %d bytes: more than this client reads whole", h.Length)
	}
	p := make([]byte, h.Length)
	if err := ReadPayload(r, p); err != nil {
		return Frame{}, err
	}
	return Frame{Fin: h.Fin, RSV: h.RSV, Opcode: h.Opcode, Payload: p}, nil
}

// CloseCode is the status code in a Close frame's payload (§5.5.1), or
// 1005, the code that stands for none (§7.1.5), when it has none.
func CloseCode(payload []byte) uint16 {
	if len(payload) < 2 {
		return 1005
	}
	return binary.BigEndian.Uint16(payload)
}
