package proto

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// huffmanCost is the reference: the cost Σ f·len of an optimal
// (unlimited) prefix code for freq, as the sum of Huffman's merged weights,
// and its longest code.
func huffmanCost(freq []uint32) (cost, depth int) {
	type node struct{ w, d int }
	var q []node
	for _, f := range freq {
		if f > 0 {
			q = append(q, node{int(f), 0})
		}
	}
	if len(q) < 2 {
		for _, n := range q {
			cost += n.w
		}
		return cost, 1
	}
	for len(q) > 1 {
		slices.SortFunc(q, func(a, b node) int { return a.w - b.w })
		m := node{q[0].w + q[1].w, max(q[0].d, q[1].d) + 1}
		cost += m.w
		q = append(q[2:], m)
	}
	return cost, q[0].d
}

// TestHuffCode checks huffCode on random, skewed and degenerate counts:
// every used symbol gets a code of 1..maxBits bits and no unused one does
// (beyond the two-code minimum), the code is complete, the returned cost is
// Σ f·len and optimal when the limit does not bind, and every code decodes
// to its own symbol through the inflater's tables.
func TestHuffCode(t *testing.T) {
	var hs huffScratch
	r := rand.New(rand.NewPCG(15, 3))
	limited := 0
	for iter := range 3000 {
		nsym, maxBits := []int{286, 30, 19}[iter%3], []int{15, 15, 7}[iter%3]
		freq := make([]uint32, nsym)
		switch iter % 5 {
		case 0: // sparse and small, like a packet's literals
			for i := range freq {
				if r.IntN(3) == 0 {
					freq[i] = uint32(1 + r.IntN(8))
				}
			}
		case 1: // skewed: a few symbols past the counting sort's buckets
			for i := range freq {
				freq[i] = uint32(r.IntN(4))
			}
			for range 3 {
				freq[r.IntN(nsym)] = uint32(60 + r.IntN(500))
			}
		case 2: // Fibonacci-like weights: the limit binds
			a, b := uint32(1), uint32(1)
			for range min(nsym, 25) {
				freq[r.IntN(nsym)] += a
				a, b = b, a+b
			}
		case 3: // one or no symbol
			if r.IntN(2) == 0 {
				freq[r.IntN(nsym)] = uint32(1 + r.IntN(100))
			}
		default:
			for i := range freq {
				freq[i] = uint32(r.IntN(1000))
			}
		}
		lens := make([]uint8, nsym)
		codes := make([]uint32, nsym)
		cost := huffCode(freq, lens, codes, maxBits, &hs)

		used, kraft, sum := 0, 0, 0
		for s, l := range lens {
			if freq[s] > 0 {
				used++
				if l < 1 || int(l) > maxBits {
					t.Fatalf("iter %d: symbol %d (freq %d) has length %d", iter, s, freq[s], l)
				}
			}
			if l > 0 {
				kraft += 1 << (maxBits - int(l))
				sum += int(freq[s]) * int(l)
			}
		}
		if kraft != 1<<maxBits { // with fewer than two used, still two codes
			t.Fatalf("iter %d: Kraft sum %d/%d: the code is not complete", iter, kraft, 1<<maxBits)
		}
		if cost != sum {
			t.Fatalf("iter %d: cost %d, Σ f·len %d", iter, cost, sum)
		}
		opt, depth := huffmanCost(freq)
		if depth <= maxBits && cost != opt {
			t.Fatalf("iter %d: cost %d, optimal %d", iter, cost, opt)
		}
		if depth > maxBits {
			limited++
			if cost < opt {
				t.Fatalf("iter %d: cost %d below the optimum %d", iter, cost, opt)
			}
		}
		var h huffman
		if !h.init(lens) {
			t.Fatalf("iter %d: the inflater refuses the lengths", iter)
		}
		for s, l := range lens {
			if l == 0 {
				continue
			}
			if codes[s]>>24 != uint32(l) {
				t.Fatalf("iter %d: symbol %d: packed length %d, length %d", iter, s, codes[s]>>24, l)
			}
			if e := h.entry(uint64(codes[s] & 0xffffff)); int(e>>4) != s || int(e&15) != int(l) {
				t.Fatalf("iter %d: symbol %d's code decodes as %d (%d bits)", iter, s, e>>4, e&15)
			}
		}
	}
	if limited == 0 {
		t.Fatal("no input made the length limit bind")
	}
}
