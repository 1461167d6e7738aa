// Package pool provides the engine's buffer pools, both shard-owned: Pool,
// fixed-size datagram buffers named by pointer-free handles, and Sized,
// size-classed buffers for what a session keeps between calls (it backs
// proto.Allocator). They are the module's only buffer pools.
//
// # Model
//
// A Pool carves one slab, allocated once by New, into Cap() buffers of
// BufSize() bytes. Get hands out a buffer as a Handle, a pointer-free
// uint32, so tables of handles cost the garbage collector nothing; Bytes
// turns a handle into its buffer; Put gives it back. The pool never grows:
// when every buffer is out, Get fails and counts a miss, and the caller drops
// whatever it wanted the buffer for (and counts that drop by reason). Free
// buffers are kept on a LIFO stack of indices, so the buffer released last,
// still warm in cache, is handed out next.
//
// DatagramSize and GROSize are the two buffer sizes the engine uses; see
// their docs for where the numbers come from.
//
// # Ownership and concurrency
//
// A Pool belongs to one goroutine, its owner (a shard). Get, Put and the
// statistics methods are called by the owner only; there are no locks and
// no atomics on that path, and no sync.Pool.
//
// A buffer may travel: the owner can pass a handle (with or without its
// slice) to another goroutine over a ring, which may then read and write the
// buffer and call Bytes on the handle. But the buffer must come back to its
// owner before it is released: Put is owner-only, so a shard that is done
// with a foreign buffer returns the handle to its owner over a ring, and the
// owner calls Put. The ring's happens-before edges make the buffer's
// contents and its release safe to hand over.
//
// A handle is valid from the Get that returned it until the Put that
// releases it. After Put, neither the handle nor any slice obtained from it
// may be used.
//
// # Debug mode
//
// Options{Debug: true} turns programmer errors into panics with a clear
// message, for tests: every slot carries a generation number, copied into
// the handles that Get returns and bumped by Put, so Bytes or Put with a
// released (stale) handle, a double Put, an invalid or foreign handle are
// caught; and Put fills the buffer with a poison byte that Get checks, so a
// write through a slice kept after Put is caught when the buffer is next
// handed out. Generations are 7 bits: a stale handle goes unnoticed again
// once its slot has been reused a multiple of 128 times. Debug mode costs a
// pass over each buffer on Get and Put; it is for tests, not production.
//
// Without debug mode, Put still panics on the cheap-to-detect errors (an
// out-of-range handle, or a Put when every buffer is already free), but a
// double Put of a buffer while others are out corrupts the free list
// silently.
package pool
