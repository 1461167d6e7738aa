package proto

import "encoding/binary"

const (
	adlerMod = 65521
	// adlerNMax is the most bytes that can be summed before s2 must be
	// reduced (RFC 1950, zlib's NMAX); a multiple of 8.
	adlerNMax = 5552
)

// adler32Sum returns the Adler-32 (RFC 1950) of p. hash/adler32 adds one byte
// at a time through a serial s1 -> s2 chain; this takes eight bytes per step
// with two multiplies (the byte sum and the weighted sum of 16-bit lanes),
// which is most of the checksum's cost on a packet.
func adler32Sum(p []byte) uint32 {
	s1, s2 := uint32(1), uint32(0)
	for len(p) > 0 {
		chunk := p[:min(len(p), adlerNMax)]
		p = p[len(chunk):]
		for len(chunk) >= 8 {
			v := binary.LittleEndian.Uint64(chunk)
			even := v & 0x00ff00ff00ff00ff // bytes 0, 2, 4, 6 in 16-bit lanes
			odd := (v >> 8) & 0x00ff00ff00ff00ff
			// The top lane of a product collects lane i times lane 3-i:
			// sums under 2^16, so no lane carries into the next.
			sum := uint32(((even + odd) * 0x0001000100010001) >> 48)
			w := uint32((even*0x0008000600040002)>>48) + uint32((odd*0x0007000500030001)>>48)
			s2 += 8*s1 + w
			s1 += sum
			chunk = chunk[8:]
		}
		for _, b := range chunk {
			s1 += uint32(b)
			s2 += s1
		}
		s1 %= adlerMod
		s2 %= adlerMod
	}
	return s2<<16 | s1
}
