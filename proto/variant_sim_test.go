package proto

import (
	"testing"
	"time"
)

// TestVariantSimNetwork runs the impairment matrix of TestSimNetwork for
// LEGACY and EQ2 (one stream): every message from 1 B to 64 KiB arrives
// exactly once, in order, byte-exact. The streams start near 65535 so
// every run crosses the sequence wrap.
func TestVariantSimNetwork(t *testing.T) {
	msgs := 5000
	if testing.Short() || raceEnabled {
		// The race detector makes these 9 runs take minutes on a loaded
		// 2-core box; 500 messages still cross the wrap and exercise every
		// path. The full 5,000 run without it.
		msgs = 500
	}
	const wrap = 65536 - 300
	var models []netModel
	for _, v := range []Variant{VariantLegacy, VariantEQ2} {
		passes := [2]Pass{}
		if v == VariantLegacy {
			passes[0] = PassCompress
		}
		models = append(models,
			netModel{name: v.String() + "/loss10_delay50_reorder2", variant: v, seqStart: wrap, passes: passes, loss: 0.10, delay: 50 * time.Millisecond, jitter: time.Millisecond, reorder: 0.02, reorderD: 40 * time.Millisecond},
			netModel{name: v.String() + "/loss5_dup5", variant: v, seqStart: wrap, passes: passes, loss: 0.05, dup: 0.05, delay: 10 * time.Millisecond, jitter: time.Millisecond},
			netModel{name: v.String() + "/loss20_delay100", variant: v, seqStart: wrap, loss: 0.20, delay: 100 * time.Millisecond, jitter: time.Millisecond},
			netModel{name: v.String() + "/reorder30", variant: v, seqStart: wrap, reorder: 0.30, reorderD: 30 * time.Millisecond, delay: 5 * time.Millisecond, jitter: time.Millisecond},
		)
	}
	models = append(models, netModel{name: "legacy/corrupt1_xor", variant: VariantLegacy, seqStart: wrap,
		corrupt: 0.01, delay: 5 * time.Millisecond, jitter: time.Millisecond, passes: [2]Pass{PassXOR, PassNone}})
	base := *simSeed
	if base == 0 {
		base = 0x5eed_0101
	}
	for i, m := range models {
		t.Run(m.name, func(t *testing.T) {
			seed := base + uint64(i)
			t.Logf("seed %#x (rerun with -sim.seed=%#x; this model is base+%d)", seed, base, i)
			n := newSim(t, m, seed, msgs)
			n.run(60 * time.Minute)
			for i := range n.sides {
				x := &n.sides[i]
				if x.s.State() != StateConnected || len(x.closed) != 0 {
					t.Fatalf("side %d ended %v closed %v", i, x.s.State(), x.closed)
				}
			}
			if uint64(m.seqStart)+n.seqs <= 65536 {
				t.Fatalf("no sequence wrap: %d sequences from %d", n.seqs, m.seqStart)
			}
			cs, ss := n.sides[0].s.Stats(), n.sides[1].s.Stats()
			if m.corrupt > 0 {
				bad := cs.Drops[ReasonBadCRC] + ss.Drops[ReasonBadCRC]
				if bad+cs.LenientCRC+ss.LenientCRC != uint64(n.corrupted) {
					t.Fatalf("corrupted %d datagrams, sessions dropped %d for CRC (%d let through)", n.corrupted, bad, cs.LenientCRC+ss.LenientCRC)
				}
			}
			t.Logf("virtual %v; dropped %d dup %d corrupted %d; client sent %d dgrams resends %d; server sent %d resends %d; lenient CRC %d/%d; reorder drops %d/%d; drops %v / %v",
				time.Duration(n.now), n.dropped, n.duplicated, n.corrupted,
				cs.SentPackets, cs.Resends, ss.SentPackets, ss.Resends, cs.LenientCRC, ss.LenientCRC,
				cs.ReorderDrops, ss.ReorderDrops, cs.Drops, ss.Drops)
		})
	}
}
