package impair

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestImpairmentDecide(t *testing.T) {
	im := Impairment{Loss: 0.1, Dup: 0.1, Reorder: 0.1, Corrupt: 0.1, Delay: time.Millisecond}
	pkt := []byte{0x00, 0x09, 1, 2, 3, 4}
	run := func() []verdict {
		rng := rand.New(rand.NewPCG(42, 0))
		var out []verdict
		for range 2000 {
			out = append(out, im.decide(rng, pkt))
		}
		return out
	}
	a, b := run(), run()
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different verdicts")
	}
	var drop, dup, reo, cor int
	for _, v := range a {
		if v.drop {
			drop++
			continue
		}
		if v.copies == 2 {
			dup++
		}
		if v.reordered {
			reo++
			if v.delay != time.Millisecond+ReorderHold {
				t.Fatalf("reordered delay %v", v.delay)
			}
		}
		if v.corrupt >= 0 {
			cor++
			if v.corrupt >= len(pkt)*8 {
				t.Fatalf("corrupt bit %d outside the packet", v.corrupt)
			}
		}
	}
	for name, n := range map[string]int{"drop": drop, "dup": dup, "reorder": reo, "corrupt": cor} {
		if n < 120 || n > 280 {
			t.Errorf("%s: %d of 2000, want about 200 (10%%, of those not dropped for the rest)", name, n)
		}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	all := Impairment{Corrupt: 1}
	for _, hs := range [][]byte{{0, 1, 0, 0, 0, 3}, {0, 2, 1, 2}, {0, 0x1d, 0, 0}} {
		if v := all.decide(rng, hs); v.corrupt >= 0 {
			t.Fatalf("CRC-less packet %x corrupted", hs)
		}
	}
}
