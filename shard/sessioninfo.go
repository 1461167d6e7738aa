package shard

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// SessionInfo is a copy of one session's state for operators: counters,
// RTT, queues, times. Taken on the owner goroutine, so it is one instant's
// snapshot of that session.
type SessionInfo struct {
	ID      ID
	Remote  netip.AddrPort
	State   proto.State
	Age     time.Duration // since the session was created
	Idle    time.Duration // since its last datagram arrived
	Unacked int           // bytes sent and not yet acknowledged, all streams
	Queues  [proto.Streams]proto.QueueDepth
	Stats   proto.Stats
	Params  proto.Params // key, CRC length, passes: what a trace decoder needs
}

// info fills a SessionInfo for live slot i (owner only).
func (s *Shard) info(i int32, d *SessionInfo) {
	ps := s.session(i)
	*d = SessionInfo{
		ID:      s.idOf(i),
		Remote:  s.meta.meta(i).ep.AddrPort(),
		State:   ps.State(),
		Age:     time.Duration(s.now - ps.Created()),
		Idle:    time.Duration(s.now - ps.LastRecv()),
		Unacked: ps.Unacked(),
		Queues:  ps.Queues(),
		Stats:   *ps.Stats(),
		Params:  ps.Params(),
	}
}

// Info returns session id's state (owner only).
func (s *Shard) Info(id ID) (SessionInfo, error) {
	s.owner.check()
	i := s.lookup(id)
	if i < 0 {
		return SessionInfo{}, ErrNoSession
	}
	var d SessionInfo
	s.info(i, &d)
	return d, nil
}

// Query selects sessions for QuerySessions. The zero Query takes every
// session in slot order.
type Query struct {
	// Match, when set, keeps only the sessions it returns true for; it
	// runs on the shard goroutine and must not block.
	Match func(*SessionInfo) bool
	// Less, when set, orders the result (first is "most"); with Limit it
	// keeps the Limit first ones.
	Less  func(a, b *SessionInfo) bool
	Limit int // 0: no limit
}

// QueryInfo returns session id's state from any goroutine: it runs on the
// shard through the inbox and waits for the answer, ctx or the shard's exit.
func (s *Shard) QueryInfo(ctx context.Context, id ID) (SessionInfo, error) {
	var d SessionInfo
	var err error
	werr := s.wait(ctx, func() { d, err = s.Info(id) })
	if werr != nil {
		return SessionInfo{}, werr
	}
	return d, err
}

// QuerySessions returns the sessions q selects from any goroutine, run on
// the shard through the inbox. It copies each matching session once; with
// a Limit it holds at most Limit+1 copies, so a shard of 100k sessions
// costs the loop a few milliseconds and little memory.
func (s *Shard) QuerySessions(ctx context.Context, q Query) ([]SessionInfo, error) {
	var out []SessionInfo
	err := s.wait(ctx, func() { out = s.selectSessions(q) })
	return out, err
}

// selectSessions is QuerySessions on the owner goroutine: a bounded
// insertion into a sorted slice (Limit is small in practice).
func (s *Shard) selectSessions(q Query) []SessionInfo {
	var out []SessionInfo
	var d SessionInfo
	for p := range int(s.meta.n) {
		i := int32(p)
		if s.meta.meta(i).state != slotLive {
			continue
		}
		s.info(i, &d)
		if q.Match != nil && !q.Match(&d) {
			continue
		}
		if q.Less == nil {
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
			out = append(out, d)
			continue
		}
		at, _ := slices.BinarySearchFunc(out, &d, func(e SessionInfo, t *SessionInfo) int {
			if q.Less(t, &e) {
				return 1 // t goes before e
			}
			return -1
		})
		if q.Limit > 0 && at >= q.Limit {
			continue
		}
		out = slices.Insert(out, at, d)
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
	}
	return out
}

// wait runs fn on the shard goroutine and waits until it has run. fn's
// results are only read after it signalled, so they need no lock; if ctx
// ends first, fn may still run later and its results are dropped.
func (s *Shard) wait(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	if err := s.Post(func() { fn(); close(done) }); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-s.done:
		// The shard may have run fn just before exiting.
		select {
		case <-done:
			return nil
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}
