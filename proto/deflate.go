package proto

import (
	"encoding/binary"
	"math/bits"
)

// The compression pass's encoder (SPEC §8.2, send): one zlib stream (RFC
// 1950) per encoding region, a single final deflate block (RFC 1951),
// matched greedily through a hash table of 4-byte sequences, with the fixed
// Huffman codes, or from deflateDynamicMin bytes up with a dynamic code
// when that is smaller (deflate_dynamic.go).
//
// Why its own encoder: regions are one datagram (tens to hundreds of bytes),
// and a general-purpose compressor spends most of its time on what pays only
// for big inputs. Measured with klauspost's stateless deflate on a 200-byte
// game message: building the dynamic Huffman trees (and, on the receive
// side, their decoding tables) was over half the cost, and its 16 KiB match
// table was cleared on every call. Here small regions build no tree, and
// the table is never cleared, because a candidate is always re-checked
// against the current input (a stale position can only miss or find a real
// match). The output is within 1 % of C zlib level 1 on datagram-sized
// regions (TestDeflateRatio, TestDeflateInflatesInCZlib), and the encoder
// gives up as soon as its output can no longer save a byte, so an
// incompressible region (the a5 fallback) costs a fraction of an attempt.

const (
	deflateHashBits = 12
	deflateMinMatch = 4
	deflateMaxMatch = 258
	deflateWindow   = 32768
	// deflateDynamicMin is the smallest region for which a dynamic
	// Huffman block is considered: below it the code's own description
	// (some 40-80 bytes) rarely pays, and building it costs more than
	// the rest of the encoder (TestDeflateRatio, BenchmarkEncoding).
	deflateDynamicMin = 384
	// dynamicMinGain: a dynamic code is built when it should save at
	// least 1/dynamicMinGain of the fixed-code block (dynamicWorthBuilding).
	dynamicMinGain = 16
	// zlibOverhead is the zlib header (2) and Adler-32 trailer (4).
	zlibOverhead = 6
)

// deflater holds the match table and the output scratch; reused across
// calls, never cleared.
type deflater struct {
	table [1 << deflateHashBits]uint16 // region positions: regions are under 64 KiB (deflate)
	out   []byte
	level CompressLevel

	tokens    []uint32
	extraBits int // length and distance extra bits of the tokens
	matches   int // match tokens: the distance symbols counted
	litFreq   [286]uint32
	distFreq  [30]uint32
	dyn       dynamicCode
}

// fixedLit[v] is the fixed Huffman code of literal byte v, bit-reversed
// for an LSB-first stream, in the low 24 bits, and its length in the top 8.
// fixedLen[l] is the same for match length l (3..258): the length code with
// its extra bits appended.
var fixedLit, fixedLen = buildFixedCodes()

// lengthIndex[l] is the length code of match length l, less 257.
var lengthIndex = func() (t [deflateMaxMatch + 1]uint8) {
	for l := 3; l <= deflateMaxMatch; l++ {
		sym, _, _ := lengthSymbol(l)
		t[l] = uint8(sym - 257)
	}
	return t
}()

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

// distSymbol returns the distance code (0..29) of distance d (1..32768).
func distSymbol(d int) int {
	d--
	if d < 4 {
		return d
	}
	l := bits.Len32(uint32(d))
	return 2*(l-1) + (d>>(l-2))&1
}

// distCode returns the fixed code of distance d (1..32768) with its extra
// bits, packed like fixedLit. It inlines: the encoders call it per match.
func distCode(d int) uint32 {
	sym := distSymbol(d)
	return fixedDist[sym] | uint32(d-int(distBase[sym]))<<5 // the extra bits fit their count
}

// fixedDist[sym] is distance code sym's fixed code, bit-reversed, with the
// length of code and extra bits in the top 8 (the extra bits themselves
// are distCode's).
var fixedDist = func() (t [30]uint32) {
	for sym := range t {
		t[sym] = uint32(bits.Reverse8(uint8(sym))>>3) | (5+uint32(distExtra[sym]))<<24
	}
	return t
}()

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
	w.pos, w.bits, w.n = flush32(w.out, w.pos, w.bits|v<<w.n, w.n+n)
}

