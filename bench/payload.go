package bench

import "encoding/binary"

// Payload layout (little endian):
//
//	0      magic: 0xEB random fill, 0xEC sparse fill (never 0x00, so no
//	       protocol opcode escape is involved)
//	1      stream 0..3
//	2..3   total length in bytes
//	4..7   session index
//	8..11  sequence number within (session, stream)
//	12..   fill: splitmix64 stream seeded from bytes 0..11; sparse keeps
//	       only the bytes of sparseMask of each 8-byte word
//
// The magic names the fill, so an echo is checked without knowing the run's
// options.
const (
	payloadMagic  = 0xEB
	sparseMagic   = 0xEC
	headerSize    = 12
	MinPayload    = headerSize
	MaxPayload    = 65535
	maxStreams    = 4
	fillSeedSalt  = 0x9E3779B97F4A7C15
	splitmixGamma = 0x9E3779B97F4A7C15
	// sparseMask keeps 2 of 8 bytes: what game state looks like to deflate
	// (small integers in 32-bit fields), so compressed
	// encodings do real work. Its ratio is measured in bench/RESULTS.md.
	sparseMask = 0x0000_00FF_0000_00FF
)

// Fill is what a payload carries after its header.
type Fill uint8

const (
	// FillRandom is incompressible: every compressed packet goes out raw
	// (the 0xa5 fallback), so it measures the compressor's attempt.
	FillRandom Fill = iota
	// FillSparse deflates to about half (see sparseMask): it measures
	// compression doing its job.
	FillSparse
)

// ParseFill reads a -fill flag value.
func ParseFill(s string) (Fill, bool) {
	switch s {
	case "random", "":
		return FillRandom, true
	case "sparse":
		return FillSparse, true
	}
	return 0, false
}

func (f Fill) String() string {
	if f == FillSparse {
		return "sparse"
	}
	return "random"
}

func (f Fill) magic() byte {
	if f == FillSparse {
		return sparseMagic
	}
	return payloadMagic
}

// mask is what the fill keeps of each splitmix word.
func (f Fill) mask() uint64 {
	if f == FillSparse {
		return sparseMask
	}
	return ^uint64(0)
}

type header struct {
	fill    Fill
	stream  int
	length  int
	session uint32
	seq     uint32
}

// fillSeed derives the fill generator's state from the header fields.
func fillSeed(session uint32, stream int, seq uint32, length int) uint64 {
	return (uint64(session)<<32 | uint64(seq)) ^ (uint64(stream)<<16|uint64(length))*fillSeedSalt
}

func splitmix(x *uint64) uint64 {
	*x += splitmixGamma
	z := *x
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// buildPayload writes the payload for (session, stream, seq) of length n
// into b[:n]; b must be at least n long and n in [MinPayload, MaxPayload].
func buildPayload(b []byte, fill Fill, session uint32, stream int, seq uint32, n int) []byte {
	b = b[:n]
	b[0] = fill.magic()
	b[1] = byte(stream)
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], session)
	binary.LittleEndian.PutUint32(b[8:], seq)
	st := fillSeed(session, stream, seq, n)
	mask := fill.mask()
	i := headerSize
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], splitmix(&st)&mask)
	}
	if i < n {
		v := splitmix(&st) & mask
		for ; i < n; i++ {
			b[i] = byte(v)
			v >>= 8
		}
	}
	return b
}

// parseHeader reads the header of an echo; false when it cannot be one of
// ours (too short, wrong magic, stream out of range, length mismatch).
func parseHeader(b []byte) (header, bool) {
	if len(b) < headerSize || (b[0] != payloadMagic && b[0] != sparseMagic) || b[1] >= maxStreams {
		return header{}, false
	}
	h := header{
		fill:    FillRandom,
		stream:  int(b[1]),
		length:  int(binary.LittleEndian.Uint16(b[2:])),
		session: binary.LittleEndian.Uint32(b[4:]),
		seq:     binary.LittleEndian.Uint32(b[8:]),
	}
	if b[0] == sparseMagic {
		h.fill = FillSparse
	}
	if h.length != len(b) {
		return header{}, false
	}
	return h, true
}

// fillOK reports whether b's fill matches what its header implies.
func fillOK(b []byte, h header) bool {
	st := fillSeed(h.session, h.stream, h.seq, h.length)
	mask := h.fill.mask()
	n := len(b)
	i := headerSize
	for ; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(b[i:]) != splitmix(&st)&mask {
			return false
		}
	}
	if i < n {
		v := splitmix(&st) & mask
		for ; i < n; i++ {
			if b[i] != byte(v) {
				return false
			}
			v >>= 8
		}
	}
	return true
}
