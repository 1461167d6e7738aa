package proto

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// The compression pass's decoder (SPEC §8.2, receive): a zlib stream inflated
// into one flat buffer, capped at MaxInflate bytes. Output never exceeds a
// few KiB, so back-references copy inside that buffer: no 32 KiB window, no
// io.Reader, no per-packet reset of a general decompressor (klauspost's
// Reset and its decoding tables were the receive side's cost). Fixed-code
// blocks (most of what eqgate sends) decode through tables built once;
// dynamic blocks (C zlib's usual choice) build tables of up to 9 bits per
// block, sized to the block's longest code.
//
// It accepts exactly what compress/zlib accepts (FuzzInflate compares the
// two), which for every stream a zlib deflater writes is what C zlib's
// inflate accepts; a preset dictionary (FDICT) is refused, as RS fails on
// C zlib's Z_NEED_DICT.

// RFC 1951 §3.2.5: base and extra bits of length codes 257..285 and distance
// codes 0..29.
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clenOrder is the order of the code length code's lengths (§3.2.7).
	clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

const (
	huffTableBits = 9
	huffMaxBits   = 15
)

// huffman decodes one canonical Huffman code: codes up to huffTableBits long
// in one lookup (entry = symbol<<4 | length), longer ones (rare in packets)
// by walking the counts as RFC 1951's canonical construction defines.
type huffman struct {
	mask    uint64 // of the table's index: min(longest code, huffTableBits) bits
	table   [1 << huffTableBits]uint16
	count   [huffMaxBits + 1]uint16
	symbols [288]uint16 // by code: ordered by length, then symbol
}

// init builds the code from lengths. Like compress/flate, it refuses an
// over-subscribed or incomplete code, except a single code of length 1; an
// empty code is accepted and fails when used.
func (h *huffman) init(lengths []uint8) bool {
	var count [huffMaxBits + 1]uint16
	var used [288]uint16
	n := 0
	for sym, l := range lengths {
		count[l]++
		used[n] = uint16(sym)
		n += b2i(l != 0) // no branch on symbols without a code
	}
	return h.build(lengths, 0, &count, used[:n])
}

// build is init given what readCodes learns while it reads the lengths:
// count[l] is how many codes have length l (count[0] is ignored) and used
// holds the symbols with a code, in increasing order, as positions in
// lengths from base. Counting and scanning 286 lengths a second time, half
// of them 0 in no order, was most of a dynamic block's table cost.
func (h *huffman) build(lengths []uint8, base int, count *[huffMaxBits + 1]uint16, used []uint16) bool {
	h.count = *count
	h.count[0] = 0
	maxLen := 0
	left := 1
	for l := 1; l <= huffMaxBits; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false
		}
		if h.count[l] != 0 {
			maxLen = l
		}
	}
	tb := min(maxLen, huffTableBits)
	h.mask = 1<<tb - 1
	// Entries of no code, and of long codes' prefixes, stay 0 (noCode's
	// length), which sends decode to its slow path.
	h.table[0], h.table[1] = 0, 0
	if maxLen == 0 {
		return true
	}
	if left > 0 && !(maxLen == 1 && h.count[1] == 1) {
		return false
	}
	// Symbols by code: ordered by length, then symbol (RFC 1951 §3.2.2).
	var offs [huffMaxBits + 2]uint16
	for l := 1; l <= huffMaxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	first := offs // where each length's symbols start
	for _, pos := range used {
		l := lengths[pos]
		h.symbols[offs[l]] = uint16(int(pos) - base)
		offs[l]++
	}
	// The table by doubling: once the entries of every code up to l-1
	// bits are in its first 2^(l-1), a copy of them is the next 2^(l-1)
	// (an index's bit l-1 does not matter to a shorter code), and the
	// codes of l bits go in one store each, in canonical order. Storing
	// each short code at its every 2^l-th entry instead was half the cost.
	code := 0
	for l := 1; l <= tb; l++ {
		if l > 1 {
			copy(h.table[1<<(l-1):1<<l], h.table[:1<<(l-1)])
		}
		for _, sym := range h.symbols[first[l]:first[l+1]] {
			h.table[bits.Reverse16(uint16(code))>>(16-l)] = sym<<4 | uint16(l)
			code++
		}
		code <<= 1
	}
	return true
}

