package relay

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate"
)

// Config configures a Relay. The zero value of every numeric field takes
// its default.
type Config struct {
	// Backend is the backend server, host:port (resolved once, at Listen).
	// Required.
	Backend string
	// ConnectTimeout closes a client session whose backend has not
	// answered the leg's SessionRequest within it; 0 keeps the server
	// Config's ConnectStale (5 s by default), which is what a dialled
	// session uses.
	ConnectTimeout time.Duration
	// MaxPending caps the bytes one session may send before its backend
	// leg is up; past it the session is closed (ReasonPendingFull). 64 KiB.
	MaxPending int
	// ShardBudget caps the bytes held that way over all sessions of one
	// shard; past it the session that would exceed it is closed
	// (ReasonPendingFull). 16 MiB.
	ShardBudget int
	// MaxQueued caps the bytes one leg of a pair may hold for its peer
	// (eqgate.Session.Backlog: sent and unacknowledged, plus queued): a
	// leg past it ends the pair as one that refuses a send does
	// (ReasonBackendFull, ReasonClientFull). 0: the leg's own send window
	// and queue (the server Config's MaxUnackedBytes + MaxQueuedBytes).
	MaxQueued int
	// QueueBudget caps the bytes all legs of one shard hold that way; past
	// it the pair holding the most is ended (ReasonQueueBudget), so a slow
	// leg never makes a shard buffer without bound and the pairs that
	// keep up go on. 128 MiB.
	QueueBudget int
	// UnhealthyAfter is how many dials in a row must fail, with none
	// succeeding, before Healthy reports the backend down; 3.
	UnhealthyAfter int
}

// Defaults of Config's zero fields.
const (
	DefaultMaxPending     = 64 << 10
	DefaultShardBudget    = 16 << 20
	DefaultQueueBudget    = 128 << 20
	DefaultUnhealthyAfter = 3
)

// ErrBackendDown matches (errors.Is) Healthy's error.
var ErrBackendDown = errors.New("relay: backend refuses every dial")

// Relay is the relay handler and the server it serves. Methods are safe
// from any goroutine.
type Relay struct {
	cfg       Config
	maxQueued int // cfg.MaxQueued, or no cap of the relay's own
	backend   netip.AddrPort
	srv       *eqgate.Server
	shards    []shardState
	// failStreak counts dials failed since the last one that opened; shared
	// by the shards, written once per dial outcome (not per message).
	failStreak atomic.Uint64
}

// shardState is what the relay keeps per shard, touched only by that
// shard's goroutine (the counters are read by Stats); padded so that
// neighbours' writes do not share a cache line.
type shardState struct {
	pairs map[eqgate.SessionID]*pair // by client session
	held  int                        // bytes held for backend legs not yet up
	// watch lists the pairs whose legs' last reading (pair.backlog, summed
	// in c.queued) was not 0; next is the one the next relayed message
	// reads again.
	watch []*pair
	next  int
	c     counters
	_     [64]byte
}

