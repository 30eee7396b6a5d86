package main

// tracedraw.go is how -trace (trace.go) lays bytes out: a request's lines
// with their line ends shown, a frame header's bits under the article's
// 3.4.1 diagram, and a payload's first bytes, in hex and, when they are
// text, as text.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// quoteLines writes each line of p after "    | ", with its line end shown.
func quoteLines(b *bytes.Buffer, p []byte) {
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, []byte("\n"))
		p = rest
		fmt.Fprintf(b, "    | %s\\n\n", strings.ReplaceAll(string(line), "\r", `\r`))
	}
}

// diagram draws a header's first two bytes under the article's 3.4.1
// boxes (the boxes once per connection, the bits for every frame), then
// names each field and the extended length.
func (t *tracer) diagram(h *frameHeader) {
	if !t.drawn {
		t.drawn = true
		fmt.Fprintf(&t.b, "    the article's 3.4.1 diagram, first two bytes (drawn once; each frame shows its bits below it):\n")
		fmt.Fprintf(&t.b, "     0                   1\n")
		fmt.Fprintf(&t.b, "     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5\n")
		fmt.Fprintf(&t.b, "    +-+-+-+-+-------+-+-------------+\n")
		fmt.Fprintf(&t.b, "    |F|R|R|R| opcode|M| Payload len |\n")
		fmt.Fprintf(&t.b, "    |I|S|S|S|  (4)  |A|     (7)     |\n")
		fmt.Fprintf(&t.b, "    |N|V|V|V|       |S|             |\n")
		fmt.Fprintf(&t.b, "    | |1|2|3|       |K|             |\n")
		fmt.Fprintf(&t.b, "    +-+-+-+-+-------+-+-------------+\n")
	}
	bit := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	fin, r1, r2, r3, m := bit(h.fin), bit(h.rsv1), bit(h.rsv2), bit(h.rsv3), bit(h.mask)
	fmt.Fprintf(&t.b, "    |%d|%d|%d|%d|%s|%d|%s|\n", fin, r1, r2, r3,
		spacedBits(uint64(h.opcode), 4), m, spacedBits(uint64(h.payloadLen), 7))
	fmt.Fprintf(&t.b, "    FIN=%d RSV1=%d RSV2=%d RSV3=%d opcode=0x%X (%s) MASK=%d Payload len=%d\n",
		fin, r1, r2, r3, byte(h.opcode), h.opcode, m, h.payloadLen)
	switch h.payloadLen {
	case 126:
		fmt.Fprintf(&t.b, "    Extended payload length (16 bits): %d\n", h.length)
	case 127:
		fmt.Fprintf(&t.b, "    Extended payload length (64 bits): %d\n", h.length)
	default:
		fmt.Fprintf(&t.b, "    Extended payload length: none (Payload len is the length)\n")
	}
}

// spacedBits writes the low n bits of v as "0 0 0 1".
func spacedBits(v uint64, n int) string {
	s := make([]string, n)
	for i := range n {
		s[i] = fmt.Sprint(v >> (n - 1 - i) & 1)
	}
	return strings.Join(s, " ")
}

// hexPreview is the first bytes in hex, with "..." when the payload is longer.
func hexPreview(p []byte, total uint64) string {
	s := fmt.Sprintf("% x", p)
	if uint64(len(p)) < total {
		s += " ..."
	}
	if s == "" {
		s = "(empty)"
	}
	return s
}

// previewBytes is hexPreview, followed by the text as a Go string literal
// (a line end shows as \n, Chinese as it is) when the bytes are text: a
// text frame's payload, or a close reason after its code, when it is
// valid UTF-8, as RFC 6455 §5.6 and §5.5.1 require both to be. A
// continuation, a ping or a pong may carry text or bytes, and the frame
// does not say which: it is shown as text only when it reads as text
// (looksLikeText). A binary frame's payload is bytes: hex only.
func previewBytes(p []byte, total uint64, op opcode) string {
	s := hexPreview(p, total)
	text := p
	if op == opClose && len(p) >= 2 {
		code := closeCode(binary.BigEndian.Uint16(p))
		s += fmt.Sprintf("  code %d (%s)", code, code)
		text = p[2:]
	}
	cut := uint64(len(p)) < total
	if cut {
		text = dropCutRune(text)
	}
	if len(text) == 0 || op == opBinary || !utf8.Valid(text) {
		return s
	}
	if op == opText || op == opClose || looksLikeText(text) {
		s += fmt.Sprintf("  %q", text)
		if cut {
			s += " ..."
		}
	}
	return s
}

// dropCutRune drops the first bytes of a character that a preview cut in
// two; a byte that is wrong whatever follows stays, for utf8.Valid to refuse.
func dropCutRune(text []byte) []byte {
	for i := len(text) - 1; i >= 0 && i >= len(text)-utf8.UTFMax; i-- {
		if utf8.RuneStart(text[i]) {
			if !utf8.FullRune(text[i:]) {
				return text[:i]
			}
			break
		}
	}
	return text
}

// looksLikeText says whether every rune of text (valid UTF-8) is printable
// (unicode.IsPrint: the ASCII space is, other spaces are not) or a tab,
// carriage return or line end.
func looksLikeText(text []byte) bool {
	for _, r := range string(text) {
		if !unicode.IsPrint(r) && r != '\t' && r != '\r' && r != '\n' {
			return false
		}
	}
	return true
}
