package ring

// SPSC is a bounded single-producer single-consumer ring.
//
// One goroutine calls Push; one (other or the same) goroutine calls Pop,
// PopN and Len. See the package doc for the exact contract. The zero value
// is not usable: construct with NewSPSC.
type SPSC[T any] struct {
	_ [cacheLine]byte // keeps tail off whatever the allocator put before us

	tail uint64 // next position to write; producer only
	_    pad

	consumer[T]
}

// NewSPSC returns an empty SPSC ring holding up to capacity values, rounded
// up to a power of two and to at least 2. It panics if capacity is < 1 or
// > 1<<30.
func NewSPSC[T any](capacity int) *SPSC[T] {
	return &SPSC[T]{consumer: newConsumer[T](capacity)}
}

// Push appends v and reports whether there was room. It returns false,
// leaving the ring unchanged, when the ring is full. Producer only.
func (r *SPSC[T]) Push(v T) bool {
	t := r.tail
	s := &r.slots[t&r.mask]
	if s.seq.Load() != t {
		return false // the consumer has not emptied this slot yet: full
	}
	s.val = v
	s.seq.Store(t + 1) // publishes val to the consumer
	r.tail = t + 1
	return true
}

// Len returns the number of values ready to pop. Consumer only: it is
// derived from the consumer's private index and the slots, in O(log Cap).
// Concurrent pushes can only raise the true count, so the result lies
// between the count when Len was called and the count when it returned.
func (r *SPSC[T]) Len() int {
	// The written slots from head form a prefix of [head, head+cap) that
	// only grows while the consumer is here: binary-search its end.
	lo, hi := uint64(0), r.mask+1 // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2 // > lo, <= hi
		pos := r.head + mid - 1
		if r.slots[pos&r.mask].seq.Load() == pos+1 {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return int(lo)
}

// Empty reports whether there is nothing to pop. Consumer only. It is the
// cheap form of Len() == 0 for a consumer that polls: one atomic load of
// the slot it would read next, instead of Len's search over slots that
// producers on other cores write. A concurrent push can make a true
// result stale at once, as with Len.
func (r *SPSC[T]) Empty() bool { return r.empty() }

// Pop removes and returns the oldest value. ok is false, and v the zero
// value, when the ring is empty. Consumer only.
func (r *SPSC[T]) Pop() (v T, ok bool) { return r.pop() }

// PopN moves up to len(dst) of the oldest values into dst, in order, and
// returns how many it moved. Consumer only.
func (r *SPSC[T]) PopN(dst []T) int { return r.popN(dst) }

// Cap returns the ring's capacity, a power of two.
func (r *SPSC[T]) Cap() int { return r.capacity() }