// Listen serves addr with cfg (as eqgate.Listen) and relays every session
// to rc.Backend over a backend leg dialled from the session's own shard.
func Listen(addr string, cfg eqgate.Config, rc Config) (*Relay, error) {
	if rc.Backend == "" {
		return nil, errors.New("relay: no backend address")
	}
	ua, err := net.ResolveUDPAddr("udp", rc.Backend)
	if err != nil {
		return nil, fmt.Errorf("relay: backend: %w", err)
	}
	backend := ua.AddrPort()
	backend = netip.AddrPortFrom(backend.Addr().Unmap(), backend.Port())
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&rc.MaxPending, DefaultMaxPending)
	def(&rc.ShardBudget, DefaultShardBudget)
	def(&rc.QueueBudget, DefaultQueueBudget)
	def(&rc.UnhealthyAfter, DefaultUnhealthyAfter)
	if rc.ConnectTimeout < 0 || rc.MaxPending < 0 || rc.ShardBudget < 0 || rc.UnhealthyAfter < 0 ||
		rc.MaxQueued < 0 || rc.QueueBudget < 0 {
		return nil, errors.New("relay: negative setting")
	}
	if rc.ConnectTimeout > 0 {
		cfg.ConnectStale = rc.ConnectTimeout // a server uses it only for what it dials
	}
	// A LEGACY chat client's packets carry their filler byte already
	// (eqgate's server delivers it): the backend legs pass them on as sent.
	cfg.ChatNoFiller = true
	r := &Relay{cfg: rc, backend: backend, maxQueued: rc.MaxQueued, shards: make([]shardState, cfg.Filled().Shards)}
	if r.maxQueued == 0 {
		r.maxQueued = math.MaxInt // the legs' own window and queue refuse first
	}
	for i := range r.shards {
		r.shards[i].pairs = map[eqgate.SessionID]*pair{}
		r.shards[i].c.rtt = make([]counter, len(rttBounds)+1)
	}
	srv, err := eqgate.Listen(addr, cfg, r)
	if err != nil {
		return nil, err
	}
	r.srv = srv
	return r, nil
}

// Server is the server the relay serves; its shards run both legs.
func (r *Relay) Server() *eqgate.Server { return r.srv }

// Backend is the backend address as configured.
func (r *Relay) Backend() string { return r.cfg.Backend }

// Close closes the server: every client session and backend leg gets a
// SessionDisconnect.
func (r *Relay) Close() error { return r.srv.Close() }

// Healthy is nil unless the last UnhealthyAfter dials to the backend (or
// more) all failed with none opening since.
func (r *Relay) Healthy() error {
	if n := r.failStreak.Load(); n >= uint64(r.cfg.UnhealthyAfter) {
		return fmt.Errorf("%w: %s: the last %d dials failed", ErrBackendDown, r.cfg.Backend, n)
	}
	return nil
}

var _ eqgate.Handler = (*Relay)(nil)

// OnOpen dials the session's backend leg from its own shard.
func (r *Relay) OnOpen(s eqgate.Session) {
	sh := &r.shards[s.Shard()]
	p := &pair{r: r, sh: sh, client: s, dialled: time.Now()}
	sh.pairs[s.ID()] = p
	sh.c.sessions.inc(1)
	sh.c.active.inc(1)
	leg, err := s.Dial(r.backend, (*backendLeg)(p))
	if err != nil {
		p.legGone = true
		p.failed()
		p.end(ReasonDialError)
		return
	}
	p.leg = leg
}

// OnMessage relays a client message to the backend, or holds it until the
// backend leg is up.
func (r *Relay) OnMessage(s eqgate.Session, stream int, data []byte) {
	sh := &r.shards[s.Shard()]
	p := sh.pairs[s.ID()]
	if p == nil || p.ended != ReasonNone {
		return // ending: its legs are closing
	}
	if p.up {
		p.relay(p.leg, stream, data, ReasonBackendFull, &sh.c.toBackend)
		return
	}
	if p.heldBytes+len(data) > r.cfg.MaxPending || sh.held+len(data) > r.cfg.ShardBudget {
		sh.c.pendingDrops.inc(1)
		p.end(ReasonPendingFull)
		return
	}
	p.pending = append(p.pending, held{stream, append([]byte(nil), data...)})
	p.heldBytes += len(data)
	sh.held += len(data)
}

// OnClose ends the pair (its backend leg gets a SessionDisconnect) unless
// the other leg or the relay ended it already.
func (r *Relay) OnClose(s eqgate.Session, reason eqgate.CloseReason) {
	sh := &r.shards[s.Shard()]
	p := sh.pairs[s.ID()]
	if p == nil {
		return
	}
	delete(sh.pairs, s.ID())
	p.release()
	p.clientGone = true
	sh.c.active.inc(-1)
	p.end(clientReason(reason))
}
