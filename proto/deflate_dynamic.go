package proto

import (
	"math"
	"math/bits"
)

// Dynamic Huffman blocks (RFC 1951 §3.2.7) for regions of deflateDynamicMin
// bytes and more, where a code fitted to the region beats the fixed one by
// more than its own description: that is how C zlib's level 1 stays 5-12 %
// smaller than fixed codes on 0.5-1 KiB game packets.

// log2Frac[m] is 64·log2(1 + m/64): the fraction of log2Fix.
var log2Frac = func() (t [64]uint32) {
	for m := range t {
		t[m] = uint32(math.Round(64 * math.Log2(1+float64(m)/64)))
	}
	return t
}()

// log2Fix is log2(x) in 1/64 bits, for x >= 1, within 1/32 bit.
func log2Fix(x uint32) uint32 {
	k := uint32(bits.Len32(x)) - 1
	return k<<6 + log2Frac[(x<<(31-k))>>25&63]
}

// entropyBits is a lower bound, in 1/64 bits, on what any prefix code for
// freq spends on its symbols: Σ f·log2(T/f), with T = Σ f (the caller
// knows it from its tokens). A Huffman code comes within a few percent of
// it on packet-sized inputs.
func entropyBits(freq []uint32, total int) (bits64 int, used int) {
	if total == 0 {
		return 0, 0
	}
	lt := log2Fix(uint32(total))
	for _, f := range freq {
		if f > 0 {
			bits64 += int(f) * int(lt-log2Fix(f))
			used++
		}
	}
	return bits64, used
}

// dynamicWorthBuilding reports whether a dynamic code is expected to save
// at least 1/dynamicMinGain of the fixed-code block. Building one (and the
// receiver's tables for it) costs more than the rest of the codec; on 400-
// byte game datagrams it saved 4 % of the bytes for 2.2x the CPU
// (bench/RESULTS.md, "the dynamic-code gate"), so it is built only where it
// pays. The estimate is the symbols' entropy plus the code's description,
// fitted to what buildDynamic spends on game and sparse regions of 400 B
// to 1 KiB: about 200 bits plus 3.5 per symbol in use.
func (d *deflater) dynamicWorthBuilding(fixedBits int) bool {
	// Every token is one literal/length symbol, plus the end of block;
	// every match one distance symbol.
	lit, nlit := entropyBits(d.litFreq[:], len(d.tokens)+1)
	dist, ndist := entropyBits(d.distFreq[:], d.matches)
	est := (lit+dist)/64 + d.extraBits + 200 + 7*(nlit+ndist)/2
	return est <= fixedBits-fixedBits/dynamicMinGain
}

// dynamicCode is one block's code and its description, kept in the
// deflater so building it allocates nothing.
type dynamicCode struct {
	litLens  [286]uint8
	distLens [30]uint8
	litCodes [286]uint32 // packed like fixedLit
	distCode [30]uint32
	clenLens [19]uint8
	clenCode [19]uint32
	rle      [286 + 30]uint16 // code length symbols: sym | extra<<8
	nrle     int
	hlit     int
	hdist    int
	hclen    int
	scratch  huffScratch
}

// huffBuckets is the number of counting-sort buckets of huffCode.
const huffBuckets = 64

// huffScratch is the working space of huffCode.
type huffScratch struct {
	used   [286 + 1]uint32 // freq<<9 | symbol, by symbol; a slot for an unused one
	keys   [286]uint32     // the same, sorted
	weight [2 * 286]uint32
	parent [2 * 286]uint16
	depth  [2 * 286]uint8
}

