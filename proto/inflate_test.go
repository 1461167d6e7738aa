package proto

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestInflateRunAcrossCodes: a dynamic block whose code-length repeat (16)
// runs from the literal/length lengths into the distance lengths, which RFC
// 1951 allows and this package's encoder writes (it run-length codes the two
// as one sequence) but C zlib never does. readCodes counts each code's
// lengths as it reads them, so the run's part in each code must be counted
// there: both codes are complete only if it is.
func TestInflateRunAcrossCodes(t *testing.T) {
	// Literal/length code: 'a', 'b', 255 and end of block, two bits each;
	// distance code: symbols 0-3, two bits each. The lengths are sent as
	// 97 zeros, 2, 2, 156 zeros, 2, then "repeat 2 five times": lengths 256
	// (end of block) to 260 (distances 0-3).
	var buf [64]byte
	w := bitWriter{out: buf[:], pos: 2}
	buf[0], buf[1] = 0x78, 0x01
	w.putBits(1, 1)              // BFINAL
	w.putBits(2, 2)              // dynamic
	w.putBits(0|3<<5|12<<10, 14) // HLIT 257, HDIST 4, HCLEN 16
	// Code length code: 2 has one bit (code 0), 16 and 18 two (10, 11).
	clen := map[int]uint64{16: 2, 18: 2, 2: 1}
	for _, sym := range clenOrder[:16] {
		w.putBits(clen[int(sym)], 3)
	}
	const c2, c16, c18 = 0, 1, 3 // bit-reversed codes
	w.putBits(c18|(97-11)<<2, 9)
	w.putBits(c2, 1)
	w.putBits(c2, 1)
	w.putBits(c18|(138-11)<<2, 9)
	w.putBits(c18|(18-11)<<2, 9)
	w.putBits(c2, 1)
	w.putBits(c16|(5-3)<<2, 4)
	// Data: 'a' (code 00), 'b' (01), end of block (11), bit-reversed.
	w.putBits(0, 2)
	w.putBits(2, 2)
	w.putBits(3, 2)
	for ; w.n > 0; w.n -= min(w.n, 8) {
		w.out[w.pos] = byte(w.bits)
		w.pos++
		w.bits >>= 8
	}
	z := binary.BigEndian.AppendUint32(buf[:w.pos], adler32Sum([]byte("ab")))

	ref, ok := codecSlowInflate(z)
	if !ok || string(ref) != "ab" {
		t.Fatalf("compress/zlib: %q, %v: the test's stream is wrong", ref, ok)
	}
	var f inflater
	out := make([]byte, 16)
	n, err := f.inflate(out, z)
	if err != nil || !bytes.Equal(out[:n], ref) {
		t.Fatalf("inflate = %q, %v; want %q", out[:n], err, ref)
	}
	if f.dist.count[2] != 4 || f.lit.count[2] != 4 {
		t.Errorf("codes of two bits: literal/length %d, distance %d; want 4 and 4", f.lit.count[2], f.dist.count[2])
	}
}
