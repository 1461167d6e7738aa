package proto

import (
	"encoding/binary"
	"math/bits"
)

// The compression pass's encoder (SPEC §8.2, send): one zlib stream (RFC
// 1950) per encoding region, made of a single final deflate block (RFC
// 1951) with the fixed Huffman codes, matched greedily through a hash table
// of 4-byte sequences.
//
// Why its own encoder: regions are one datagram (tens to hundreds of bytes),
// and a general-purpose compressor spends most of its time on what pays only
// for big inputs. Measured with klauspost's stateless deflate on a 200-byte
// game message: building the dynamic Huffman trees (and, on the receive
// side, their decoding tables) was over half the cost, and its 16 KiB match
// table was cleared on every call. Here there is no tree and no clearing:
// the table is never reset, because a candidate is always re-checked against
// the current input (a stale position can only miss or find a real match).
// Fixed codes cost a few bytes on some inputs against C zlib's dynamic
// blocks (TestDeflateRatio measures it), and the encoder gives up as soon as
// its output can no longer save a byte, so an incompressible region (the a5
// fallback) costs a fraction of a full attempt.

const (
	deflateHashBits = 12
	deflateMinMatch = 4
	deflateMaxMatch = 258
	deflateWindow   = 32768
	// zlibOverhead is the zlib header (2) and Adler-32 trailer (4).
	zlibOverhead = 6
)

// deflater holds the match table and the output scratch; reused across
// calls, never cleared.
type deflater struct {
	table [1 << deflateHashBits]int32
	out   []byte
}

// fixedLit[v] is the fixed Huffman code of literal byte v, bit-reversed
// for an LSB-first stream, in the low 24 bits, and its length in the top 8.
// fixedLen[l] is the same for match length l (3..258): the length code with
// its extra bits appended.
var fixedLit, fixedLen = buildFixedCodes()

func buildFixedCodes() (lit [256]uint32, length [deflateMaxMatch + 1]uint32) {
	code := func(sym int) (uint32, uint) { // RFC 1951 §3.2.6
		switch {
		case sym < 144:
			return uint32(0x30 + sym), 8
		case sym < 256:
			return uint32(0x190 + sym - 144), 9
		case sym < 280:
			return uint32(sym - 256), 7
		default:
			return uint32(0xc0 + sym - 280), 8
		}
	}
	pack := func(c uint32, n uint) uint32 {
		return uint32(bits.Reverse16(uint16(c))>>(16-n)) | uint32(n)<<24
	}
	for v := range 256 {
		lit[v] = pack(code(v))
	}
	for l := 3; l <= deflateMaxMatch; l++ {
		sym, extra, nextra := lengthSymbol(l)
		c, n := code(sym)
		e := pack(c, n)
		length[l] = (e & 0xffffff) | extra<<n | (uint32(n)+nextra)<<24
	}
	return lit, length
}

// lengthSymbol returns the length code of match length l (3..258) with its
// extra bits and their count (RFC 1951 §3.2.5).
func lengthSymbol(l int) (sym int, extra, nextra uint32) {
	if l == deflateMaxMatch {
		return 285, 0, 0
	}
	for i := len(lengthBase) - 2; i >= 0; i-- {
		if l >= int(lengthBase[i]) {
			return 257 + i, uint32(l - int(lengthBase[i])), uint32(lengthExtra[i])
		}
	}
	panic("unreachable")
}

// distCode returns the fixed code of distance d (1..32768) with its extra
// bits, packed like fixedLit.
func distCode(d int) uint32 {
	d--
	if d < 4 {
		return uint32(bits.Reverse8(uint8(d))>>3) | 5<<24
	}
	l := bits.Len32(uint32(d))
	sym := 2*(l-1) + (d>>(l-2))&1
	nextra := l - 2
	extra := uint32(d) & (1<<nextra - 1)
	return uint32(bits.Reverse8(uint8(sym))>>3) | extra<<5 | uint32(5+nextra)<<24
}

// bitWriter packs codes LSB-first into out, four bytes at a time.
type bitWriter struct {
	out  []byte
	pos  int
	bits uint64
	n    uint
}