// bitReader reads a deflate stream LSB-first. Past the end of its input it
// reads zero bytes and counts them in over: a stream that consumed any of
// them was truncated.
type bitReader struct {
	src  []byte
	pos  int
	buf  uint64
	n    uint
	over int
}

// refill tops the buffer up to at least 56 bits.
func (r *bitReader) refill() {
	if r.pos+8 <= len(r.src) {
		// The bits loaded above the new count are the next bytes'
		// own, so loading them again later ORs the same bits.
		r.buf |= binary.LittleEndian.Uint64(r.src[r.pos:]) << r.n
		r.pos += int(63-r.n) >> 3
		r.n |= 56
		return
	}
	for r.n <= 56 {
		if r.pos < len(r.src) {
			r.buf |= uint64(r.src[r.pos]) << r.n
			r.pos++
		} else {
			r.over++
		}
		r.n += 8
	}
}

func (r *bitReader) bits(n uint) uint32 {
	v := uint32(r.buf & (1<<n - 1))
	r.buf >>= n
	r.n -= n
	return v
}

// truncated reports whether bits past the end of the input were consumed.
func (r *bitReader) truncated() bool { return int(r.n) < 8*r.over }

// noCode is the entry of bits that start no code of a huffman: symbol 4095,
// which every caller refuses, and length 0, so nothing is consumed.
const noCode = 0xfff << 4

// entry is the table entry (symbol<<4 | length) of the code at the bottom
// of buf, which holds at least 15 bits: codes longer than the table are
// found by walking the counts, and bits that start no code give noCode.
func (h *huffman) entry(buf uint64) uint16 {
	if e := h.table[buf&h.mask]; e&15 != 0 {
		return e
	}
	return h.long(buf)
}

