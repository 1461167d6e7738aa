package proto

import (
	"math/bits"
	"unsafe"
)

// sentRings is an Env's free lists of sent rings, one per power-of-two
// length from 8 to 4096 entries. A session hands its empty ring back when
// it idles (Config.IdleRelease) and takes one again with its next reliable
// send; without the lists, a session that sends every few seconds (past
// IdleRelease each time) allocated a ring per message on both ends, which
// at 100,000 such sessions was 10 MB/s of garbage. Like pool.Sized's, each
// list is capped (about ringKeep bytes), so an Env whose sessions all went
// idle keeps at most that per length; the rest go to the collector.
type sentRings struct {
	free [ringClasses][][]sentEntry
}

const (
	ringMinShift = 3 // 8 entries: growSent's first length
	ringClasses  = 10
	ringKeep     = 8 << 20
	sentSize     = int(unsafe.Sizeof(sentEntry{}))
)

// ringClass is the list of a ring of n entries (a power of two ≥ 8).
func ringClass(n int) int { return bits.Len(uint(n-1)) - ringMinShift }

// get returns a zeroed ring of n entries (n a power of two ≥ 8).
func (r *sentRings) get(n int) []sentEntry {
	if c := ringClass(n); c < ringClasses {
		if l := r.free[c]; len(l) > 0 {
			ring := l[len(l)-1]
			l[len(l)-1] = nil
			r.free[c] = l[:len(l)-1]
			return ring
		}
	}
	return make([]sentEntry, n)
}

// put takes back a ring nobody indexes any more (its buffers already
// returned), zeroing it so it pins none of them.
func (r *sentRings) put(ring []sentEntry) {
	n := len(ring)
	if n < 1<<ringMinShift || n&(n-1) != 0 {
		return
	}
	c := ringClass(n)
	if c >= ringClasses || len(r.free[c]) >= max(16, ringKeep/(n*sentSize)) {
		return
	}
	clear(ring)
	r.free[c] = append(r.free[c], ring)
}

// held reports how many rings the lists keep, and their bytes.
func (r *sentRings) held() (rings, bytes int) {
	for c, l := range r.free {
		rings += len(l)
		bytes += len(l) << (c + ringMinShift) * sentSize
	}
	return
}
