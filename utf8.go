package main

// utf8.go checks a text message as its bytes arrive (RFC 6455 §8.1: a text
// message that is not UTF-8 fails the connection with 1007). It buys
// failing fast: invalid bytes are answered when they arrive, not when the
// rest of a large message does. The plain code it stands in for is one
// utf8.Valid(message) at the end of the message.

import "unicode/utf8"

// checkUTF8 checks the text message's new bytes. A character cut off at
// the end may still be completed by the next bytes, so it is left for the
// next call, provided it can still become valid: utf8.FullRune says a
// started sequence is incomplete only while every byte so far fits it
// (RFC 3629 §4), so overlong forms, surrogates and code points past
// U+10FFFF are caught by utf8.Valid as soon as their second byte arrives.
func (c *wsConn) checkUTF8() bool {
	p := c.msg[msgHeadroom:]
	cut := len(p) - incompleteUTF8Tail(p)
	if !utf8.Valid(p[c.checked:cut]) {
		return false
	}
	c.checked = cut
	return true
}

// incompleteUTF8Tail is the length of the sequence at the end of p that is
// started, not finished, and can still be finished (0 to 3 bytes).
func incompleteUTF8Tail(p []byte) int {
	if len(p) == 0 || p[len(p)-1] < utf8.RuneSelf {
		return 0 // ends in ASCII, as most text does: nothing is left open
	}
	for i := 1; i <= utf8.UTFMax-1 && i <= len(p); i++ {
		if utf8.RuneStart(p[len(p)-i]) {
			if utf8.FullRune(p[len(p)-i:]) {
				return 0
			}
			return i
		}
	}
	return 0
}