// long is kept out of line so that entry, on every symbol's path, inlines.
//
//go:noinline
func (h *huffman) long(buf uint64) uint16 {
	code, first, index := 0, 0, 0
	for l := 1; l <= huffMaxBits; l++ {
		code |= int(buf>>(l-1)) & 1
		count := int(h.count[l])
		if code-first < count {
			return h.symbols[index+code-first]<<4 | uint16(l)
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return noCode
}

// inflater holds the decoding tables of the current dynamic block.
type inflater struct {
	lit, dist huffman
	lens      [286 + 30]uint8
}

// The fixed codes' decoders (RFC 1951 §3.2.6), built once.
var fixedLitDec, fixedDistDec = buildFixedDecoders()

func buildFixedDecoders() (*huffman, *huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	lit, dist := new(huffman), new(huffman)
	// The fixed distance code has 32 codes of which 30 are used, so it is
	// built from 32 lengths for completeness; symbols 30 and 31 are
	// refused when decoded, as RFC 1951 requires.
	var d32 [32]uint8
	copy(d32[:], d[:])
	d32[30], d32[31] = 5, 5
	if !lit.init(l[:]) || !dist.init(d32[:]) {
		panic("fixed Huffman codes")
	}
	return lit, dist
}

// inflate inflates the zlib stream src into out, returning the length;
// ErrInflateTooBig when the output would pass len(out) or MaxInflate bytes,
// ErrInflate for anything else that is not a complete, checksummed stream.
// All of out is scratch: match copies may write past the returned length.
func (f *inflater) inflate(out, src []byte) (int, error) {
	if len(src) < 2 || src[0]&0x0f != 8 || src[0]>>4 > 7 || (uint(src[0])<<8|uint(src[1]))%31 != 0 || src[1]&0x20 != 0 {
		return 0, ErrInflate
	}
	limit := min(len(out), MaxInflate)
	r := bitReader{src: src, pos: 2}
	w := 0
	for {
		r.refill()
		final := r.bits(1)
		switch r.bits(2) {
		case 0:
			var ok bool
			if w, ok = r.stored(out, w, limit); !ok {
				if w > limit {
					return 0, ErrInflateTooBig
				}
				return 0, ErrInflate
			}
		case 1:
			var err error
			if w, err = r.codes(out, w, limit, fixedLitDec, fixedDistDec); err != nil {
				return 0, err
			}
		case 2:
			if !f.readCodes(&r) {
				return 0, ErrInflate
			}
			var err error
			if w, err = r.codes(out, w, limit, &f.lit, &f.dist); err != nil {
				return 0, err
			}
		default:
			return 0, ErrInflate
		}
		if r.truncated() {
			return 0, ErrInflate
		}
		if final == 1 {
			break
		}
	}
	// The Adler-32 trailer starts at the next byte boundary.
	p := r.pos - (int(r.n)-8*r.over)/8
	if p+4 > len(src) || binary.BigEndian.Uint32(src[p:]) != adler32Sum(out[:w]) {
		return 0, ErrInflate
	}
	return w, nil
}

// stored copies a stored block (§3.2.4); w past limit means over the cap.
func (r *bitReader) stored(out []byte, w, limit int) (int, bool) {
	r.bits(r.n % 8) // to the byte boundary
	if r.n < 32 {
		r.refill()
	}
	ln, nln := r.bits(16), r.bits(16)
	if ln != ^nln&0xffff || r.truncated() {
		return w, false
	}
	p := r.pos - (int(r.n)-8*r.over)/8
	if p+int(ln) > len(r.src) {
		return w, false
	}
	if w+int(ln) > limit {
		return limit + 1, false
	}
	w += copy(out[w:], r.src[p:p+int(ln)])
	*r = bitReader{src: r.src, pos: p + int(ln)}
	return w, true
}

// readCodes reads a dynamic block's code lengths (§3.2.7) into f.lit and
// f.dist.
func (f *inflater) readCodes(r *bitReader) bool {
	r.refill()
	nlit := int(r.bits(5)) + 257
	ndist := int(r.bits(5)) + 1
	nclen := int(r.bits(4)) + 4
	if nlit > 286 || ndist > 30 {
		return false
	}
	var cl [19]uint8
	for i := range nclen {
		if r.n < 3 {
			r.refill()
		}
		cl[clenOrder[i]] = uint8(r.bits(3))
	}
	var clen huffman
	if !clen.init(cl[:]) {
		return false
	}
	// Count the lengths of each code and list the symbols that have one
	// as they are read, for build; a run of zeros costs one step.
	lens := f.lens[:nlit+ndist]
	var count [2][huffMaxBits + 1]uint16 // literal/length code, distance code
	var used [286 + 30]uint16
	nu := 0
	// The reader's state lives in locals through the loop, as in codes:
	// through r, every store to lens, count or used would reload it.
	buf, n := r.buf, r.n
	for i := 0; i < len(lens); {
		if n < 15+7 {
			r.buf, r.n = buf, n
			r.refill()
			buf, n = r.buf, r.n
			if r.over > 8 {
				return false // past the end by more than the buffer holds
			}
		}
		e := clen.entry(buf)
		if e == noCode {
			return false
		}
		buf >>= e & 15
		n -= uint(e & 15)
		sym := int(e >> 4)
		var v uint8
		var rep int
		switch {
		case sym < 16:
			lens[i] = uint8(sym)
			count[b2i(i >= nlit)][sym]++
			used[nu] = uint16(i)
			nu += b2i(sym != 0)
			i++
			continue
		case sym == 16:
			if i == 0 {
				return false
			}
			v, rep = lens[i-1], 3+int(buf&3)
			buf >>= 2
			n -= 2
		case sym == 17:
			rep = 3 + int(buf&7)
			buf >>= 3
			n -= 3
		default:
			rep = 11 + int(buf&127)
			buf >>= 7
			n -= 7
		}
		end := i + rep
		if end > len(lens) {
			return false
		}
		if v == 0 {
			clear(lens[i:end])
		} else {
			inLit := max(0, min(end, nlit)-i) // a run may cross into the distance lengths
			count[0][v] += uint16(inLit)
			count[1][v] += uint16(rep - inLit)
			for j := i; j < end; j++ {
				lens[j] = v
				used[nu] = uint16(j)
				nu++
			}
		}
		i = end
	}
	r.buf, r.n = buf, n
	if r.truncated() {
		return false
	}
	nuLit, _ := slices.BinarySearch(used[:nu], uint16(nlit))
	return f.lit.build(lens[:nlit], 0, &count[0], used[:nuLit]) &&
		f.dist.build(lens, nlit, &count[1], used[nuLit:nu])
}

// b2i is 1 for true, 0 for false, without a branch.
func b2i(b bool) int {
	var i int
	if b {
		i = 1
	}
	return i
}

// codes decodes one Huffman-coded block (§3.2.5) into out[w:limit]. The
// reader's state is kept in locals through the loop: stores to out could
// alias *r, so through r every symbol would reload and store it.
func (r *bitReader) codes(out []byte, w, limit int, lit, dist *huffman) (int, error) {
	src := r.src
	buf, n, pos := r.buf, r.n, r.pos
	var err error
	for {
		if n < 48 {
			if pos+8 <= len(src) {
				buf |= binary.LittleEndian.Uint64(src[pos:]) << n
				pos += int(63-n) >> 3
				n |= 56
			} else {
				r.buf, r.n, r.pos = buf, n, pos
				r.refill()
				buf, n, pos = r.buf, r.n, r.pos
				if r.over > 8 {
					err = ErrInflate
					break
				}
			}
		}
		e := uint(lit.entry(buf)) // a uint: as uint16 it was kept on the stack
		buf >>= e & 15
		n -= e & 15
		sym := int(e >> 4)
		if sym < 256 {
			if w >= limit {
				err = ErrInflateTooBig
				break
			}
			out[w] = byte(sym)
			w++
			continue
		}
		if sym == 256 {
			break
		}
		if sym > 285 { // noCode too
			err = ErrInflate
			break
		}
		i := sym - 257
		nb := uint(lengthExtra[i])
		length := int(lengthBase[i]) + int(buf&(1<<nb-1))
		buf >>= nb
		n -= nb
		e = uint(dist.entry(buf))
		buf >>= e & 15
		n -= e & 15
		ds := int(e >> 4)
		if ds >= 30 { // noCode too
			err = ErrInflate
			break
		}
		nb = uint(distExtra[ds])
		d := int(distBase[ds]) + int(buf&(1<<nb-1))
		buf >>= nb
		n -= nb
		if d > w {
			err = ErrInflate
			break
		}
		if w+length > limit {
			err = ErrInflateTooBig
			break
		}
		if d >= 8 && w+length+8 <= len(out) {
			// Eight bytes at a time, past the end into the slack:
			// each load lies before what it stores, d >= 8 behind.
			// Matches are short here, and copy's call cost more.
			for k := 0; k < length; k += 8 {
				binary.LittleEndian.PutUint64(out[w+k:], binary.LittleEndian.Uint64(out[w+k-d:]))
			}
		} else {
			// An overlapping match repeats the last d bytes: each copy
			// takes everything written so far, doubling the run.
			for k := 0; k < length; {
				k += copy(out[w+k:w+length], out[w-d:w+k])
			}
		}
		w += length
	}
	r.buf, r.n, r.pos = buf, n, pos
	if err != nil {
		return 0, err
	}
	return w, nil
}
