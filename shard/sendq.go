package shard

import (
	"sync/atomic"

	"github.com/eqgate/eqgate/proto"
)

// Send outcomes. A send is either refused to its caller, at once, with an
// error and a SendRefused count, or accepted; an accepted send goes into the
// session's send window as soon as the window has room, and is lost only if
// the session closes first (SendsDiscarded). Nothing is accepted and then
// dropped for want of room.
//
// Room is the session's window (proto's MaxUnackedBytes/MaxUnackedPackets)
// plus a queue of MaxQueuedBytes in front of it, which holds sends the
// window has no room for yet, in order. The queue's free bytes are a credit
// word per session that any goroutine reads and reserves from with one
// compare-and-swap, before its send is posted to the inbox: the shard never
// has to refuse a send it accepted, and a caller learns the outcome on its
// own goroutine without a lock or a round trip (SendAsync, Room). The owner
// gives the credit back as the sends leave the queue.

// SendRefusal is why a send was refused to its caller.
type SendRefusal uint8

const (
	RefusedQueueFull SendRefusal = iota // window and queue full (ErrSendQueue)
	RefusedTooBig                       // longer than the session will ever carry (ErrTooBig)
	RefusedNoSession                    // closed, stale or unknown ID (ErrNoSession)
	RefusedInboxFull                    // the shard's inbox is full (ErrInboxFull)
	RefusedBadStream                    // stream outside 0..3 (ErrBadStream)
	RefusedClosed                       // the shard is stopping (ErrClosed)
	RefusedDraining                     // the drain is flushing: no new data (ErrDraining)
	NumSendRefusals
)

var refusalNames = [NumSendRefusals]string{"queue_full", "too_big", "no_session", "inbox_full", "bad_stream", "closed", "draining"}

// String returns a snake_case name, usable as a metric label.
func (r SendRefusal) String() string {
	if r < NumSendRefusals {
		return refusalNames[r]
	}
	return "unknown"
}

// refusalOf maps a send error to its reason.
func refusalOf(err error) SendRefusal {
	switch err {
	case ErrSendQueue:
		return RefusedQueueFull
	case ErrTooBig:
		return RefusedTooBig
	case ErrInboxFull:
		return RefusedInboxFull
	case ErrBadStream:
		return RefusedBadStream
	case ErrClosed:
		return RefusedClosed
	case ErrDraining:
		return RefusedDraining
	}
	return RefusedNoSession
}

// SendCounters count send outcomes (part of Counters).
type SendCounters struct {
	// Refused counts refusals by reason. Written by whichever goroutine
	// was refused (an atomic add: refusals are off the datagram path).
	Refused [NumSendRefusals]atomic.Uint64
	// Queued counts sends that waited in a session's queue for window
	// room (owner only).
	Queued Counter
	// Discarded counts accepted sends the session closed on before they
	// reached the window (owner only): OnClose is how the caller learns.
	Discarded Counter
}

func (c *SendCounters) refuse(err error) error {
	if err != nil {
		c.Refused[refusalOf(err)].Add(1)
	}
	return err
}

// sendItemCost is what a queued send costs beyond its data: its inbox or
// queue entry and slice header, so that many tiny sends are bounded too.
const sendItemCost = 64

func sendCost(n int) uint64 { return uint64(n) + sendItemCost }

// creditSlot is one session slot's view for other goroutines: both words
// carry the slot generation in their top 32 bits, so a stale ID sees a
// mismatch. Generation 0 (never issued) marks a slot with no open session.
type creditSlot struct {
	credit atomic.Uint64 // gen<<32 | free bytes of the session's queue
	limit  atomic.Uint64 // gen<<32 | longest application packet it carries
}

type creditPage [pageSize]creditSlot

// credits maps slots to creditSlots for any goroutine: a directory fixed
// at start (one pointer per slab page the shard may ever use) whose pages
// the owner publishes as the slab grows.
type credits struct {
	dir []atomic.Pointer[creditPage]
}

