package relay

import (
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate"
)

// Reason says why a pair (a client session and its backend leg) ended: the
// leg that ended first and how, or the relay's own decision. Each pair is
// counted under exactly one Reason (Stats.Ends).
type Reason uint8

// Reasons.
const (
	ReasonNone            Reason = iota // still running: never counted
	ReasonClientClosed                  // the client sent SessionDisconnect (or unusable parameters)
	ReasonClientTimeout                 // the client vanished: stale or resend timeout on the client leg
	ReasonBackendClosed                 // the backend sent SessionDisconnect
	ReasonBackendTimeout                // the backend vanished mid-session: stale or resend timeout
	ReasonBackendNoAnswer               // the backend did not answer the SessionRequest within ConnectTimeout
	ReasonBackendRefused                // the backend answered OutOfSession or with unusable parameters
	ReasonDialError                     // the backend leg could not be opened (socket error)
	ReasonPendingFull                   // the client sent more than MaxPending (or the shard's budget) before the leg existed
	ReasonBackendFull                   // the backend leg's send window and queue were full (a backend not reading), or it held more than MaxQueued
	ReasonClientFull                    // the client leg's send window and queue were full (a client not reading), or it held more than MaxQueued
	ReasonQueueBudget                   // the shard's legs held more than QueueBudget and this pair held the most
	ReasonTooBig                        // a message longer than the other leg carries
	ReasonShutdown                      // the relay or one of its engines is closing
	ReasonOther                         // a handler panic or another local close
	NumReasons
)

var reasonNames = [NumReasons]string{
	"none", "client_closed", "client_timeout", "backend_closed", "backend_timeout",
	"backend_no_answer", "backend_refused", "dial_error", "pending_full", "backend_full",
	"client_full", "queue_budget", "too_big", "shutdown", "other",
}

// String is the snake_case name that labels metrics.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// clientReason is the pair's Reason when its client leg ended first.
func clientReason(r eqgate.CloseReason) Reason {
	switch r {
	case eqgate.ClosePeer, eqgate.CloseProtocol:
		return ReasonClientClosed
	case eqgate.CloseTimeout, eqgate.CloseResendTimeout:
		return ReasonClientTimeout
	case eqgate.CloseShutdown:
		return ReasonShutdown
	}
	return ReasonOther
}

// backendReason is the pair's Reason when its backend leg ended first.
func backendReason(r eqgate.CloseReason) Reason {
	switch r {
	case eqgate.ClosePeer:
		return ReasonBackendClosed
	case eqgate.CloseTimeout, eqgate.CloseResendTimeout:
		return ReasonBackendTimeout
	case eqgate.CloseConnectTimeout:
		return ReasonBackendNoAnswer
	case eqgate.CloseRefused, eqgate.CloseProtocol:
		return ReasonBackendRefused
	case eqgate.CloseShutdown:
		return ReasonShutdown
	}
	return ReasonOther
}

// counter is a count written by one shard goroutine and read by any: a
// plain load and store, no locked instruction on the hot path.
type counter struct{ v atomic.Int64 }

func (c *counter) inc(n int64) { c.v.Store(c.v.Load() + n) }
func (c *counter) load() int64 { return c.v.Load() }

// flow counts one direction's messages and bytes.
type flow struct{ msgs, bytes counter }

// counters are one shard's.
type counters struct {
	sessions     counter
	active       counter
	legsUp       counter
	dialFailures counter
	pendingDrops counter
	queued       counter   // bytes the legs hold for their peers, as last read (shardState.watch)
	connectNanos counter   // summed over legsUp
	rtt          []counter // backend legs' RTT samples by bucket (rttBounds, then above)
	rttNanos     counter
	toBackend    flow
	toClient     flow
	ends         [NumReasons]counter
}

// Stats is a copy of a Relay's counters summed over its shards, each read
// on its own.
type Stats struct {
	Sessions     uint64 // client sessions the relay has served
	Active       int64  // pairs running now
	LegsUp       uint64 // backend legs the backend answered
	DialFailures uint64 // backend legs that never opened
	PendingDrops uint64 // client messages refused from the hold queue (MaxPending, ShardBudget); each ended its pair
	// Queued is the bytes the running pairs' legs hold for their peers
	// (sent and unacknowledged, plus queued), as last read: each relayed
	// message reads its leg and one other pair's, so an idle shard's
	// figure can lag behind acks (it errs high).
	Queued         int64
	MsgsToBackend  uint64
	BytesToBackend uint64
	MsgsToClient   uint64
	BytesToClient  uint64
	// ConnectRTT is the mean time from a leg's dial to the backend's
	// SessionResponse (0 before the first).
	ConnectRTT time.Duration
	// BackendRTT is the backend legs' round trips once up, from their
	// sessions' RTT samples (acknowledged packets never resent): the
	// latest sample whenever a leg's count has moved at a relayed message.
	BackendRTT RTTHistogram
	Ends       [NumReasons]uint64 // pairs ended, by Reason
}

// RTTHistogram is a distribution of round trips on eqgate_rtt_seconds'
// buckets.
type RTTHistogram struct {
	Bounds []time.Duration // upper bound of bucket i (inclusive); one bucket more, above them all
	Counts []uint64        // samples per bucket, not cumulative: len(Bounds)+1
	Count  uint64
	Sum    time.Duration
}

// Mean is Sum over Count, 0 without samples.
func (h *RTTHistogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// rttBounds are eqgate_rtt_seconds' bucket bounds.
var rttBounds = eqgate.RTTBuckets()

// observeRTT counts one backend RTT sample.
func (c *counters) observeRTT(d time.Duration) {
	b := len(rttBounds)
	for i, bound := range rttBounds {
		if d <= bound {
			b = i
			break
		}
	}
	c.rtt[b].inc(1)
	c.rttNanos.inc(int64(d))
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	var s Stats
	var nanos int64
	s.BackendRTT = RTTHistogram{Bounds: rttBounds, Counts: make([]uint64, len(rttBounds)+1)}
	for i := range r.shards {
		c := &r.shards[i].c
		s.Sessions += uint64(c.sessions.load())
		s.Active += c.active.load()
		s.LegsUp += uint64(c.legsUp.load())
		s.DialFailures += uint64(c.dialFailures.load())
		s.PendingDrops += uint64(c.pendingDrops.load())
		s.Queued += c.queued.load()
		s.MsgsToBackend += uint64(c.toBackend.msgs.load())
		s.BytesToBackend += uint64(c.toBackend.bytes.load())
		s.MsgsToClient += uint64(c.toClient.msgs.load())
		s.BytesToClient += uint64(c.toClient.bytes.load())
		nanos += c.connectNanos.load()
		for k := range c.rtt {
			n := uint64(c.rtt[k].load())
			s.BackendRTT.Counts[k] += n
			s.BackendRTT.Count += n
		}
		s.BackendRTT.Sum += time.Duration(c.rttNanos.load())
		for k := range s.Ends {
			s.Ends[k] += uint64(c.ends[k].load())
		}
	}
	if s.LegsUp > 0 {
		s.ConnectRTT = time.Duration(nanos / int64(s.LegsUp))
	}
	return s
}
