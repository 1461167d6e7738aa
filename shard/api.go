package shard

import (
	"net/netip"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// ---- owner goroutine only ----

// Send sends an application packet on session id (owner only). The bytes
// are copied into the session's send path (hold buffer or stored reliable
// packet) before Send returns, and go out at the end of the current batch.
// When the window is full (or a client session still connecting), the
// bytes are copied into the session's queue instead and sent in order as
// acks make room; ErrSendQueue when the queue is full too (sendq.go).
func (s *Shard) Send(id ID, stream int, data []byte, reliable bool) error {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return s.counters.Sends.refuse(ErrNoSession)
	}
	if stream < 0 || stream >= proto.Streams {
		return s.counters.Sends.refuse(ErrBadStream)
	}
	if s.flushing() {
		return s.counters.Sends.refuse(ErrDraining)
	}
	return s.counters.Sends.refuse(s.sendOrQueue(i, stream, data, reliable, false))
}

// send passes one packet to slot i's session now.
func (s *Shard) send(i int32, stream int, data []byte, reliable bool) error {
	return s.sendErr(s.sendProto(i, stream, data, reliable))
}

// sendProto is send returning proto's error.
func (s *Shard) sendProto(i int32, stream int, data []byte, reliable bool) error {
	if stream < 0 || stream >= proto.Streams {
		return ErrBadStream
	}
	// A Handler may Send to another session while one is being driven:
	// give the sink its destination back afterwards.
	prev, prevSock, prevLocal := s.cur, s.curSock, s.curLocal
	ps := s.drive(i)
	mark := markOf(ps.Stats())
	err := ps.Send(&s.env, s.now, stream, data, reliable)
	s.fold(ps.Stats(), mark)
	s.cur, s.curSock, s.curLocal = prev, prevSock, prevLocal
	s.touch(i)
	if err == nil {
		s.counters.Hist.msg(len(data))
	}
	return err
}

// sendErr maps proto's send errors to the shard's.
func (s *Shard) sendErr(err error) error {
	switch err {
	case nil:
		return nil
	case proto.ErrNotConnected:
		return ErrNoSession
	case proto.ErrSendQueueFull:
		return ErrSendQueue
	case proto.ErrPacketTooLarge, proto.ErrEmptyPacket:
		return ErrTooBig
	case proto.ErrBadStream:
		return ErrBadStream
	}
	return err
}

// CloseSession starts an orderly close of session id (owner only): flush,
// SessionDisconnect, Handler.Close, linger (SPEC §19).
func (s *Shard) CloseSession(id ID) error { return s.CloseSessionWith(id, proto.CloseLocal) }

func (s *Shard) closeSlot(i int32) { s.closeSlotWith(i, proto.CloseLocal) }

// CloseSessionWith is CloseSession reporting reason (owner only), for the
// engine's own reasons, such as a Handler that panicked.
func (s *Shard) CloseSessionWith(id ID, reason proto.CloseReason) error {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return ErrNoSession
	}
	s.closeSlotWith(i, reason)
	if len(s.hangup) > 0 {
		// A dialled session hangs up now, after its SessionDisconnect:
		// when CloseSession returns, its socket is closed and its
		// Handler's Close has run.
		prev, prevSock, prevLocal := s.cur, s.curSock, s.curLocal
		s.hangUps()
		s.cur, s.curSock, s.curLocal = prev, prevSock, prevLocal
	}
	return nil
}

func (s *Shard) closeSlotWith(i int32, reason proto.CloseReason) {
	prev, prevSock, prevLocal := s.cur, s.curSock, s.curLocal
	ps := s.drive(i)
	mark := markOf(ps.Stats())
	ps.CloseWith(&s.env, s.now, reason)
	s.fold(ps.Stats(), mark)
	s.cur, s.curSock, s.curLocal = prev, prevSock, prevLocal
	s.touch(i)
}