// flush32 writes the low 32 bits of acc at out[pos:] once it holds nb >= 32
// of them, returning the writer's new state. The loops of writeFixed and
// writeDynamic keep that state in locals and call it after every code.
func flush32(out []byte, pos int, acc uint64, nb uint) (int, uint64, uint) {
	if nb >= 32 {
		binary.LittleEndian.PutUint32(out[pos:], uint32(acc))
		return pos + 4, acc >> 32, nb - 32
	}
	return pos, acc, nb
}

// deflate returns region as a zlib stream in d.out, or nil when that stream
// would not be shorter than region by at least one byte (SPEC §8.2 step 1:
// 1 + len(D) <= n), in which case the caller sends the region raw.
func (d *deflater) deflate(region []byte) []byte {
	n := len(region)
	w, ok := d.block(region, n-1-zlibOverhead, deflateWindow, 2, 1) // deflate bytes that still save one
	if !ok {
		return nil
	}
	w.out[0], w.out[1] = 0x78, 0x01 // CM 8, 32 KiB window, FLEVEL 0 as C zlib writes for level 1
	w.byteAlign()
	return binary.BigEndian.AppendUint32(w.out[:w.pos], adler32Sum(region))
}

// appendSync appends region to dst as raw deflate blocks that leave the
// stream open and byte-aligned: one block that is not final, with the
// fixed or a dynamic code as the level decides (stored blocks when that
// would not be shorter than the region), then a sync flush, the empty
// stored block 00 00 ff ff. That is one payload of an
// EQ2 session's deflate stream (SPEC §22.6), which the receiver inflates
// with the stream's earlier output as its window; matches reach back no
// further than window bytes. Regions over 64 KiB are for another encoder.
func (d *deflater) appendSync(dst, region []byte, window int) []byte {
	// Coded only when shorter than the region itself, as in deflate: a
	// block within the stored blocks' 5 bytes of header would save next to
	// nothing, and with that budget incompressible regions stop early.
	if w, ok := d.block(region, len(region)-1, window, 0, 0); ok {
		w.putBits(0, 3) // BFINAL 0, BTYPE 00: the sync flush's empty stored block
		w.byteAlign()
		dst = append(dst, w.out[:w.pos]...)
	} else {
		for len(region) > 0 {
			c := region[:min(len(region), 0xffff)]
			dst = append(dst, 0, byte(len(c)), byte(len(c)>>8), ^byte(len(c)), ^byte(len(c)>>8))
			dst = append(dst, c...)
			region = region[len(c):]
		}
		dst = append(dst, 0) // the sync flush's block header, byte-aligned already
	}
	return append(dst, 0, 0, 0xff, 0xff)
}

// block tokenizes region, with matches at most window bytes back, and
// writes it as one block, after start bytes of d.out, with BFINAL set to
// final: the fixed code, or a dynamic one where the level and the region
// call for it. ok is false when the block would take more than budget
// bytes, or region is over 64 KiB (positions would not fit the match
// table; no datagram is that long).
func (d *deflater) block(region []byte, budget, window, start int, final uint64) (w bitWriter, ok bool) {
	n := len(region)
	if budget <= 0 || n > 1<<16 {
		return w, false
	}
	// Room for the worst case past the budget: literals at 9 bits each.
	if size := start + n + n/8 + 64; cap(d.out) < size {
		d.out = make([]byte, size)
	}
	if n < deflateDynamicMin || d.level == CompressFast {
		return d.fixedBlock(region, budget, window, start, final)
	}
	fixedBits, ok := d.tokenize(region, budget, window)
	if !ok {
		return w, false
	}
	dynBits := fixedBits
	if d.level == CompressSmall || d.dynamicWorthBuilding(fixedBits) {
		dynBits = d.buildDynamic()
	}
	if min(fixedBits, dynBits) > 8*budget {
		return w, false
	}
	w = bitWriter{out: d.out[:cap(d.out)], pos: start}
	if dynBits < fixedBits {
		d.writeDynamic(&w, final)
	} else {
		w = d.writeFixed(w, final)
	}
	if w.pos+int(w.n+7)/8 > budget+start {
		return w, false
	}
	return w, true
}

