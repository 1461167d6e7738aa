package shard

import (
	"hash/maphash"
	"net/netip"

	"github.com/eqgate/eqgate/proto"
)

// endpoint is a peer address in a pointer-free form: the 16-byte address
// (IPv4 mapped) and the port. netip.AddrPort carries a pointer (its zone
// handle), which would make the GC scan every slab entry.
type endpoint struct {
	addr [16]byte
	port uint16
}

func endpointOf(ap netip.AddrPort) endpoint {
	return endpoint{addr: ap.Addr().As16(), port: ap.Port()}
}

// AddrPort rebuilds the address; IPv4 comes back unmapped. No allocation:
// netip's IPv4 and IPv6 (no zone) forms use static handles.
func (e endpoint) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(e.addr).Unmap(), e.port)
}

// hash is seeded per process (hashSeed), so a flood of crafted endpoints
// cannot pile into one probe run of the index.
func (e *endpoint) hash() uint64 { return e.hashWith(hashSeed) }

func (e *endpoint) hashWith(seed maphash.Seed) uint64 {
	var b [18]byte
	copy(b[:16], e.addr[:])
	b[16], b[17] = byte(e.port), byte(e.port>>8)
	return maphash.Bytes(seed, b[:])
}

// index maps endpoint hashes to slab slots: open addressing with linear
// probing and backward-shift deletion (no tombstones), pointer-free so the
// GC never scans it. It grows (doubling, allocating) when more than half
// full, which happens only when a session is created, and halves when
// under an eighth full, when sessions are freed.
type index struct {
	cells []cell
	mask  uint64
	n     int
}

type cell struct {
	hash uint64
	slot int32 // slot+1; 0 is empty
}

func newIndex(capHint int) index {
	n := 64
	for n < 2*capHint {
		n <<= 1
	}
	return index{cells: make([]cell, n), mask: uint64(n - 1)}
}

// find returns the slot whose endpoint is ep (hash h), or -1.
func (x *index) find(h uint64, ep *endpoint, t *slabMeta) int32 {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		c := &x.cells[i]
		if c.slot == 0 {
			return -1
		}
		if c.hash == h && t.meta(c.slot-1).ep == *ep {
			return c.slot - 1
		}
	}
}

func (x *index) insert(h uint64, slot int32) {
	if 2*(x.n+1) > len(x.cells) {
		x.grow()
	}
	x.put(h, slot)
	x.n++
}

func (x *index) put(h uint64, slot int32) {
	i := h & x.mask
	for x.cells[i].slot != 0 {
		i = (i + 1) & x.mask
	}
	x.cells[i] = cell{hash: h, slot: slot + 1}
}

func (x *index) grow() { x.resize(2 * len(x.cells)) }

// resize rehashes into n cells (a power of two above 2·x.n).
func (x *index) resize(n int) {
	old := x.cells
	x.cells = make([]cell, n)
	x.mask = uint64(len(x.cells) - 1)
	for _, c := range old {
		if c.slot != 0 {
			x.put(c.hash, c.slot-1)
		}
	}
}

// remove deletes the cell holding slot (hash h), shifting later cells of
// the probe run back so lookups never stop early.
func (x *index) remove(h uint64, slot int32) {
	i := h & x.mask
	for {
		c := &x.cells[i]
		if c.slot == 0 {
			return // not present
		}
		if c.slot == slot+1 {
			break
		}
		i = (i + 1) & x.mask
	}
	x.n--
	j := i
	for {
		j = (j + 1) & x.mask
		c := x.cells[j]
		if c.slot == 0 {
			break
		}
		home := c.hash & x.mask
		// Move c back to i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.cells[i] = c
			i = j
		}
	}
	x.cells[i] = cell{}
	// Give memory back once a flood of sessions is gone: halve below an
	// eighth full (growth doubles above half, so the two never chase).
	if len(x.cells) > 64 && 8*x.n < len(x.cells) {
		x.resize(len(x.cells) / 2)
	}
}

// pageBits sizes slab pages: 256 entries a page. Pages never move, so a
// pointer to an entry stays valid while the slab grows (a callback may open
// sessions while its caller holds one).
const (
	pageBits = 8
	pageSize = 1 << pageBits
)

// Slot states.
const (
	slotFree uint8 = iota
	slotLive
	slotDead // closed; freed at the next safe point
)

// meta is the engine's pointer-free bookkeeping for one slot.
type meta struct {
	ep       endpoint
	hash     uint64
	gen      uint32
	state    uint8
	dirty    bool   // on the shard's flush list
	dialled  bool   // a client session this shard dialled (no admission caps to give back)
	sock     uint32 // the dialled session's own socket (Opener member), 0: the shard's socket
	halfOpen bool   // CRC 0: created by a SessionRequest, no valid datagram yet
	// seen is the proto.State the shard last saw the session in (settle),
	// behind the Connecting and Disconnecting gauges.
	seen proto.State
	// Timer wheel links (slot indexes, -1 for none) and the armed deadline.
	tNext, tPrev int32
	tTick        int64 // wheel tick the entry is filed under; -1: not armed
	when         int64 // deadline, ns on the shard clock
	// local is the address the peer last sent to (IPv4 mapped), replies'
	// source with a wildcard bind (localinfo.go); hasLocal says it is set.
	local    [16]byte
	hasLocal bool
}

