package eqgate

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eqgate/eqgate/shard"
)

// Server is a running eqgate frontend: Config.Shards shards, each one
// goroutine owning one socket of a SO_REUSEPORT group, its sessions, timers
// and counters. Methods are safe from any goroutine.
type Server struct {
	g         *shard.Group
	guard     *guard
	collector *Collector
	closeOnce sync.Once
	closeErr  error
	abortOnce sync.Once
	aborted   chan struct{} // closed by Abort (drain.go)
}

// Listen binds addr ("host:port", ":port"; port 0 picks one) and starts
// serving sessions, calling h on the owning shard's goroutine.
func Listen(addr string, cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, configError("nil Handler")
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ap, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	gd := newGuard(cfg.HandlerPanic, cfg.Shards)
	g, err := shard.Open(ap, cfg.Shards, cfg.shardConfig(shard.RoleServer), &handlerAdapter{h, gd})
	if err != nil {
		return nil, err
	}
	g.Start()
	labels := prometheus.Labels{"listen": g.Addr().String()}
	return &Server{g: g, guard: gd, collector: newCollector(g, gd, labels), aborted: make(chan struct{})}, nil
}

// resolve turns "host:port" into an address; an empty host is 0.0.0.0 (the
// protocol is IPv4, SPEC §20.3).
func resolve(addr string) (netip.AddrPort, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := ua.AddrPort()
	if host == "" {
		ap = netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// Addr is the bound address.
func (s *Server) Addr() netip.AddrPort { return s.g.Addr() }

// Shards is the number of shards.
func (s *Server) Shards() int { return s.g.Len() }

// Send queues a reliable application packet for session id on stream 0 to
// 3 from any goroutine, without blocking. data is copied before Send
// returns. nil means the packet was accepted: the session's queue room was
// reserved for it here, so the shard sends it, in order, as soon as the
// window has room, and it is lost only if the session closes first
// (OnClose). Otherwise the error says why nothing was queued:
// ErrSendQueueFull (window and queue full: see SendRoom, SendContext),
// ErrTooBig, ErrNoSession, ErrInboxFull, ErrBadStream or ErrClosed. The
// shard is woken within a millisecond and sends with its next batch.
func (s *Server) Send(id SessionID, stream int, data []byte) error {
	return s.shardOf(id).SendAsync(shard.ID(id), stream, data, true)
}

// SendUnreliable is Send for an unreliable packet (SPEC §15 step 3).
func (s *Server) SendUnreliable(id SessionID, stream int, data []byte) error {
	return s.shardOf(id).SendAsync(shard.ID(id), stream, data, false)
}

// CloseSession starts an orderly close of session id from any goroutine.
func (s *Server) CloseSession(id SessionID) error {
	return s.shardOf(id).CloseAsync(shard.ID(id))
}

func (s *Server) shardOf(id SessionID) *shard.Shard {
	i := id.Shard()
	if i >= s.g.Len() {
		i = 0 // its slot and generation cannot match: refused there as stale
	}
	return s.g.Shard(i)
}

// Post runs fn on the goroutine of shard i, where Session methods of that
// shard's sessions may be used. It returns at once: ErrInboxFull when the
// inbox is full, ErrClosed after Close; fn then never runs.
func (s *Server) Post(shardIndex int, fn func()) error {
	if shardIndex < 0 || shardIndex >= s.g.Len() {
		return configError("no such shard")
	}
	return s.g.Shard(shardIndex).Post(fn)
}

// Session returns the handle for id, to use on its shard's goroutine (in a
// function given to Post); its methods return ErrNoSession if id is stale.
func (s *Server) Session(id SessionID) Session {
	return Session{s.shardOf(id), shard.ID(id)}
}

// Stats returns a copy of every shard's counters.
func (s *Server) Stats() Stats { return statsOf(s.g, s.guard) }

// Collector returns the Prometheus collector for this server's counters.
// Its series carry listen="<bound address>", so the collectors of several
// Servers (and Clients) register in one registry side by side.
func (s *Server) Collector() *Collector { return s.collector }

// Close drains and stops the server: every session is sent a
// SessionDisconnect (OnClose runs with CloseShutdown), queued data is
// flushed, then the sockets close and the shard goroutines exit. Close
// returns when they have; later calls return the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.g.Close() })
	return s.closeErr
}

// ErrUnhealthy is matched (errors.Is) by every Healthy error.
var ErrUnhealthy = errors.New("eqgate: unhealthy")

// Healthy returns nil when every shard's goroutine runs its loop, and an
// error naming the shards that do not otherwise (all of them after Close).
// It takes no lock and never blocks, so a health endpoint may call it per
// request. It sees a loop that has exited, not one stuck inside a Handler
// callback: for that, Post a function to each shard and wait for it.
func (s *Server) Healthy() error { return healthy(s.g) }

func healthy(g *shard.Group) error {
	var down []int
	for i := range g.Len() {
		if !g.Shard(i).Running() {
			down = append(down, i)
		}
	}
	if len(down) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d of %d shards not running %v", ErrUnhealthy, len(down), g.Len(), down)
}

// Facts reports what the kernel granted the server's sockets at Listen:
// buffer sizes after clamping, whether SO_RCVBUFFORCE was accepted, and
// whether steering and GSO are in use (with the reason when not).
func (s *Server) Facts() Facts { return s.g.Facts() }

// Facts is what the kernel granted a socket group (shard.Facts).
type Facts = shard.Facts

// Steering reports whether the kernel steering program is attached (each
// endpoint delivered to its owner shard's socket), and why not otherwise.
func (s *Server) Steering() (on bool, reason string) {
	f := s.g.Facts()
	return f.Steering, f.SteeringReason
}
