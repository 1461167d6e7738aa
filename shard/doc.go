// Package shard is eqgate's engine: one shard is one goroutine that owns a
// socket of the SO_REUSEPORT group, a session table, a timer wheel, receive
// and transmit buffers and counters, and runs the loop of DESIGN.md to
// completion, batch by batch:
//
//	ReadBatchUntil (recvmmsg) -> route each datagram: owner := batchio.Owner(src, N);
//	not ours -> push onto the owner's SPSC handoff ring with its buffer ->
//	table lookup (seeded maphash of the endpoint) -> proto.Session.Receive -> Handler ->
//	drain returned buffers, handoffs and the MPSC inbox -> expire timers ->
//	flush the sessions touched in this batch -> WriteBatch (sendmmsg).
//
// Admission. An endpoint without a session gets state only by proving it
// received a SessionResponse (admission.go, DESIGN.md "Admission"): the
// response is a stateless cookie, the session is created by the first
// datagram whose CRC verifies under the offered key, and until then the
// endpoint gets at most the response and a rate-limited OutOfSession.
//
// Ownership. A session belongs to the shard Owner(endpoint) names for its
// whole life; only that goroutine touches its state (owner-goroutine
// assertions check it in tests and in builds tagged eqgatedebug). Other
// goroutines reach it through the shard's inbox (Post, SendAsync,
// CloseAsync), which never blocks: a full inbox is an error. A shard sleeps
// in the kernel until a datagram, its next timer slot, or a Wake from a
// producer that found it sleeping; one iteration runs a bounded share of
// the inbox, and the loop pauses (doubling) after socket errors and while
// every buffer is lent out (loop.go).
//
// Sends (sendq.go). Each session has its window (proto's unacked caps) and
// a queue of MaxQueuedBytes in front of it. A send is refused to its caller
// with an error, counted by reason, or accepted; accepted ones wait in the
// queue while the window is full and are lost only if the session closes
// first. SendAsync reserves the queue room on the caller's goroutine with a
// compare-and-swap on the session's credit word before posting, so the
// shard never has to refuse what was accepted.
//
// Memory. The session table is pages of proto.Session (pages never move)
// beside pointer-free metadata and an open-addressed index, so lookups and
// the timer wheel (intrusive lists through the metadata) allocate nothing
// and the GC does not scan the index. Receive buffers come from the shard's
// own pool.Pool (Batch buffers, plus HandoffBuffers when there are peers);
// a handed-off datagram's buffer goes to the owner with it and comes back
// over a return ring, and only the origin shard Puts it. When every buffer
// is lent, the shard reads fewer datagrams (the kernel keeps the rest)
// instead of dropping any. What sessions keep between calls comes from
// the shard's pool.Sized, within the shard's peer data budget
// (proto.Budget; past twice it the biggest holders are closed). Free slots
// are reused lowest first and the empty pages at the slab's end are given
// back, so memory returns after a flood. A session's ID carries a slot
// generation, which survives a page given back and made again, so a stale
// ID is refused, never misdelivered.
//
// Counters are written only by the shard goroutine with plain stores (no
// locked instruction; see Counter) and read atomically by anyone; every
// datagram lands in exactly one Outcome.
package shard