// slabMeta is the metadata half of the slab, in pages. Free slots are
// reused lowest first, so that after a flood the sessions that stay gather
// in the low pages and the emptied pages at the end can be given back
// (trim).
type slabMeta struct {
	pages [][]meta
	n     int32    // slots handed out at least once in the current pages
	used  []int32  // per page: slots not free (live or dead)
	free  slotHeap // free slots below n
	gens  []uint32 // per page ever given back: the generation its slots start at when remade
}

func (t *slabMeta) meta(i int32) *meta { return &t.pages[i>>pageBits][i&(pageSize-1)] }

// alloc returns the lowest free slot, growing by a page when none is free.
// A slot's first generation is 1 (0 is never issued), or, on a page made
// again after trim, one past what the page had issued.
func (t *slabMeta) alloc() (int32, bool) {
	if len(t.free) > 0 {
		i := t.free.pop()
		t.used[i>>pageBits]++
		return i, false
	}
	i := t.n
	p := int(i) >> pageBits
	if p == len(t.pages) {
		pg := make([]meta, pageSize)
		for j := range pg {
			pg[j] = meta{tNext: -1, tPrev: -1, tTick: -1}
		}
		t.pages = append(t.pages, pg)
		t.used = append(t.used, 0)
	}
	t.n++
	t.used[p]++
	g := uint32(1)
	if p < len(t.gens) && t.gens[p] != 0 {
		g = t.gens[p]
	}
	t.meta(i).gen = g
	return i, true
}

// release bumps the slot's generation, so IDs naming the old session go
// stale, and puts it back on the free list.
func (t *slabMeta) release(i int32) {
	m := t.meta(i)
	g := m.gen + 1
	if g == 0 {
		g = 1
	}
	*m = meta{gen: g, tNext: -1, tPrev: -1, tTick: -1}
	t.free.push(i)
	t.used[i>>pageBits]--
}

// trim gives back the empty pages at the end of the slab once there are
// at least two and they are an eighth of it (so a count that hovers at a
// page boundary never remakes pages), keeping at least one page. It
// returns the new page count, or -1 when nothing changed. Filtering the
// free list costs O(free slots), paid only when an eighth of the pages go.
func (t *slabMeta) trim() int {
	keep := len(t.pages)
	for keep > 1 && t.used[keep-1] == 0 {
		keep--
	}
	if e := len(t.pages) - keep; e < 2 || 8*e < len(t.pages) {
		return -1
	}
	for p := keep; p < len(t.pages); p++ {
		for len(t.gens) <= p {
			t.gens = append(t.gens, 0)
		}
		var g uint32
		for j := range t.pages[p] {
			g = max(g, t.pages[p][j].gen)
		}
		if g++; g == 0 {
			g = 1
		}
		t.gens[p] = g
	}
	clear(t.pages[keep:])
	t.pages, t.used = t.pages[:keep], t.used[:keep]
	t.n = min(t.n, int32(keep)<<pageBits)
	t.free.keepBelow(t.n)
	return keep
}

// slotHeap is a min-heap of free slot indexes.
type slotHeap []int32

func (h *slotHeap) push(i int32) {
	*h = append(*h, i)
	x := *h
	for c := len(x) - 1; c > 0; {
		p := (c - 1) / 2
		if x[p] <= x[c] {
			break
		}
		x[p], x[c] = x[c], x[p]
		c = p
	}
}

func (h *slotHeap) pop() int32 {
	x := *h
	top := x[0]
	last := len(x) - 1
	x[0] = x[last]
	x = x[:last]
	*h = x
	h.down(0)
	return top
}

func (h slotHeap) down(p int) {
	for {
		c := 2*p + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && h[c+1] < h[c] {
			c++
		}
		if h[p] <= h[c] {
			return
		}
		h[p], h[c] = h[c], h[p]
		p = c
	}
}

// keepBelow drops the slots at or above n and restores the heap order,
// giving back the backing array when it is mostly unused.
func (h *slotHeap) keepBelow(n int32) {
	x := (*h)[:0]
	for _, i := range *h {
		if i < n {
			x = append(x, i)
		}
	}
	if cap(x) > 64 && 4*len(x) < cap(x) {
		x = append(slotHeap(nil), x...)
	}
	for p := len(x)/2 - 1; p >= 0; p-- {
		x.down(p)
	}
	*h = x
}
