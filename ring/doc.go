// Package ring provides bounded, lock-free, allocation-free queues for
// handing values between goroutines: SPSC (one producer, one consumer; the
// shard-to-shard handoff) and MPSC (many producers, one consumer; the shard
// inbox).
//
// # Model
//
// A ring holds at most Cap() values, a power of two: the requested capacity
// is rounded up, to at least 2. Push never blocks and never allocates: it
// returns false when the ring is full, and the caller decides what a full
// ring means (usually: drop the value and count the drop). Pop and PopN
// never block either; they return what is available now. Popped slots are
// reset to the zero value, so a ring never keeps a pointer alive after the
// consumer has taken it.
//
// Both rings are Dmitry Vyukov's bounded queue with a sequence number per
// slot: each side decides whether it may proceed by reading the slot it is
// about to use, not the other side's index, so the indices are private
// plain fields and one shared cache line moves per element.
//
// # Ownership
//
//   - SPSC.Push is called by one producer goroutine at a time.
//   - MPSC.Push may be called by any number of goroutines concurrently.
//   - Pop, PopN and Len (both rings) are called by one consumer goroutine at
//     a time. Len is consumer-only because the consumer's index is private;
//     a producer learns "full" from Push, and a goroutine that wants a depth
//     gauge counts pushes and pops itself.
//   - A role may move to another goroutine only across some other
//     happens-before edge (a channel, a mutex, a WaitGroup), never while the
//     old owner may still be calling.
//   - Cap may be called from any goroutine.
//
// The producer and the consumer may be the same goroutine.
//
// # Memory ordering
//
// Every successful Push happens before the Pop (or PopN) that returns its
// value: everything the producer wrote before Push (for example the bytes of
// a buffer whose handle it pushes) is visible to the consumer once Pop
// returns the value. Likewise the Pop that empties a slot happens before the
// Push that reuses it, so a producer never overwrites a value still being
// read. The edges are sync/atomic operations on the per-slot sequence
// numbers (sequentially consistent in Go's memory model); the values
// themselves are plain memory protected by those edges, so the race
// detector sees correct use as race-free.
//
// For MPSC, values from one producer come out in the order that producer
// pushed them; values from different producers interleave in the order
// their Push calls claimed positions. A producer that has claimed a
// position but not yet written it (it was descheduled between the two steps
// of Push) hides the values claimed after it until it finishes: the consumer
// sees the ring as empty at that slot rather than skipping it, which keeps
// per-producer order. Nobody waits on it; a later Pop finds the value.
//
// # Layout
//
// The producer's index and the consumer's index sit on separate cache lines,
// padded to 128 bytes (which also defeats the adjacent-line prefetcher on
// x86), away from the read-only slice header, so the two sides never
// invalidate each other's lines through the indices.
package ring
