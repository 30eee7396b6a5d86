package main

import (
	"encoding/binary"
	"testing"
)

// TestHeldMessage: a held message is all its bytes, in fragments of at
// most holdPiece, binary first and continuations after, masked, and never
// a FIN.
func TestHeldMessage(t *testing.T) {
	for _, size := range []int{100, holdPiece, 3_000_000, 3 * holdPiece} {
		var ops []byte
		total := 0
		newHeldMessage(size).send(func(f []byte) error {
			n := int(f[1] & 0x7F)
			head := 2
			switch n {
			case 126:
				n, head = int(binary.BigEndian.Uint16(f[2:])), 4
			case 127:
				n, head = int(binary.BigEndian.Uint64(f[2:])), 10
			}
			if f[0]&0x80 != 0 || f[1]&0x80 == 0 || n > holdPiece || len(f) != head+4+n {
				t.Fatalf("size %d: fragment % x... of %d bytes", size, f[:head], len(f))
			}
			ops, total = append(ops, f[0]&0x0F), total+n
			return nil
		})
		if total != size || ops[0] != 0x2 || len(ops) != (size+holdPiece-1)/holdPiece {
			t.Fatalf("size %d: %d bytes in %d fragments, opcodes % x", size, total, len(ops), ops)
		}
		for _, op := range ops[1:] {
			if op != 0x0 {
				t.Fatalf("size %d: opcodes % x", size, ops)
			}
		}
	}
}
