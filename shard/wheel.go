package shard

import "math/bits"

// wheel is a shard's hashed timer wheel. Each session has at most one
// timer: its next deadline. Slot lists are intrusive, linked through the
// slab metadata by slot index, so the wheel is pointer-free and arming
// allocates nothing. A session whose deadline is further away than one
// revolution stays in its slot and is skipped (not fired) on the laps before
// its deadline; an idle session therefore costs nothing between its visits,
// whatever the number of sessions.
type wheel struct {
	tickNs int64
	heads  []int32  // first slab slot per wheel slot, -1 empty
	occ    []uint64 // bitmap of non-empty wheel slots
	mask   int64
	cur    int64 // next tick to process
	armed  int
}

// wheelSlots is the number of slots: with 4 ms ticks one revolution is
// about 16 s, longer than keepalive (9 s), so most deadlines land in the
// current lap.
const wheelSlots = 4096

func newWheel(tickNs int64, now int64) wheel {
	w := wheel{tickNs: tickNs, heads: make([]int32, wheelSlots), occ: make([]uint64, wheelSlots/64), mask: wheelSlots - 1}
	for i := range w.heads {
		w.heads[i] = -1
	}
	w.cur = now / tickNs
	return w
}

// arm files slot i under deadline when (ns), replacing any earlier timer.
// A deadline in the past fires at the next advance.
func (w *wheel) arm(t *slabMeta, i int32, when int64) {
	m := t.meta(i)
	tick := (when + w.tickNs - 1) / w.tickNs
	if tick < w.cur {
		tick = w.cur
	}
	if m.tTick >= 0 {
		if m.tTick&w.mask == tick&w.mask {
			m.tTick, m.when = tick, when
			return
		}
		w.unlink(t, i, m)
	}
	m.tTick, m.when = tick, when
	s := tick & w.mask
	m.tPrev, m.tNext = -1, w.heads[s]
	if m.tNext >= 0 {
		t.meta(m.tNext).tPrev = i
	}
	w.heads[s] = i
	w.occ[s>>6] |= 1 << (s & 63)
	w.armed++
}

// disarm removes slot i's timer, if any.
func (w *wheel) disarm(t *slabMeta, i int32) {
	if m := t.meta(i); m.tTick >= 0 {
		w.unlink(t, i, m)
	}
}

func (w *wheel) unlink(t *slabMeta, i int32, m *meta) {
	s := m.tTick & w.mask
	if m.tPrev >= 0 {
		t.meta(m.tPrev).tNext = m.tNext
	} else {
		w.heads[s] = m.tNext
		if m.tNext < 0 {
			w.occ[s>>6] &^= 1 << (s & 63)
		}
	}
	if m.tNext >= 0 {
		t.meta(m.tNext).tPrev = m.tPrev
	}
	m.tNext, m.tPrev, m.tTick = -1, -1, -1
	w.armed--
}

// expire moves every timer due at now (ns) into due (unlinked) and returns
// it. Timers filed in a passed slot but due on a later lap stay.
func (w *wheel) expire(t *slabMeta, now int64, due []int32) []int32 {
	end := now / w.tickNs // last tick to process, inclusive
	if end < w.cur {
		return due
	}
	n := end - w.cur + 1
	if n > wheelSlots {
		n = wheelSlots // one revolution visits every slot
	}
	for k := int64(0); k < n; k++ {
		s := (w.cur + k) & w.mask
		if w.occ[s>>6]&(1<<(s&63)) == 0 {
			continue
		}
		for i := w.heads[s]; i >= 0; {
			m := t.meta(i)
			next := m.tNext
			if m.when <= now {
				w.unlink(t, i, m)
				due = append(due, i)
			}
			i = next
		}
	}
	w.cur = end + 1
	return due
}

// next returns the start time (ns) of the first non-empty slot at or after
// the current tick, looking at most one revolution ahead, and false when no
// timer is armed. The slot may hold only later-lap timers; the shard then
// wakes, finds nothing due and sleeps again, once per revolution.
func (w *wheel) next() (int64, bool) {
	if w.armed == 0 {
		return 0, false
	}
	start := w.cur & w.mask
	for k := int64(0); k <= wheelSlots; {
		s := (start + k) & w.mask
		word := w.occ[s>>6] >> (s & 63)
		if word != 0 {
			k += int64(bits.TrailingZeros64(word))
			return (w.cur + k) * w.tickNs, true
		}
		k += 64 - (s & 63)
	}
	return 0, false
}
