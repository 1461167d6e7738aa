package shard

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// A graceful drain has two phases, both driven by each shard's own clock
// so they run in virtual time in tests:
//
//  1. Refusing (Group.Refuse): new SessionRequests are dropped
//     (OutcomeDropDraining); open sessions carry on as before.
//  2. Flushing (Group.Flush): each Connected session is closed (hold
//     buffer flushed, SessionDisconnect, CloseLinger, Handler.Close with
//     CloseShutdown) as soon as nothing it sent is unacknowledged, and at
//     the flush deadline whatever it still has.
//
// Group.Idle is closed once no shard has a session open for traffic left
// (closed, or lingering after its SessionDisconnect), in either phase.

const (
	drainNone int32 = iota
	drainRefusing
	drainFlushing
)

// drainGroup is a Group's drain state (any goroutine).
type drainGroup struct {
	phase   atomic.Int32
	flushBy atomic.Int64 // shard-clock Nanotime: the flush deadline
	idle    atomic.Int32 // shards that reported no session left
	idleCh  chan struct{}
}

// drainShard is one shard's part (owner only).
type drainShard struct {
	idle      bool           // reported to drainGroup.idle
	nextScan  proto.Nanotime // scans run at most once per drainScanEvery
	closing   bool           // inside a drain close: report CloseShutdown
	deadlined bool           // the last scan ran past the flush deadline
	seen      int32          // the phase of the last scan
}

// Refuse starts the drain's first phase: from now on every shard drops new
// SessionRequests (OutcomeDropDraining). Sessions already open are not
// touched. Idempotent; any goroutine.
func (g *Group) Refuse() {
	g.drain.phase.CompareAndSwap(drainNone, drainRefusing)
	g.nudge()
}

// Flush starts the second phase (Refuse first if not yet): each session is
// closed once it has nothing unacknowledged, and every session at the
// latest after d. Calling it again moves the deadline. Any goroutine.
func (g *Group) Flush(d time.Duration) {
	g.drain.flushBy.Store(int64(time.Since(g.epoch) + d))
	g.drain.phase.Store(drainFlushing)
	g.nudge()
}

// Draining reports whether Refuse (or Flush) was called.
func (g *Group) Draining() bool { return g.drain.phase.Load() != drainNone }

// Idle is closed once Refuse was called and no shard has a session open
// for traffic left: each has closed or lingers after its
// SessionDisconnect (sessions cannot open again after Refuse).
func (g *Group) Idle() <-chan struct{} { return g.drain.idleCh }

// Nudge makes every shard run a loop iteration soon (inbox wake), so drain
// deadlines are seen by a shard that would otherwise sleep past them.
func (g *Group) nudge() {
	for _, s := range g.shards {
		_ = s.Post(func() {}) // a full inbox wakes the shard anyway; a closed one needs nothing
	}
}

// Nudge is nudge for callers that keep a deadline of their own (the
// flush bound): any goroutine.
func (g *Group) Nudge() { g.nudge() }

// ErrDraining: the server's drain is flushing what its sessions have in
// flight before disconnecting them, so Send takes no new data.
var ErrDraining = errors.New("eqgate: draining: sessions take no new data")

// flushing reports whether the drain is in its flush phase (one load).
func (s *Shard) flushing() bool { return s.g.drain.phase.Load() == drainFlushing }

// queued reports whether slot i has sends waiting for window room.
func (s *Shard) queued(i int32) bool { return s.queues[i] != nil }

// refusing reports whether new sessions are refused (owner; one load).
func (s *Shard) refusing() bool { return s.g.drain.phase.Load() != drainNone }

// drainScanEvery spaces a shard's drain scans (each visits every session)
// in shard time: an operator cannot tell 20 ms, and 100k sessions cost the
// loop about 0.5 ms per scan.
const drainScanEvery = 20 * time.Millisecond

// drainStep is the shard's part of a drain, once per loop iteration after
// the frees; a single atomic load when no drain runs.
func (s *Shard) drainStep() {
	phase := s.g.drain.phase.Load()
	if phase == drainNone || s.drain.idle {
		return
	}
	past := phase == drainFlushing && s.now >= proto.Nanotime(s.g.drain.flushBy.Load())
	if s.now < s.drain.nextScan && phase == s.drain.seen && past == s.drain.deadlined && s.live > 0 {
		return // a scan ran recently and nothing changed since
	}
	s.drain.nextScan = s.now + proto.Nanotime(drainScanEvery)
	s.drain.seen, s.drain.deadlined = phase, past
	if s.scanDrain(phase == drainFlushing, past) == 0 {
		s.drain.idle = true
		if int(s.g.drain.idle.Add(1)) == len(s.g.shards) {
			close(s.g.drain.idleCh)
		}
	}
}

// scanDrain returns how many sessions are still open for traffic
// (Connecting or Connected). Flushing, it first closes every Connected
// session with nothing unacknowledged, or every one when all is true.
func (s *Shard) scanDrain(flushing, all bool) int {
	open := 0
	s.drain.closing = true
	for p := range int(s.meta.n) {
		i := int32(p)
		if s.meta.meta(i).state != slotLive {
			continue
		}
		ps := s.session(i)
		st := ps.State()
		if st == proto.StateConnected && flushing && (all || ps.Unacked() == 0 && !s.queued(i)) {
			s.closeSlot(i)
			st = ps.State()
		}
		if st == proto.StateConnected || st == proto.StateConnecting {
			open++
		}
	}
	s.drain.closing = false
	// The closes queued datagrams and re-armed timers after this
	// iteration's flush: send them now.
	s.flushDirty()
	s.writeTx()
	return open
}
