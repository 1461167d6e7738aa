package eqgate

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// SessionID names one session for its whole life, and never another: it
// carries the owning shard, a slot and the slot's generation, so an ID kept
// after its session closed is refused (ErrNoSession), never misdelivered.
// The zero SessionID is never valid.
type SessionID uint64

// Shard is the index of the shard that owns the session.
func (id SessionID) Shard() int { return shard.ID(id).Shard() }

func (id SessionID) String() string {
	s := shard.ID(id)
	return strconv.Itoa(s.Shard()) + "/" + strconv.Itoa(int(s.Slot())) + "." + strconv.FormatUint(uint64(s.Gen()), 10)
}

// Session is a handle to one session, passed to Handler callbacks. It is a
// small value: copy it freely, keep it in maps.
//
// Its methods touch the session's state directly, so they may be called only
// on the goroutine of the shard that owns the session: inside a Handler
// callback or a function given to Server.Post for that shard. From any other
// goroutine use Server.Send and Server.CloseSession with the ID. On a
// session that has closed, methods return ErrNoSession and change nothing.
type Session struct {
	sh *shard.Shard
	id shard.ID
}

// ID returns the session's ID, usable from any goroutine with Server.Send.
func (s Session) ID() SessionID { return SessionID(s.id) }

// Shard is the index of the owning shard.
func (s Session) Shard() int { return s.id.Shard() }

// RemoteAddr is the peer's address and port; the zero AddrPort once the
// session is gone.
func (s Session) RemoteAddr() netip.AddrPort {
	if s.sh == nil {
		return netip.AddrPort{}
	}
	ap, _ := s.sh.Remote(s.id)
	return ap
}

// Send queues one application packet on stream 0 to 3. reliable packets
// are sequenced, acknowledged and resent (and fragmented when large);
// unreliable ones up to 255-crc bytes go raw, longer ones reliably on stream
// 0 (SPEC §15). data is copied into the session's send path before Send
// returns; nothing is allocated in steady state. The datagrams go out at the
// end of the shard's current batch (Config.HoldDelay). While the send
// window is full (MaxUnackedBytes, MaxUnackedPackets), data is copied into
// the queue in front of it instead and sent in order as acks make room;
// when the queue (MaxQueuedBytes) is full too, Send returns
// ErrSendQueueFull and queues nothing. A packet longer than MaxSend is
// ErrTooBig. Owner shard goroutine only.
func (s Session) Send(stream int, data []byte, reliable bool) error {
	if s.sh == nil {
		return ErrNoSession
	}
	return s.sh.Send(s.id, stream, data, reliable)
}

// Backlog is how many bytes the session holds for its peer: sent and not
// yet acknowledged (the send window) plus its queue (each queued send
// counted with 64 bytes for its entry); 0 once it is gone. A handler
// relaying to a slow peer reads it to budget what it makes the shard
// hold. Owner shard goroutine only.
func (s Session) Backlog() int {
	if s.sh == nil {
		return 0
	}
	return s.sh.Backlog(s.id)
}

// RTT is the session's latest round-trip sample (from an acknowledged
// packet never resent) and how many samples it has taken; a handler
// following a peer's RTT takes one when the count moves. 0, 0 once it is
// gone. Owner shard goroutine only.
func (s Session) RTT() (last time.Duration, samples uint64) {
	if s.sh == nil {
		return 0, 0
	}
	return s.sh.RTT(s.id)
}

// RTTBuckets returns the upper bounds of eqgate_rtt_seconds' buckets (the
// last bucket, above them, is unbounded), for a handler exporting RTTs of
// its own on the same scale.
func RTTBuckets() []time.Duration {
	var b []time.Duration
	for i := 0; ; i++ {
		d, ok := shard.RTTBucketBound(i)
		if !ok {
			return b
		}
		b = append(b, d)
	}
}

// MaxSend is the longest application packet the session carries with its
// negotiated parameters (before it is established: with the worst ones a
// peer may choose); 0 once it is gone. Safe from any goroutine.
func (s Session) MaxSend() int {
	if s.sh == nil {
		return 0
	}
	return s.sh.MaxSend(s.id)
}

// Close starts an orderly close (SPEC §19): queued data is flushed, a
// SessionDisconnect is sent, and OnClose follows. Owner shard goroutine
// only.
func (s Session) Close() error {
	if s.sh == nil {
		return ErrNoSession
	}
	return s.sh.CloseSession(s.id)
}

// Alive reports whether the session is still open.
func (s Session) Alive() bool {
	if s.sh == nil {
		return false
	}
	_, ok := s.sh.Remote(s.id)
	return ok
}

func (s Session) String() string { return "session " + s.ID().String() }