// Remote returns session id's peer address (owner only); false once the
// session is gone.
func (s *Shard) Remote(id ID) (netip.AddrPort, bool) {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return netip.AddrPort{}, false
	}
	return s.meta.meta(i).ep.AddrPort(), true
}

// Backlog returns the bytes session id holds for its peer (owner only):
// sent and not yet acknowledged, plus its send queue (each queued send
// counted with its entry, as the queue's credit counts it); 0 once the
// session is gone. Two loads: cheap enough to ask after every send (a
// relay budgeting what its legs hold).
func (s *Shard) Backlog(id ID) int {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return 0
	}
	n := s.session(i).Unacked()
	if w := s.credits.slot(i); w != nil {
		if c := w.credit.Load(); uint32(c>>32) == id.Gen() {
			n += s.cfg.MaxQueuedBytes - int(uint32(c))
		}
	}
	return n
}

// RTT returns session id's latest round-trip sample and how many it has
// taken (owner only; 0, 0 once it is gone): a handler polls it cheaply to
// follow a peer's RTT, taking a sample when the count moves.
func (s *Shard) RTT(id ID) (last time.Duration, samples uint64) {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return 0, 0
	}
	st := s.session(i).Stats()
	return st.RTTLast, st.RTTSamples
}

// ---- any goroutine ----

// Post runs fn on the shard goroutine. It never blocks: ErrInboxFull when
// the inbox is full, ErrClosed once the shard is stopping.
func (s *Shard) Post(fn func()) error {
	return s.push(inboxItem{kind: inboxPost, fn: fn})
}

// SendAsync queues Send for the shard goroutine from any goroutine; data
// is copied first. The outcome is decided here, on the caller's goroutine:
// nil means the session's queue credit was reserved for data (sendq.go),
// so the shard will put it in the window in order and loses it only if the
// session closes first (SendsDiscarded; Handler.Close tells). Otherwise
// ErrSendQueue (queue full: retry after Room grows), ErrTooBig (longer
// than the session will ever carry), ErrNoSession, ErrBadStream,
// ErrInboxFull or ErrClosed, each counted in Sends.Refused. It never
// blocks.
func (s *Shard) SendAsync(id ID, stream int, data []byte, reliable bool) error {
	return s.counters.Sends.refuse(s.sendAsync(id, stream, data, reliable))
}

func (s *Shard) sendAsync(id ID, stream int, data []byte, reliable bool) error {
	if stream < 0 || stream >= proto.Streams {
		return ErrBadStream
	}
	if len(data) == 0 {
		return ErrTooBig
	}
	if s.stop.Load() {
		return ErrClosed
	}
	if s.flushing() {
		return ErrDraining
	}
	w := s.creditOf(id)
	if w == nil {
		return ErrNoSession
	}
	if err := w.reserve(id.Gen(), len(data)); err != nil {
		return err
	}
	k := inboxSend
	if !reliable {
		k = inboxSendUnreliable
	}
	// TODO(alloc): one copy per cross-goroutine send; a per-shard buffer
	// ring would avoid it if Server.Send ever becomes a hot path.
	if err := s.push(inboxItem{kind: k, id: id, stream: int8(stream), data: append([]byte(nil), data...)}); err != nil {
		w.refund(id.Gen(), len(data))
		return err
	}
	return nil
}

// CloseAsync queues CloseSession for the shard goroutine.
func (s *Shard) CloseAsync(id ID) error {
	return s.push(inboxItem{kind: inboxClose, id: id})
}

// Dial is DialFrom (any address, the group's Handler) from any goroutine:
// it returns the session's ID once the shard has created it.
func (s *Shard) Dial(remote netip.AddrPort) (ID, error) {
	type result struct {
		id  ID
		err error
	}
	ch := make(chan result, 1)
	if err := s.Post(func() {
		id, _, err := s.DialFrom(netip.Addr{}, remote, nil)
		ch <- result{id, err}
	}); err != nil {
		return 0, err
	}
	select {
	case r := <-ch:
		return r.id, r.err
	case <-s.done:
		return 0, ErrClosed
	}
}

