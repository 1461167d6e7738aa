package pool

import (
	"fmt"
	"sync/atomic"
)

// Buffer size presets, from SPEC §18.2 (EQEmu's defaults).
const (
	// DatagramSize fits one datagram of the session protocol: RS's
	// max_packet_size default of 512, which is also its pooled send buffer
	// size and the combined-build buffer size.
	DatagramSize = 512

	// GROSize fits one receive: RS's receive buffer of 65536 bytes. It is
	// also the most one UDP GRO read can return (the kernel caps a coalesced
	// GRO packet at 64 KiB, the IP datagram length limit), so a buffer of
	// this size takes any read the kernel can deliver.
	GROSize = 65536
)

// Handle names one buffer of a Pool. It holds no pointer, so tables of
// handles cost the garbage collector nothing. The zero Handle is never
// returned by Get, so it can mean "no buffer".
//
// Layout: bit 31 is set on every handle Get returns; bits 24-30 carry the
// slot's generation in debug mode (0 otherwise); bits 0-23 are the slot
// index.
type Handle uint32

const (
	indexBits = 24
	indexMask = 1<<indexBits - 1
	genShift  = indexBits
	genMask   = 1<<7 - 1
	tag       = Handle(1) << 31

	// MaxCapacity is the largest number of buffers a Pool can hold: what a
	// Handle's index field can name.
	MaxCapacity = 1 << indexBits

	// poison fills released buffers in debug mode.
	poison = 0xDB
)

func (h Handle) index() int  { return int(h & indexMask) }
func (h Handle) gen() uint32 { return uint32(h>>genShift) & genMask }

// Options tunes a Pool. The zero value is the production setting.
type Options struct {
	// Debug makes misuse of handles and released buffers panic; see the
	// package doc. For tests.
	Debug bool
}

// Pool is a fixed set of equal-sized buffers owned by one goroutine. See the
// package doc for the ownership rules. Construct with New.
type Pool struct {
	slab  []byte  // Cap() buffers of size bytes, back to back
	size  int     // bytes per buffer
	free  []int32 // stack of free slot indices; the top is the warmest
	gets  uint64
	miss  uint64
	debug bool

	// state per slot, debug mode only: generation<<1 | 1 while handed out.
	// Atomic so that Bytes, which may run on a goroutine the buffer was
	// passed to, can check it without racing with the owner's Get and Put.
	state []atomic.Uint32
}

// New returns a pool of capacity buffers of bufSize bytes each, allocating
// its slab (bufSize*capacity bytes) now and never again. It panics if
// bufSize < 1, capacity < 1, capacity > MaxCapacity, or the slab size does
// not fit in an int: pool sizes are configuration, and a bad one is a
// programmer error.
func New(bufSize, capacity int, opts Options) *Pool {
	if bufSize < 1 || capacity < 1 || capacity > MaxCapacity {
		panic(fmt.Sprintf("pool: New(%d, %d): want bufSize >= 1 and capacity in [1, %d]", bufSize, capacity, MaxCapacity))
	}
	if bufSize > int(^uint(0)>>1)/capacity {
		panic(fmt.Sprintf("pool: New(%d, %d): slab size overflows int", bufSize, capacity))
	}
	p := &Pool{
		slab:  make([]byte, bufSize*capacity),
		size:  bufSize,
		free:  make([]int32, capacity),
		debug: opts.Debug,
	}
	// Fill the stack so that slot 0 is on top: the first Gets walk the slab
	// in address order.
	for i := range p.free {
		p.free[i] = int32(capacity - 1 - i)
	}
	if p.debug {
		p.state = make([]atomic.Uint32, capacity)
		for i := range p.slab {
			p.slab[i] = poison
		}
	}
	return p
}

// Get takes a free buffer and returns its handle. ok is false, and a miss is
// counted, when every buffer is in use. The buffer holds whatever its last
// user left in it (poison in debug mode). Owner only.
func (p *Pool) Get() (h Handle, ok bool) {
	n := len(p.free)
	if n == 0 {
		p.miss++
		return 0, false
	}
	i := p.free[n-1]
	p.free = p.free[:n-1]
	p.gets++
	if p.debug {
		return p.debugGet(int(i)), true
	}
	return tag | Handle(i), true
}

