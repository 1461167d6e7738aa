package relay

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eqgate/eqgate"
)

// Config configures a Relay. The zero value of every numeric field takes
// its default.
type Config struct {
	// Backend is the backend server, host:port. Required.
	Backend string
	// Leg configures the backend legs. They are client sessions, so the
	// encoding, CRC and packet size they use are what the backend's
	// SessionResponse says; MaxPacketSize is what they offer. The zero
	// Config is eqgate.DefaultConfig's settings. Its ConnectStale is
	// replaced by ConnectTimeout; Shards is the number of goroutines the
	// backend legs run on (default: the server's shard count).
	Leg eqgate.Config
	// ConnectTimeout closes a client session whose backend has not
	// answered the leg's SessionRequest within it; 5 s.
	ConnectTimeout time.Duration
	// MaxPending caps the bytes one session may send before its backend
	// leg exists; past it the session is closed (ReasonPendingFull). 64 KiB.
	MaxPending int
	// ShardBudget caps the bytes held that way over all sessions of one
	// shard; past it the session that would exceed it is closed
	// (ReasonPendingFull). 16 MiB.
	ShardBudget int
	// UnhealthyAfter is how many dials in a row must fail, with none
	// succeeding, before Healthy reports the backend down; 3.
	UnhealthyAfter int
}

// Defaults of Config's zero fields.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultMaxPending     = 64 << 10
	DefaultShardBudget    = 16 << 20
	DefaultUnhealthyAfter = 3
	// defaultLegInbox is the backend engine's inbox: every relayed message
	// crosses it, so it is sized for bursts of many sessions.
	defaultLegInbox = 1 << 15
)

// ErrBackendDown matches (errors.Is) Healthy's error.
var ErrBackendDown = errors.New("relay: backend refuses every dial")

// Relay is the relay handler and the server it serves. Methods are safe
// from any goroutine.
type Relay struct {
	cfg Config
	srv *eqgate.Server // set before ready is closed
	cl  *eqgate.Client
	// ready is closed once srv is set; dials wait for it (a session can
	// open before Listen has returned the Server).
	ready chan struct{}

	shards []shardState
	st     counters
	wg     sync.WaitGroup // dial and close goroutines
}

// shardState is what the relay keeps per client shard, touched only by
// that shard's goroutine; padded so neighbours' writes do not share a line.
type shardState struct {
	pairs map[eqgate.SessionID]*pair
	held  int // bytes held for backend legs not yet dialled
	_     [48]byte
}

// Listen serves addr with cfg (as eqgate.Listen) and relays every session
// to rc.Backend.
func Listen(addr string, cfg eqgate.Config, rc Config) (*Relay, error) {
	if rc.Backend == "" {
		return nil, errors.New("relay: no backend address")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if rc.ConnectTimeout == 0 {
		rc.ConnectTimeout = DefaultConnectTimeout
	}
	def(&rc.MaxPending, DefaultMaxPending)
	def(&rc.ShardBudget, DefaultShardBudget)
	def(&rc.UnhealthyAfter, DefaultUnhealthyAfter)
	if rc.ConnectTimeout < 0 || rc.MaxPending < 0 || rc.ShardBudget < 0 || rc.UnhealthyAfter < 0 {
		return nil, errors.New("relay: negative setting")
	}
	shards := cfg.Filled().Shards
	leg := rc.Leg
	leg.ConnectStale = rc.ConnectTimeout
	def(&leg.Shards, shards)
	def(&leg.InboxSize, defaultLegInbox)
	cl, err := eqgate.NewClient("", leg)
	if err != nil {
		return nil, fmt.Errorf("relay: backend legs: %w", err)
	}
	r := &Relay{cfg: rc, cl: cl, ready: make(chan struct{}), shards: make([]shardState, shards)}
	for i := range r.shards {
		r.shards[i].pairs = map[eqgate.SessionID]*pair{}
	}
	srv, err := eqgate.Listen(addr, cfg, r)
	if err != nil {
		_ = cl.Close() // the listen error is the one to report
		return nil, err
	}
	r.srv = srv
	close(r.ready)
	return r, nil
}

// Server is the server the relay serves (its client legs).
func (r *Relay) Server() *eqgate.Server { return r.server() }

// server waits until Listen has the Server: a session may open, and end,
// on a shard before Listen has returned it (a receive from a closed channel
// costs a load once it is).
func (r *Relay) server() *eqgate.Server {
	<-r.ready
	return r.srv
}

// Backend is the backend address the relay dials.
func (r *Relay) Backend() string { return r.cfg.Backend }

// Legs is the engine that runs the backend legs.
func (r *Relay) Legs() *eqgate.Client { return r.cl }

// Close closes every client session (each pair's backend leg gets its
// SessionDisconnect too), then the backend legs' engine, and waits for
// every goroutine of the relay.
func (r *Relay) Close() error {
	err := r.server().Close()
	r.wg.Wait()
	return errors.Join(err, r.cl.Close())
}

// Healthy is nil unless the last UnhealthyAfter dials to the backend (or
// more) all failed with none succeeding since.
func (r *Relay) Healthy() error {
	if n := r.st.failStreak.Load(); n >= uint64(r.cfg.UnhealthyAfter) {
		return fmt.Errorf("%w: %s: the last %d dials failed", ErrBackendDown, r.cfg.Backend, n)
	}
	return nil
}

var _ eqgate.Handler = (*Relay)(nil)

// OnOpen starts the session's backend leg.
func (r *Relay) OnOpen(s eqgate.Session) {
	p := &pair{r: r, client: s.ID(), shard: s.Shard()}
	r.shards[p.shard].pairs[p.client] = p
	r.st.sessions.Add(1)
	r.st.active.Add(1)
	r.wg.Add(1)
	go p.dial()
}

// OnMessage relays a client message to the backend, or holds it until the
// backend leg exists.
func (r *Relay) OnMessage(s eqgate.Session, stream int, data []byte) {
	sh := &r.shards[s.Shard()]
	p := sh.pairs[s.ID()]
	if p == nil || p.reason.Load() != 0 {
		return // ending: its legs are closing
	}
	if p.fwd != nil {
		p.toBackend(stream, data)
		return
	}
	if p.heldBytes+len(data) > r.cfg.MaxPending || sh.held+len(data) > r.cfg.ShardBudget {
		r.st.pendingDrops.Add(1)
		p.end(ReasonPendingFull, true, true)
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
	p.release(sh)
	p.gone = true
	r.st.active.Add(-1)
	p.end(clientReason(reason), false, true)
}