// byteAlign writes out the bits the writer holds, padding the last byte
// with zeros.
func (w *bitWriter) byteAlign() {
	for ; w.n > 0; w.n -= min(w.n, 8) {
		w.out[w.pos] = byte(w.bits)
		w.pos++
		w.bits >>= 8
	}
}

// writeFixed writes the tokens as a fixed-code block, final or not. The
// writer's state lives in locals through the loop (stores to out could
// alias it in memory).
func (d *deflater) writeFixed(w bitWriter, final uint64) bitWriter {
	out, pos, acc, nb := w.out, w.pos, w.bits, w.n
	acc |= (final | 1<<1) << nb // BFINAL, BTYPE 01 (fixed codes)
	nb += 3
	for _, t := range d.tokens {
		var e uint64
		var l uint
		if t < 256 {
			e, l = fixedLitCode(byte(t))
		} else {
			ml, dist := tokenMatch(t)
			e, l = joinCodes(fixedLen[ml], distCode(dist))
		}
		acc |= e << nb
		nb += l
		pos, acc, nb = flush32(out, pos, acc, nb)
	}
	w.out, w.pos, w.bits, w.n = out, pos, acc, nb
	w.put(7 << 24) // end of block: 256 is seven 0 bits
	return w
}

// fixedLitCode is literal v's fixed code and its length in bits.
func fixedLitCode(v byte) (uint64, uint) {
	c := fixedLit[v]
	return uint64(c & 0xffffff), uint(c >> 24)
}

// joinCodes is code a then code b, both packed like fixedLit, and their
// length in bits: a match's length and distance codes (at most 31 bits).
func joinCodes(a, b uint32) (uint64, uint) {
	return uint64(a&0xffffff) | uint64(b&0xffffff)<<(a>>24), uint(a>>24 + b>>24)
}

// fixedBlock is block for a region that gets the fixed codes whatever it
// holds (under deflateDynamicMin bytes, or at CompressFast): the codes are
// written as the matches are found, with no tokens or symbol counts kept
// for a dynamic code. The bytes are writeFixed's of tokenize's tokens.
func (d *deflater) fixedBlock(src []byte, budget, window, start int, final uint64) (bitWriter, bool) {
	n := len(src)
	out := d.out[:cap(d.out)]
	pos, acc, nb := start, (final | 1<<1), uint(3) // BFINAL, BTYPE 01 (fixed codes)
	limit := 8 * (start + budget)                  // bits the block may end at
	s, emit := 0, 0
	for s+deflateMinMatch <= n {
		cv := binary.LittleEndian.Uint32(src[s:])
		cand := d.probe(src, s, cv, window)
		if cand < 0 {
			s += 1 + (s-emit)>>5 // as in tokenize
			continue
		}
		// Literals take at least 8 bits each.
		if 8*pos+int(nb)+8*(s-emit) > limit {
			return bitWriter{}, false
		}
		for _, v := range src[emit:s] {
			e, l := fixedLitCode(v)
			acc |= e << nb
			nb += l
			pos, acc, nb = flush32(out, pos, acc, nb)
		}
		l := deflateMinMatch + matchLen(src[s+deflateMinMatch:min(n, s+deflateMaxMatch)], src[cand+deflateMinMatch:])
		e, el := joinCodes(fixedLen[l], distCode(s-cand))
		acc |= e << nb
		nb += el
		pos, acc, nb = flush32(out, pos, acc, nb)
		s += l
		emit = s
		d.indexLast(src, s)
	}
	if 8*pos+int(nb)+8*(n-emit)+7 > limit {
		return bitWriter{}, false
	}
	for _, v := range src[emit:] {
		e, l := fixedLitCode(v)
		acc |= e << nb
		nb += l
		pos, acc, nb = flush32(out, pos, acc, nb)
	}
	w := bitWriter{out: out, pos: pos, bits: acc, n: nb}
	w.put(7 << 24) // end of block: 256 is seven 0 bits
	return w, w.pos+int(w.n+7)/8 <= budget+start
}

