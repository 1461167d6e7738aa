package shard

import (
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// meanProbes indexes eps under hash function h and returns the mean number
// of cells a successful lookup scans (1 when every entry sits at its home).
func meanProbes(eps []endpoint, h func(*endpoint) uint64) float64 {
	x := newIndex(len(eps))
	var t slabMeta
	for i := range eps {
		slot, _ := t.alloc()
		t.meta(slot).ep = eps[i]
		x.insert(h(&eps[i]), slot)
	}
	total := 0
	for i := range eps {
		hv := h(&eps[i])
		n := 1
		for c := hv & x.mask; ; c = (c + 1) & x.mask {
			if x.cells[c].hash == hv && t.meta(x.cells[c].slot-1).ep == eps[i] {
				break
			}
			n++
		}
		total += n
	}
	return float64(total) / float64(len(eps))
}

// TestHashFlood: 20,000 endpoints crafted to share their home bits under a
// hash seed an attacker knows cost no more per lookup than random ones
// under the process's secret seed (they would pile into one probe run
// under the known one).
func TestHashFlood(t *testing.T) {
	const n = 20_000
	known := maphash.MakeSeed() // the attacker's view: an unseeded or leaked hash
	rng := rand.New(rand.NewPCG(1, 2))
	x := newIndex(n)
	bits := uint64(255) // craft on the low 8 bits of the home cell: 256 tries each
	crafted := make([]endpoint, 0, n)
	for len(crafted) < n {
		ep := endpointOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), uint16(rng.Uint32())))
		if ep.hashWith(known)&x.mask&bits == 0 {
			crafted = append(crafted, ep)
		}
	}
	random := make([]endpoint, n)
	for i := range random {
		random[i] = endpointOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}), uint16(rng.Uint32())))
	}
	withKnown := func(e *endpoint) uint64 { return e.hashWith(known) }
	withSecret := func(e *endpoint) uint64 { return e.hash() }
	attack := meanProbes(crafted, withKnown)
	got, base := meanProbes(crafted, withSecret), meanProbes(random, withSecret)
	t.Logf("mean probes: crafted under the known seed %.1f; under the secret seed crafted %.2f, random %.2f", attack, got, base)
	if attack < 10*base {
		t.Fatalf("the crafted set does not collide under the known seed (%.1f vs %.2f): the test proves nothing", attack, base)
	}
	if got > 1.5*base {
		t.Fatalf("crafted endpoints cost %.2f probes per lookup, random ones %.2f", got, base)
	}
}

// TestIPLimiterExact: 4,096 addresses, each at its cap, are never refused
// below it (no shared cells), and the cap holds per address; IPv6 counts
// per /64.
func TestIPLimiterExact(t *testing.T) {
	l := newIPLimiter(8)
	addr := func(i int) [16]byte {
		return netip.AddrFrom4([4]byte{10, 5, byte(i >> 8), byte(i)}).As16()
	}
	for i := range 4096 {
		a := addr(i)
		for k := range 8 {
			if !l.acquire(&a) {
				t.Fatalf("address %d refused at %d of 8", i, k)
			}
		}
		if l.acquire(&a) {
			t.Fatalf("address %d over its cap", i)
		}
	}
	a := addr(7)
	l.release(&a)
	if !l.acquire(&a) {
		t.Fatal("a released place was not reusable")
	}
	v6a := netip.MustParseAddr("2001:db8:1:2::1").As16()
	v6b := netip.MustParseAddr("2001:db8:1:2:ffff::9").As16()
	v6c := netip.MustParseAddr("2001:db8:1:3::1").As16()
	for range 4 {
		l.acquire(&v6a)
		l.acquire(&v6b)
	}
	if l.acquire(&v6a) || l.count(&v6b) != 8 {
		t.Fatalf("one /64 holds %d, want the cap of 8 shared", l.count(&v6a))
	}
	if !l.acquire(&v6c) {
		t.Fatal("another /64 was refused")
	}
	for i := range 4096 {
		a := addr(i)
		for l.count(&a) > 0 {
			l.release(&a)
		}
	}
	for _, v := range [][16]byte{v6a, v6c} {
		for l.count(&v) > 0 {
			l.release(&v)
		}
	}
	for i := range l.stripes {
		if n := len(l.stripes[i].n); n != 0 {
			t.Fatalf("stripe %d: %d entries left after every release", i, n)
		}
	}
}

// TestIndexShrinks: after a flood of sessions is freed, the index gives its
// cells back, and what is left is still found.
func TestIndexShrinks(t *testing.T) {
	x := newIndex(1)
	var m slabMeta
	const n = 20_000
	for i := range n {
		slot, _ := m.alloc()
		ep := endpointOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 6, byte(i >> 8), byte(i)}), 7000))
		m.meta(slot).ep = ep
		x.insert(ep.hash(), slot)
	}
	peak := len(x.cells)
	for i := int32(10); i < n; i++ {
		x.remove(m.meta(i).ep.hash(), i)
	}
	if len(x.cells) > 64 || x.n != 10 {
		t.Fatalf("%d cells for %d entries after the flood (peak %d)", len(x.cells), x.n, peak)
	}
	for i := int32(0); i < 10; i++ {
		ep := m.meta(i).ep
		if got := x.find(ep.hash(), &ep, &m); got != i {
			t.Fatalf("slot %d found as %d after shrinking", i, got)
		}
	}
}
