package proto

import (
	"math/bits"
	"unsafe"
)

// rings is an Env's free lists of one kind of ring, one list per
// power-of-two length from 8 to 8192 entries (maxRing). A session hands its empty
// rings back when it idles (Config.IdleRelease) and takes them again with
// its next reliable send or out-of-order packet; without the lists, a
// session that sends every few seconds (past IdleRelease each time)
// allocated a sent ring per message on both ends, which at 100,000 such
// sessions was 10 MB/s of garbage. The lists of one kind keep at most
// ringKeep bytes together, so an Env whose sessions all went idle (or a
// peer that made them grow reorder rings and then fell silent) pins at
// most that beyond what sessions hold; the rest go to the collector.
type rings[T any] struct {
	free  [ringClasses][][]T
	bytes int // of the rings in free
}

const (
	ringMinShift = 3  // 8 entries
	ringClasses  = 11 // to maxRing
	ringKeep     = 8 << 20
)

// ringClass is the list of a ring of n entries (a power of two ≥ 8).
func ringClass(n int) int { return bits.Len(uint(n-1)) - ringMinShift }

// get returns a zeroed ring of n entries (n a power of two ≥ 8).
func (r *rings[T]) get(n int) []T {
	if c := ringClass(n); c < ringClasses {
		if l := r.free[c]; len(l) > 0 {
			ring := l[len(l)-1]
			l[len(l)-1] = nil
			r.free[c] = l[:len(l)-1]
			r.bytes -= n * r.entry()
			return ring
		}
	}
	return make([]T, n)
}

// put takes back a ring nobody indexes any more (whatever it pointed to
// already returned), zeroing it so it pins nothing.
func (r *rings[T]) put(ring []T) {
	n := len(ring)
	if n < 1<<ringMinShift || n&(n-1) != 0 {
		return
	}
	c := ringClass(n)
	if c >= ringClasses || r.bytes+n*r.entry() > ringKeep {
		return
	}
	clear(ring)
	r.free[c] = append(r.free[c], ring)
	r.bytes += n * r.entry()
}

func (r *rings[T]) entry() int {
	var t T
	return int(unsafe.Sizeof(t))
}

// held reports how many rings the lists keep, and their bytes.
func (r *rings[T]) held() (n, bytes int) {
	for c, l := range r.free {
		n += len(l)
		bytes += len(l) << (c + ringMinShift) * r.entry()
	}
	return
}