// huffCode sets lens and codes (packed like fixedLit) to a canonical prefix
// code for freq, limited to maxBits, with at least two codes (as C zlib
// does: a lone code would be an incomplete code, which some inflaters
// refuse), and returns what the code spends on freq: Σ f·len bits. Codes of
// unused symbols are left as they were: nothing writes them.
func huffCode(freq []uint32, lens []uint8, codes []uint32, maxBits int, hs *huffScratch) (cost int) {
	clear(lens)
	// Sort the used symbols by frequency, then symbol: gather them
	// (without a branch: about half are unused, in no predictable order),
	// then a counting sort on min(freq, huffBuckets-1), which for packet-
	// sized inputs leaves a handful of frequent symbols in the last bucket
	// to sort by insertion. slices.Sort was 11 % of the encoder.
	m := 0
	for sym, f := range freq {
		hs.used[m] = f<<9 | uint32(sym)
		m += int((f | -f) >> 31) // f != 0
	}
	if m < 2 {
		// One or no symbol in use: two codes of one bit, the used one
		// and symbol 0 or 1.
		a, b := 0, 1
		if m == 1 {
			if sym := int(hs.used[0] & 511); sym > 1 {
				b = sym
			}
			cost = int(hs.used[0] >> 9)
		}
		lens[a], lens[b] = 1, 1
		codes[a], codes[b] = 1<<24, 1|1<<24
		return cost
	}
	used := hs.used[:m]
	var bucket [huffBuckets]uint16
	for _, k := range used {
		bucket[min(k>>9, huffBuckets-1)]++
	}
	at := uint16(0)
	for b := range bucket {
		at, bucket[b] = at+bucket[b], at
	}
	keys := hs.keys[:m]
	for _, k := range used {
		b := min(k>>9, huffBuckets-1)
		keys[bucket[b]] = k
		bucket[b]++
	}
	last := int(bucket[huffBuckets-2]) // where the last bucket starts
	for i := last + 1; i < m; i++ {
		for j := i; j > last && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	// Huffman's construction with two queues: the sorted leaves and the
	// internal nodes, which are made in nondecreasing weight.
	for i, k := range keys {
		hs.weight[i] = k >> 9
	}
	leaf, node := 0, m
	for next := m; next < 2*m-1; next++ {
		var pair [2]int
		for j := range pair {
			if leaf < m && (node >= next || hs.weight[leaf] <= hs.weight[node]) {
				pair[j] = leaf
				leaf++
			} else {
				pair[j] = node
				node++
			}
		}
		hs.weight[next] = hs.weight[pair[0]] + hs.weight[pair[1]]
		hs.parent[pair[0]], hs.parent[pair[1]] = uint16(next), uint16(next)
	}
	var count [16]int
	hs.depth[2*m-2] = 0
	for i := 2*m - 3; i >= 0; i-- {
		hs.depth[i] = hs.depth[hs.parent[i]] + 1 // under 64: counts fit 32 bits
	}
	for i := range m {
		count[min(int(hs.depth[i]), maxBits)]++
	}
	// Clamping at maxBits over-fills the code; move codes down a level
	// until it is exactly full (miniz's method).
	total := 0
	for l := 1; l <= maxBits; l++ {
		total += count[l] << (maxBits - l)
	}
	for total > 1<<maxBits {
		count[maxBits]--
		for l := maxBits - 1; l > 0; l-- {
			if count[l] > 0 {
				count[l]--
				count[l+1] += 2
				break
			}
		}
		total--
	}
	// The least frequent symbols get the longest codes.
	i := 0
	for l := maxBits; l >= 1; l-- {
		for range count[l] {
			lens[keys[i]&511] = uint8(l)
			cost += int(keys[i]>>9) * l
			i++
		}
	}
	// Canonical codes (RFC 1951 §3.2.2): by length, then by symbol, which
	// is the order of used; unused symbols take no time here.
	var next [16]int
	code := 0
	count[0] = 0
	for l := 1; l <= maxBits; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	for _, k := range used {
		sym := k & 511
		l := lens[sym]
		codes[sym] = uint32(bits.Reverse16(uint16(next[l]))>>(16-l)) | uint32(l)<<24
		next[l]++
	}
	return cost
}

// buildDynamic fits a dynamic code to the deflater's symbol counts and
// returns the block's size in bits with it.
func (d *deflater) buildDynamic() int {
	c := &d.dyn
	size := huffCode(d.litFreq[:], c.litLens[:], c.litCodes[:], 15, &c.scratch)
	size += huffCode(d.distFreq[:], c.distLens[:], c.distCode[:], 15, &c.scratch)
	c.hlit = 286
	for c.hlit > 257 && c.litLens[c.hlit-1] == 0 {
		c.hlit--
	}
	c.hdist = 30
	for c.hdist > 1 && c.distLens[c.hdist-1] == 0 {
		c.hdist--
	}
	// Run-length code the lengths (§3.2.7: 16 repeats the previous length
	// 3-6 times, 17 and 18 give 3-10 and 11-138 zeros).
	var all [286 + 30]uint8
	lens := append(append(all[:0], c.litLens[:c.hlit]...), c.distLens[:c.hdist]...)
	var clenFreq [19]uint32
	c.nrle = 0
	emit := func(sym, extra int) {
		c.rle[c.nrle] = uint16(sym | extra<<8)
		c.nrle++
		clenFreq[sym]++
	}
	for i := 0; i < len(lens); {
		l := lens[i]
		run := 1
		for i+run < len(lens) && lens[i+run] == l {
			run++
		}
		i += run
		if l == 0 {
			for ; run >= 11; run -= min(run, 138) {
				emit(18, min(run, 138)-11)
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
		} else {
			emit(int(l), 0)
			run--
			for ; run >= 3; run -= min(run, 6) {
				emit(16, min(run, 6)-3)
			}
		}
		for range run {
			emit(int(l), 0)
		}
	}
	size += huffCode(clenFreq[:], c.clenLens[:], c.clenCode[:], 7, &c.scratch)
	c.hclen = 19
	for c.hclen > 4 && c.clenLens[clenOrder[c.hclen-1]] == 0 {
		c.hclen--
	}
	size += 3 + 5 + 5 + 4 + 3*c.hclen + d.extraBits
	size += int(clenFreq[16])*2 + int(clenFreq[17])*3 + int(clenFreq[18])*7
	return size
}

// writeDynamic writes the block built by buildDynamic, final or not. As in writeFixed,
// the writer's state lives in locals through the description and token
// loops; a match goes out as two codes with their extra bits, at most 20
// and 28 bits.
func (d *deflater) writeDynamic(w *bitWriter, final uint64) {
	c := &d.dyn
	w.putBits(final|2<<1, 3) // BFINAL, BTYPE 10
	w.putBits(uint64(c.hlit-257)|uint64(c.hdist-1)<<5|uint64(c.hclen-4)<<10, 14)
	out, pos, acc, nb := w.out, w.pos, w.bits, w.n
	for _, sym := range clenOrder[:c.hclen] {
		acc |= uint64(c.clenLens[sym]) << nb
		nb += 3
		pos, acc, nb = flush32(out, pos, acc, nb)
	}
	extraBits := [19]uint{16: 2, 17: 3, 18: 7}
	for _, r := range c.rle[:c.nrle] {
		sym := r & 0xff
		e := c.clenCode[sym]
		acc |= (uint64(e&0xffffff) | uint64(r>>8)<<(e>>24)) << nb
		nb += uint(e>>24) + extraBits[sym]
		pos, acc, nb = flush32(out, pos, acc, nb)
	}
	lit, dist := &c.litCodes, &c.distCode
	for _, t := range d.tokens {
		if t < 256 {
			e := lit[t]
			acc |= uint64(e&0xffffff) << nb
			nb += uint(e >> 24)
		} else {
			l, dd := tokenMatch(t)
			li := lengthIndex[l]
			e := lit[257+int(li)]
			acc |= (uint64(e&0xffffff) | uint64(l-int(lengthBase[li]))<<(e>>24)) << nb
			nb += uint(e>>24) + uint(lengthExtra[li])
			pos, acc, nb = flush32(out, pos, acc, nb)
			ds := distSymbol(dd)
			e = dist[ds]
			acc |= (uint64(e&0xffffff) | uint64(dd-int(distBase[ds]))<<(e>>24)) << nb
			nb += uint(e>>24) + uint(distExtra[ds])
		}
		pos, acc, nb = flush32(out, pos, acc, nb)
	}
	w.out, w.pos, w.bits, w.n = out, pos, acc, nb
	w.put(c.litCodes[256])
}