func (w *bitWriter) put(e uint32) { w.putBits(uint64(e&0xffffff), uint(e>>24)) }

// putBits appends the low n bits of v; n <= 32.
func (w *bitWriter) putBits(v uint64, n uint) {
	w.bits |= v << w.n
	w.n += n
	if w.n >= 32 {
		binary.LittleEndian.PutUint32(w.out[w.pos:], uint32(w.bits))
		w.pos += 4
		w.bits >>= 32
		w.n -= 32
	}
}

// deflate returns region as a zlib stream in d.out, or nil when that stream
// would not be shorter than region by at least one byte (SPEC §8.2 step 1:
// 1 + len(D) <= n), in which case the caller sends the region raw.
func (d *deflater) deflate(region []byte) []byte {
	n := len(region)
	budget := n - 1 - zlibOverhead // deflate bytes that still save one
	if budget <= 0 {
		return nil
	}
	// Room for the worst case past the budget checks below: a literal run
	// that passed its check at one byte per literal costs up to 9 bits each.
	if size := n + n/8 + 32; cap(d.out) < size {
		d.out = make([]byte, size)
	}
	w := bitWriter{out: d.out[:cap(d.out)], pos: 2}
	w.out[0], w.out[1] = 0x78, 0x01 // CM 8, 32 KiB window, FLEVEL 0 as C zlib writes for level 1
	limit := budget + 2
	w.put(3 | 3<<24) // BFINAL 1, BTYPE 01 (fixed codes)

	src := region
	s, emit := 0, 0
	for s+deflateMinMatch <= n {
		cv := binary.LittleEndian.Uint32(src[s:])
		h := (cv * 0x1e35a7bd) >> (32 - deflateHashBits)
		cand := int(d.table[h])
		d.table[h] = int32(s)
		if cand >= s || s-cand > deflateWindow || binary.LittleEndian.Uint32(src[cand:]) != cv {
			// No match: step faster the longer the run of literals, so
			// incompressible input is scanned, not searched.
			s += 1 + (s-emit)>>5
			continue
		}
		// Every literal costs at least a byte: stop before writing them
		// when they alone leave nothing to save.
		if w.pos+(s-emit) > limit {
			return nil
		}
		l := deflateMinMatch + matchLen(src[s+deflateMinMatch:min(n, s+deflateMaxMatch)], src[cand+deflateMinMatch:])
		for _, v := range src[emit:s] {
			w.put(fixedLit[v])
		}
		e, dc := fixedLen[l], distCode(s-cand)
		w.putBits(uint64(e&0xffffff)|uint64(dc&0xffffff)<<(e>>24), uint(e>>24+dc>>24))
		if w.pos > limit {
			return nil
		}
		s += l
		emit = s
		if s+deflateMinMatch <= n {
			// Index the match's last position too: runs and repeated
			// records then chain into each other.
			p := s - 1
			d.table[(binary.LittleEndian.Uint32(src[p:])*0x1e35a7bd)>>(32-deflateHashBits)] = int32(p)
		}
	}
	if w.pos+(n-emit) > limit {
		return nil // what is left is literals, a byte or more each
	}
	for _, v := range src[emit:] {
		w.put(fixedLit[v])
	}
	w.put(7 << 24) // end of block: 256 is seven 0 bits
	for ; w.n > 0; w.n -= min(w.n, 8) {
		w.out[w.pos] = byte(w.bits)
		w.pos++
		w.bits >>= 8
	}
	if w.pos > limit {
		return nil
	}
	out := binary.BigEndian.AppendUint32(w.out[:w.pos], adler32Sum(region))
	return out
}

// matchLen returns how many leading bytes of a equal those of b; b is at
// least as long as a.
func matchLen(a, b []byte) int {
	n := 0
	for len(a)-n >= 8 {
		if x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:]); x != 0 {
			return n + bits.TrailingZeros64(x)>>3
		}
		n += 8
	}
	for n < len(a) && a[n] == b[n] {
		n++
	}
	return n
}