// probe files position s, whose first four bytes are cv, in the match
// table and returns the position it held when that is an earlier one, at
// most window back, with the same four bytes; -1 otherwise. Stale entries
// from earlier regions fail the comparison.
func (d *deflater) probe(src []byte, s int, cv uint32, window int) int {
	h := (cv * 0x1e35a7bd) >> (32 - deflateHashBits)
	cand := int(d.table[h])
	d.table[h] = uint16(s)
	if cand >= s || s-cand > window || binary.LittleEndian.Uint32(src[cand:]) != cv {
		return -1
	}
	return cand
}

// indexLast files the last position of a match ending at s, so runs and
// repeated records chain into each other.
func (d *deflater) indexLast(src []byte, s int) {
	if s+deflateMinMatch <= len(src) {
		p := s - 1
		d.table[(binary.LittleEndian.Uint32(src[p:])*0x1e35a7bd)>>(32-deflateHashBits)] = uint16(p)
	}
}

// A token is a literal byte (< 256) or a match: tokenFlag | (length-3)<<15
// | (distance-1).
const tokenFlag = 1 << 31

func tokenMatch(t uint32) (length, dist int) {
	return int(t>>15&0x1ff) + 3, int(t&0x7fff) + 1
}

// tokenize matches region greedily, no further than window bytes back,
// into d.tokens and counts the symbols in d.litFreq and d.distFreq, for a
// region that may get a dynamic code (the others go to fixedBlock); it
// returns the block's cost in bits with the fixed codes, or false when no
// block can save a byte.
func (d *deflater) tokenize(src []byte, budget, window int) (fixedBits int, ok bool) {
	n := len(src)
	toks := d.tokens[:0] // a local: appends through d would reload it
	d.litFreq = [286]uint32{}
	d.distFreq = [30]uint32{}
	bitsBudget := 8 * budget
	fixedBits = 3 + 7 // block header and end of block
	matched := 0
	d.extraBits, d.matches = 0, 0
	s, emit := 0, 0
	for s+deflateMinMatch <= n {
		cv := binary.LittleEndian.Uint32(src[s:])
		cand := d.probe(src, s, cv, window)
		if cand < 0 {
			// No match: step faster the longer the run of literals, so
			// incompressible input is scanned, not searched.
			s += 1 + (s-emit)>>5
			continue
		}
		// Literals cost at least 8 bits with the fixed codes; with
		// few matches a dynamic code cannot make up for that either.
		if fixedBits+8*(s-emit) > bitsBudget && matched < n/8 {
			d.tokens = toks // keep what it has grown to
			return 0, false
		}
		l := deflateMinMatch + matchLen(src[s+deflateMinMatch:min(n, s+deflateMaxMatch)], src[cand+deflateMinMatch:])
		for _, v := range src[emit:s] {
			toks = append(toks, uint32(v))
			d.litFreq[v]++
			fixedBits += int(fixedLit[v] >> 24)
		}
		dist := s - cand
		toks = append(toks, tokenFlag|uint32(l-3)<<15|uint32(dist-1))
		li, ds := lengthIndex[l], distSymbol(dist)
		d.litFreq[257+int(li)]++
		d.distFreq[ds]++
		d.extraBits += int(lengthExtra[li]) + int(distExtra[ds])
		d.matches++
		fixedBits += int(fixedLen[l]>>24) + 5 + int(distExtra[ds])
		matched += l
		s += l
		emit = s
		d.indexLast(src, s)
	}
	if fixedBits+8*(n-emit) > bitsBudget && matched < n/8 {
		d.tokens = toks
		return 0, false // what is left is literals
	}
	for _, v := range src[emit:] {
		toks = append(toks, uint32(v))
		d.litFreq[v]++
		fixedBits += int(fixedLit[v] >> 24)
	}
	d.tokens = toks
	d.litFreq[256] = 1
	return fixedBits, true // a dynamic code may still fit the budget
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