// Bytes returns the buffer h names: len and cap are both BufSize(), so an
// append cannot spill into the next buffer. The slice is valid until h is
// released. Any goroutine that holds h may call Bytes.
func (p *Pool) Bytes(h Handle) []byte {
	if p.debug {
		return p.debugBytes(h)
	}
	// Not range-checked outside debug mode, to stay within the inlining
	// budget: a handle from Get is tag|index, so h^tag is the index, and
	// anything else (the zero Handle gives 1<<31 on 64-bit platforms)
	// indexes past the slab and makes the slice expression panic, which is
	// the right outcome for a programmer error.
	return p.slab[int(h^tag)*p.size:][:p.size:p.size]
}

// Put releases the buffer h names; h and every slice from it become invalid.
// Owner only. It panics on a handle this pool cannot have issued and when
// every buffer is already free; debug mode catches more (see the package
// doc).
func (p *Pool) Put(h Handle) {
	var i uint
	if p.debug {
		i = uint(p.debugPut(h))
	} else {
		i = uint(h ^ tag) // the index, or out of range for a bad handle
	}
	if i >= uint(cap(p.free)) || len(p.free) == cap(p.free) {
		p.badPut(h)
	}
	p.free = append(p.free, int32(i)) // never grows: len < cap checked above
}

// BufSize returns the size of every buffer in bytes.
func (p *Pool) BufSize() int { return p.size }

// Cap returns the number of buffers, the hard cap on InUse.
func (p *Pool) Cap() int { return cap(p.free) }

// InUse returns the number of buffers handed out and not yet released.
// Owner only.
func (p *Pool) InUse() int { return cap(p.free) - len(p.free) }

// Gets returns the number of successful Gets so far. Owner only.
func (p *Pool) Gets() uint64 { return p.gets }

// Misses returns the number of Gets that failed because every buffer was in
// use. Owner only.
func (p *Pool) Misses() uint64 { return p.miss }

// Debug reports whether the pool runs in debug mode.
func (p *Pool) Debug() bool { return p.debug }

// The rest is the slow path: debug checks and panics, kept out of the
// inlined fast path.

func (p *Pool) badPut(h Handle) {
	if h&tag == 0 || h.index() >= cap(p.free) || (!p.debug && h.gen() != 0) {
		panic(fmt.Sprintf("pool: Put of invalid handle %#x (pool has %d buffers)", uint32(h), cap(p.free)))
	}
	panic(fmt.Sprintf("pool: Put of handle %#x with every buffer already free: double Put", uint32(h)))
}

func (p *Pool) debugGet(i int) Handle {
	b := p.slab[i*p.size : (i+1)*p.size]
	for j, c := range b {
		if c != poison {
			panic(fmt.Sprintf("pool: buffer %d was written after Put (byte %d is %#x): use after release", i, j, c))
		}
	}
	s := p.state[i].Load()
	p.state[i].Store(s | 1)
	return tag | Handle(s>>1)<<genShift | Handle(i)
}

// debugBytes is Bytes with the checks.
//
//go:noinline
func (p *Pool) debugBytes(h Handle) []byte {
	i := p.check(h, "Bytes")
	return p.slab[i*p.size : (i+1)*p.size : (i+1)*p.size]
}

func (p *Pool) debugPut(h Handle) int {
	i := p.check(h, "Put")
	s := p.state[i].Load()
	p.state[i].Store((s>>1 + 1) & genMask << 1) // next generation, free
	b := p.slab[i*p.size : (i+1)*p.size]
	for j := range b {
		b[j] = poison
	}
	return i
}

// check panics unless h names a buffer that is handed out under h's
// generation, and returns its index.
func (p *Pool) check(h Handle, op string) int {
	i := h.index()
	if h&tag == 0 || i >= len(p.state) {
		panic(fmt.Sprintf("pool: %s of invalid handle %#x (pool has %d buffers)", op, uint32(h), len(p.state)))
	}
	s := p.state[i].Load()
	switch gen, out := s>>1, s&1 == 1; {
	case gen == h.gen() && out:
		// The one good case.
	case gen == (h.gen()+1)&genMask && !out:
		panic(fmt.Sprintf("pool: %s of handle %#x after Put: double Put or use after release", op, uint32(h)))
	case gen != h.gen():
		panic(fmt.Sprintf("pool: %s of stale handle %#x (generation %d, buffer %d is at %d): use after release", op, uint32(h), h.gen(), i, gen))
	default:
		panic(fmt.Sprintf("pool: %s of handle %#x, which this pool has not handed out", op, uint32(h)))
	}
	return i
}
