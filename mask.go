package main

// mask.go unmasks a word at a time. It buys speed: every byte a client
// sends is unmasked, and the article's byte loop runs at a small fraction
// of memory bandwidth. The plain code it stands in for is that loop,
// maskBytesSimple in frame.go, which it is tested against (BENCH.md:
// BenchmarkMask against BenchmarkMaskSimple and BenchmarkCopy).

import "encoding/binary"

// maskBytes does what maskBytesSimple does: XOR with the key, starting at
// pos in the payload, returning the offset after b. The key, turned to
// start at pos and repeated twice, is one 64-bit word, and XOR works on a
// whole word as it does on each byte. The loop does 128 bytes a turn,
// indexing a slice c whose length the compiler knows, so that each of the
// sixteen lines compiles to one XOR into memory, with no bounds check.
// copy() is still faster: it uses vector moves, which plain Go cannot.
func maskBytes(key [4]byte, pos int, b []byte) int {
	end := pos + len(b)
	if len(b) >= 16 {
		k := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
		k32 := uint64(binary.LittleEndian.Uint32(k[:]))
		kw := k32 | k32<<32
		i := 0
		for ; i+128 <= len(b); i += 128 {
			c := b[i : i+128 : i+128]
			binary.LittleEndian.PutUint64(c[0:], binary.LittleEndian.Uint64(c[0:])^kw)
			binary.LittleEndian.PutUint64(c[8:], binary.LittleEndian.Uint64(c[8:])^kw)
			binary.LittleEndian.PutUint64(c[16:], binary.LittleEndian.Uint64(c[16:])^kw)
			binary.LittleEndian.PutUint64(c[24:], binary.LittleEndian.Uint64(c[24:])^kw)
			binary.LittleEndian.PutUint64(c[32:], binary.LittleEndian.Uint64(c[32:])^kw)
			binary.LittleEndian.PutUint64(c[40:], binary.LittleEndian.Uint64(c[40:])^kw)
			binary.LittleEndian.PutUint64(c[48:], binary.LittleEndian.Uint64(c[48:])^kw)
			binary.LittleEndian.PutUint64(c[56:], binary.LittleEndian.Uint64(c[56:])^kw)
			binary.LittleEndian.PutUint64(c[64:], binary.LittleEndian.Uint64(c[64:])^kw)
			binary.LittleEndian.PutUint64(c[72:], binary.LittleEndian.Uint64(c[72:])^kw)
			binary.LittleEndian.PutUint64(c[80:], binary.LittleEndian.Uint64(c[80:])^kw)
			binary.LittleEndian.PutUint64(c[88:], binary.LittleEndian.Uint64(c[88:])^kw)
			binary.LittleEndian.PutUint64(c[96:], binary.LittleEndian.Uint64(c[96:])^kw)
			binary.LittleEndian.PutUint64(c[104:], binary.LittleEndian.Uint64(c[104:])^kw)
			binary.LittleEndian.PutUint64(c[112:], binary.LittleEndian.Uint64(c[112:])^kw)
			binary.LittleEndian.PutUint64(c[120:], binary.LittleEndian.Uint64(c[120:])^kw)
		}
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^kw)
		}
		b = b[i:]
		pos = end - len(b) // whole words keep the key's phase: pos&3 is unchanged
	}
	maskBytesSimple(key, pos, b)
	return end
}
