package shard

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// TestSlabShrinksAfterFlood opens a flood of proven sessions behind a few
// that stay, lets the flood time out (virtual time), and checks that the
// slab gave its pages back (sessions, metadata, credit pages, free list),
// the index shrank, the sessions that stayed still work, and IDs of the
// flood stay stale when the pages are made again.
func TestSlabShrinksAfterFlood(t *testing.T) {
	const stay, flood = 5, 64 * pageSize
	sock := &memSocket{}
	h := newTally()
	g, err := NewGroup(Config{Proto: proto.DefaultConfig()}, []Socket{sock}, h)
	if err != nil {
		t.Fatal(err)
	}
	s := g.Shard(0)
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 3000)
	}
	// The sessions that stay keep their first datagram (a keepalive whose
	// CRC proves their key) to refresh themselves with later.
	keep := make([][]byte, stay)
	for i := range stay {
		keep[i] = proofDgram(t, s, addr(i))
		sock.in = append(sock.in, memDgram{keep[i], addr(i)})
	}
	step(s)
	var ms0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i := stay; i < stay+flood; i++ {
		sock.in = append(sock.in, memDgram{proofDgram(t, s, addr(i)), addr(i)})
		if len(sock.in) == 64 {
			step(s)
		}
	}
	step(s)
	if len(h.ids) != stay+flood {
		t.Fatalf("%d sessions opened", len(h.ids))
	}
	stale := h.ids[len(h.ids)-1] // a flood session on the last page
	var ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	pages, cells := len(s.pages), len(s.index.cells)
	if pages < flood/pageSize {
		t.Fatalf("%d pages for %d sessions", pages, stay+flood)
	}
	// Half the stale timeout: the stayers speak; then the flood times out.
	advance(s, s.cfg.Proto.StaleConnection/2)
	for i := range stay {
		sock.in = append(sock.in, memDgram{keep[i], addr(i)})
	}
	step(s)
	advance(s, s.cfg.Proto.StaleConnection/2+time.Second)
	step(s)
	step(s)
	if open := s.Counters().SessionsOpen.Load(); open != stay {
		t.Fatalf("%d sessions open after the flood timed out", open)
	}
	var ms2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms2)
	t.Logf("heap in use: %d KiB before, %d KiB with %d flood sessions, %d KiB after they timed out; slab pages %d -> %d, index cells %d -> %d",
		ms0.HeapInuse>>10, ms1.HeapInuse>>10, flood, ms2.HeapInuse>>10, pages, len(s.pages), cells, len(s.index.cells))
	if len(s.pages) != 1 || len(s.meta.pages) != 1 || len(s.meta.used) != 1 || s.meta.n > pageSize {
		t.Fatalf("slab kept %d session pages, %d meta pages, n %d", len(s.pages), len(s.meta.pages), s.meta.n)
	}
	if len(s.meta.free) > pageSize || cap(s.meta.free) > 4*pageSize {
		t.Fatalf("free list %d (cap %d)", len(s.meta.free), cap(s.meta.free))
	}
	if len(s.index.cells) > 64 {
		t.Fatalf("index kept %d cells", len(s.index.cells))
	}
	for p := 1; p < pages; p++ {
		if s.credits.dir[p].Load() != nil {
			t.Fatalf("credit page %d kept", p)
		}
	}
	if ms2.HeapInuse > ms0.HeapInuse+(ms1.HeapInuse-ms0.HeapInuse)/4 {
		t.Errorf("heap did not come back: %d -> %d -> %d", ms0.HeapInuse, ms1.HeapInuse, ms2.HeapInuse)
	}
	// The stayers are intact.
	for _, id := range h.ids[:stay] {
		if s.lookup(id) < 0 {
			t.Fatalf("session %v lost", id)
		}
	}
	// A second flood remakes the pages: the first flood's IDs stay stale.
	for i := stay + flood; i < stay+2*flood; i++ {
		sock.in = append(sock.in, memDgram{proofDgram(t, s, addr(i)), addr(i)})
		if len(sock.in) == 64 {
			step(s)
		}
	}
	step(s)
	if stale.Slot() >= s.meta.n {
		t.Fatalf("slot %d not remade (n %d)", stale.Slot(), s.meta.n)
	}
	if s.lookup(stale) >= 0 || s.meta.meta(stale.Slot()).gen <= stale.Gen() {
		t.Fatalf("stale ID %v names a new session (gen %d)", stale, s.meta.meta(stale.Slot()).gen)
	}
	if err := s.Send(stale, 0, []byte{1, 2}, true); err == nil {
		t.Fatal("send on a stale ID accepted")
	}
	assertOutcomes(t, s)
}

// TestSlotsLowestFirst: freed slots are reused lowest first, and a slab
// hovering at a page boundary never gives pages back (hysteresis).
func TestSlotsLowestFirst(t *testing.T) {
	var m slabMeta
	for range 3 * pageSize {
		m.alloc()
	}
	for _, i := range []int32{700, 5, 300, 6} {
		m.release(i)
	}
	for _, want := range []int32{5, 6, 300, 700, 3 * pageSize} {
		if i, _ := m.alloc(); i != want {
			t.Fatalf("alloc %d, want %d", i, want)
		}
	}
	m.release(3 * pageSize) // the fourth page is empty again: one page, kept
	if m.trim() != -1 || len(m.pages) != 4 {
		t.Fatalf("trimmed a single empty page (%d pages)", len(m.pages))
	}
}