func (s *Shard) push(it inboxItem) error {
	if s.stop.Load() {
		return ErrClosed
	}
	if !s.inbox.Push(it) {
		s.counters.InboxDrops.Add(1) // many writers: a real atomic add
		return ErrInboxFull
	}
	if s.sleeping.Load() {
		s.sock.Wake()
	}
	return nil
}

// drainInbox runs queued requests from other goroutines, at most
// maxInboxRounds batches of them, and reports whether it stopped at that
// bound (more may be queued).
func (s *Shard) drainInbox() (more bool) {
	for range maxInboxRounds {
		n := s.inbox.PopN(s.inboxBuf)
		if n == 0 {
			return false
		}
		for j := range n {
			it := &s.inboxBuf[j]
			s.runItem(it)
			*it = inboxItem{} // drop references to data and fn
		}
		add(&s.counters.InboxRuns, uint64(n))
		if n < len(s.inboxBuf) {
			return false
		}
	}
	return true
}

func (s *Shard) runItem(it *inboxItem) {
	switch it.kind {
	case inboxPost:
		it.fn()
	case inboxSend, inboxSendUnreliable:
		// The caller reserved queue credit, so the window or the queue
		// takes it; only a session that closed meanwhile loses it.
		i := s.lookup(it.id)
		if i < 0 {
			s.counters.Sends.Discarded.add(1) // its credit died with the session
		} else if s.sendOrQueue(i, int(it.stream), it.data, it.kind == inboxSend, true) != nil {
			s.counters.Sends.Discarded.add(1) // closing: refused by proto
			s.credits.slot(i).refund(it.id.Gen(), len(it.data))
		}
	case inboxClose:
		if i := s.lookup(it.id); i >= 0 {
			s.closeSlot(i)
		}
	}
}

// shutdown drains the shard: every live session is closed (flush,
// SessionDisconnect, Handler.Close with CloseShutdown) and released at
// once, without the linger, the last datagrams are sent, and queued inbox
// work is dropped.
func (s *Shard) shutdown() {
	s.stopping = true
	s.drainReturns()
	for s.drainInbox() { // Posts queued before Close still run, all of them
	}
	for p := 0; p < int(s.meta.n); p++ {
		i := int32(p)
		if s.meta.meta(i).state != slotLive {
			continue
		}
		ps := s.drive(i)
		if ps.State() == proto.StateConnected || ps.State() == proto.StateConnecting {
			mark := markOf(ps.Stats())
			ps.Close(&s.env, s.now)
			s.fold(ps.Stats(), mark)
		}
		// Closed (Connecting sessions end at once; Disconnecting ones
		// were reported when they started closing) and released now:
		// nobody will tick the linger.
		ps.Release(&s.env)
		s.settle(i, ps, proto.Never)
	}
	s.flushDirty()
	s.writeTx()
	s.hangUps()
	s.freeDead()
}

// Running reports whether the shard goroutine has been started and has not
// exited (any goroutine). It is false after Close, and false if the loop
// ever returned on its own. It cannot tell a loop stuck inside a Handler
// callback from an idle one; a Post that never runs can.
func (s *Shard) Running() bool {
	if !s.g.started {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Done is closed when the shard goroutine has exited.
func (s *Shard) Done() <-chan struct{} { return s.done }

// CloseSockets closes the group's sockets without waiting for the shards
// (any goroutine; idempotent). It is the way out of a drain that overran
// its deadline: a shard blocked in the kernel returns net.ErrClosed and
// finishes its shutdown without sending, and the datagrams it still had
// queued are lost. Close must still be called (or be running) to wait for
// the goroutines.
func (g *Group) CloseSockets() error {
	for _, set := range g.sets {
		_ = set.Close() // ends a shard's sleep on its dialled sockets' epoll
	}
	if g.socks == nil {
		return nil
	}
	return g.socks.Close()
}