func newCredits(maxSlots int) credits {
	return credits{dir: make([]atomic.Pointer[creditPage], maxSlots>>pageBits+1)}
}

// slot returns slot i's words, nil when its page was never published.
func (c *credits) slot(i int32) *creditSlot {
	p := int(i >> pageBits)
	if i < 0 || p >= len(c.dir) {
		return nil
	}
	if pg := c.dir[p].Load(); pg != nil {
		return &pg[i&(pageSize-1)]
	}
	return nil
}

// open arms slot i for a new session of generation gen (owner only).
func (c *credits) open(i int32, gen uint32, queue int, limit int) {
	p := int(i >> pageBits)
	if p >= len(c.dir) {
		return // beyond MaxSessionsPerShard: cannot happen; sends see ErrNoSession
	}
	if c.dir[p].Load() == nil {
		c.dir[p].Store(new(creditPage))
	}
	w := c.slot(i)
	w.limit.Store(uint64(gen)<<32 | uint64(uint32(limit)))
	w.credit.Store(uint64(gen)<<32 | uint64(uint32(queue)))
}

// drop unpublishes page p, whose slots are all closed (owner only): a
// goroutine still holding it sees generation 0, ErrNoSession.
func (c *credits) drop(p int) {
	if p < len(c.dir) {
		c.dir[p].Store(nil)
	}
}

// close retires slot i's session: every later reservation sees
// ErrNoSession (owner only).
func (c *credits) close(i int32) {
	if w := c.slot(i); w != nil {
		w.credit.Store(0)
		w.limit.Store(0)
	}
}

// reserve takes cost bytes of gen's queue credit, or says why not.
func (w *creditSlot) reserve(gen uint32, n int) error {
	lim := w.limit.Load()
	if uint32(lim>>32) != gen {
		return ErrNoSession
	}
	if n > int(uint32(lim)) {
		return ErrTooBig
	}
	cost := sendCost(n)
	for {
		old := w.credit.Load()
		if uint32(old>>32) != gen {
			return ErrNoSession
		}
		if uint64(uint32(old)) < cost {
			return ErrSendQueue
		}
		if w.credit.CompareAndSwap(old, old-cost) {
			return nil
		}
	}
}

// refund gives back a reservation whose send never reached the shard, if
// the session is still gen.
func (w *creditSlot) refund(gen uint32, n int) {
	cost := sendCost(n)
	for {
		old := w.credit.Load()
		if uint32(old>>32) != gen || w.credit.CompareAndSwap(old, old+cost) {
			return
		}
	}
}

// queued is a send waiting for window room. data is the shard's own copy.
type queued struct {
	data     []byte
	stream   int8
	reliable bool
}

// sendQueue is one session's queue (owner only).
type sendQueue struct {
	gen   uint32
	items []queued
	head  int
}

// creditOf returns the credit words of id's slot, nil when id is not this
// shard's or names a slot never used; the caller still checks the
// generation.
func (s *Shard) creditOf(id ID) *creditSlot {
	if id.Shard() != s.idx {
		return nil
	}
	return s.credits.slot(id.Slot())
}

// Room returns how many bytes of application data session id's queue
// accepts now from any goroutine (0 when it is gone): what one SendAsync
// may pass without ErrSendQueue. Lock-free; a concurrent sender can take it
// first.
func (s *Shard) Room(id ID) int {
	w := s.creditOf(id)
	if w == nil {
		return 0
	}
	c := w.credit.Load()
	if uint32(c>>32) != id.Gen() || uint64(uint32(c)) < sendItemCost {
		return 0
	}
	return int(min(uint64(uint32(c))-sendItemCost, uint64(uint32(w.limit.Load()))))
}

// MaxSend returns the longest application packet session id carries (0
// when it is gone); any goroutine.
func (s *Shard) MaxSend(id ID) int {
	w := s.creditOf(id)
	if w == nil {
		return 0
	}
	lim := w.limit.Load()
	if uint32(lim>>32) != id.Gen() {
		return 0
	}
	return int(uint32(lim))
}

