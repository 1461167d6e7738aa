package ring

import "sync/atomic"

// MPSC is a bounded multi-producer single-consumer ring, used for shard
// inboxes: any goroutine may Push, one goroutine calls Pop, PopN and Len.
// See the package doc for the exact contract. The zero value is not usable:
// construct with NewMPSC.
type MPSC[T any] struct {
	_ [cacheLine]byte // keeps tail off whatever the allocator put before us

	// tail is the next position to claim; producers CAS it.
	tail atomic.Uint64
	_    pad

	consumer[T]
}

// NewMPSC returns an empty MPSC ring holding up to capacity values, rounded
// up to a power of two and to at least 2. It panics if capacity is < 1 or
// > 1<<30.
func NewMPSC[T any](capacity int) *MPSC[T] {
	return &MPSC[T]{consumer: newConsumer[T](capacity)}
}

// Push appends v and reports whether there was room. It returns false,
// leaving the ring unchanged, when the ring is full. Safe for concurrent use
// by any number of producers. It never blocks: it retries only when another
// producer won the race for the same position, which means that producer
// made progress.
func (r *MPSC[T]) Push(v T) bool {
	pos := r.tail.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			// The slot is free for pos; claim pos.
			if r.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publishes val to the consumer
				return true
			}
			pos = r.tail.Load()
		case d < 0:
			// The slot still holds the value from one lap ago: full.
			return false
		default:
			// Another producer claimed pos already; catch up.
			pos = r.tail.Load()
		}
	}
}

// Len returns the number of claimed, not yet popped values (a value whose
// producer is mid-Push counts, though Pop cannot return it yet). Consumer
// only. Concurrent pushes can only raise the count, so the result lies
// between the count when Len was called and the count when it returned.
func (r *MPSC[T]) Len() int {
	return int(min(r.tail.Load()-r.head, r.mask+1))
}

// Empty reports whether there is no published value to pop (a value whose
// producer is mid-Push is not there yet: that producer looks for a
// sleeping consumer after it publishes). Consumer only. One atomic load of
// the slot it would read next, where Len loads the producers' shared index.
func (r *MPSC[T]) Empty() bool { return r.empty() }

// Pop removes and returns the oldest published value. ok is false, and v the
// zero value, when the ring is empty, or when the oldest claimed slot is
// still being written by its producer (see the package doc). Consumer only.
func (r *MPSC[T]) Pop() (v T, ok bool) { return r.pop() }

// PopN moves up to len(dst) of the oldest published values into dst, in
// order, and returns how many it moved. It stops early at the first slot
// that is claimed but not yet written. Consumer only.
func (r *MPSC[T]) PopN(dst []T) int { return r.popN(dst) }

// Cap returns the ring's capacity, a power of two.
func (r *MPSC[T]) Cap() int { return r.capacity() }
