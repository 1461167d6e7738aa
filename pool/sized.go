package pool

import "math/bits"

// Sized is the variable-size side of the package: power-of-two size classes
// from 64 bytes to 1 MiB with LIFO free lists, for the memory a session
// keeps between calls (stored reliable packets, reorder copies, fragment
// reassembly, the hold buffer). It implements proto.Allocator (Get(n),
// Put(b)) without importing proto: the interface lives at its consumer.
//
// Unlike Pool it does grow, on demand, because a session's needs are not
// known at start; what bounds it is the protocol's per-session caps (send
// queue, reorder queue, reassembly), each with its own counter. Each free
// list is capped so an idle Sized keeps at most about 8 MiB per class;
// requests over 1 MiB are made and dropped on Put. The zero value is ready.
// Owner only, like Pool: one per shard, no locks.
type Sized struct {
	free [sizedClasses][][]byte
}

const (
	sizedMinShift = 6
	sizedClasses  = 15 // 64 B .. 1 MiB
	sizedKeep     = 8 << 20
)

func sizedClass(n int) int {
	if n <= 1<<sizedMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - sizedMinShift
}

// Get returns a slice of length n (capacity the class size, ≥ n).
func (p *Sized) Get(n int) []byte {
	c := sizedClass(n)
	if c >= sizedClasses {
		return make([]byte, n)
	}
	l := p.free[c]
	if k := len(l); k > 0 {
		b := l[k-1]
		l[k-1] = nil
		p.free[c] = l[:k-1]
		return b[:n]
	}
	return make([]byte, n, 1<<(c+sizedMinShift))
}

// Put returns b to its class; slices whose capacity is not a class size are
// left to the garbage collector.
func (p *Sized) Put(b []byte) {
	c := cap(b)
	if c < 1<<sizedMinShift || c&(c-1) != 0 {
		return
	}
	k := sizedClass(c)
	if k >= sizedClasses || len(p.free[k]) >= max(16, sizedKeep>>(k+sizedMinShift)) {
		return
	}
	p.free[k] = append(p.free[k], b[:0])
}

// Held reports how many buffers and bytes the free lists keep, for tests
// and metrics.
func (p *Sized) Held() (bufs, bytes int) {
	for c, l := range p.free {
		bufs += len(l)
		bytes += len(l) << (c + sizedMinShift)
	}
	return
}