// enqueue accepts data for slot i behind its queue, against the queue's
// credit (owner only; reserved here unless the caller already did).
func (s *Shard) enqueue(i int32, stream int, data []byte, reliable, reserved bool) error {
	gen := s.meta.meta(i).gen
	if !reserved {
		w := s.credits.slot(i)
		if w == nil {
			return ErrSendQueue
		}
		if err := w.reserve(gen, len(data)); err != nil {
			return err
		}
		data = append([]byte(nil), data...) // the caller's bytes are only lent
	}
	q := s.queues[i]
	if q == nil {
		q = s.freeQueue()
		q.gen = gen
		s.queues[i] = q
	}
	q.items = append(q.items, queued{data: data, stream: int8(stream), reliable: reliable})
	s.counters.Sends.Queued.add(1)
	return nil
}

// maxSpareQueue caps the entries of a queue kept for reuse.
const maxSpareQueue = 256

func (s *Shard) freeQueue() *sendQueue {
	if n := len(s.spareQueues); n > 0 {
		q := s.spareQueues[n-1]
		s.spareQueues = s.spareQueues[:n-1]
		return q
	}
	return &sendQueue{}
}

// waitForRoom reports whether a send to ps refused with err should wait in
// the queue: the window is full, or a client session is still connecting.
func waitForRoom(ps *proto.Session, err error) bool {
	return err == proto.ErrSendQueueFull || (err == proto.ErrNotConnected && ps.State() == proto.StateConnecting)
}

// sendOrQueue sends data on slot i now if nothing waits before it and the
// window has room, and queues it otherwise (owner only). reserved says the
// queue credit for data is already taken (a SendAsync); it is given back
// once data is in the window.
func (s *Shard) sendOrQueue(i int32, stream int, data []byte, reliable, reserved bool) error {
	if len(s.queues) == 0 || s.queues[i] == nil {
		ps := s.session(i)
		err := ps.CanSend(stream, data, reliable)
		if err == nil {
			err = s.send(i, stream, data, reliable)
			if err == nil && reserved {
				s.credits.slot(i).credit.Add(sendCost(len(data))) // gen is the owner's: no CAS
			}
			return err
		}
		if !waitForRoom(ps, err) {
			return s.sendErr(err)
		}
	}
	return s.enqueue(i, stream, data, reliable, reserved)
}

// drainQueues moves queued sends into windows that have room (owner only,
// once per loop iteration, after acks were read).
func (s *Shard) drainQueues() {
	for i, q := range s.queues {
		if s.lookup(MakeID(s.idx, q.gen, i)) < 0 {
			s.dropQueue(i)
			continue
		}
		ps := s.session(i)
		w := s.credits.slot(i)
		for q.head < len(q.items) {
			it := &q.items[q.head]
			err := ps.CanSend(int(it.stream), it.data, it.reliable)
			if waitForRoom(ps, err) {
				break
			}
			if err == nil {
				err = s.send(i, int(it.stream), it.data, it.reliable)
			}
			if err != nil {
				// Cannot happen: the limit word bounds what is accepted.
				s.counters.Sends.Discarded.add(1)
			}
			w.credit.Add(sendCost(len(it.data)))
			*it = queued{}
			q.head++
		}
		if q.head == len(q.items) {
			s.retireQueue(i, q)
		}
	}
}

// dropQueue discards slot i's queued sends: its session closed (owner
// only). Their credit dies with the session's generation.
func (s *Shard) dropQueue(i int32) {
	q := s.queues[i]
	if q == nil {
		return
	}
	s.counters.Sends.Discarded.add(uint64(len(q.items) - q.head))
	clear(q.items)
	s.retireQueue(i, q)
}

func (s *Shard) retireQueue(i int32, q *sendQueue) {
	delete(s.queues, i)
	if cap(q.items) > maxSpareQueue {
		return // let a burst's big backing array go
	}
	q.items, q.head = q.items[:0], 0
	s.spareQueues = append(s.spareQueues, q)
}
