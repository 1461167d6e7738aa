package eqgate

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eqgate/eqgate/shard"
)

// Client is a client engine: Config.Shards shards (default 1) of the same
// engine a Server runs, hosting sessions dialled to one server or many.
// Each session is a session on a shard like any other, with a UDP socket of
// its own (its own source endpoint, as a server sees it) that the shard
// reads and writes itself, batched, alongside all its other sessions'.
//
// Cost per session at scale (100k sessions on a few shards): one fd and a
// kernel socket (raise RLIMIT_NOFILE's hard limit; Go lifts the soft one;
// or, with Config.ShareSockets and an address per session, one fd per
// shared socket),
// a slab slot (the protocol state, ~1 KiB) and a few bytes of socket table;
// no goroutine, no runtime timer and no buffer of its own: timers are the
// shard's wheel, buffers the shard's pools. Each shard sleeps in one epoll
// instance over all its sockets, parked in Go's netpoller, so a burst over
// many sessions is one wake-up and one goroutine's batch. See tuning.md.
//
// Handler callbacks run on the owning shard goroutine, as on a Server, and
// go to the Handler given to that session's dial. Methods are safe from any
// goroutine.
type Client struct {
	local  netip.Addr // zero: any address of the server's family
	g      *shard.Group
	guard  *guard
	label  string // the collector's client label
	rr     atomic.Uint32
	closed atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// NewClient starts a client engine whose sockets bind to local ("" for any
// address; an IP such as "127.0.0.2" to choose the source address servers
// see). cfg is as for Dial; Shards defaults to 1 here, and RecvBuffer and
// SendBuffer apply to each session's socket (256 KiB when 0: the server
// default, 4 MiB, is far more than one session needs, times thousands).
func NewClient(local string, cfg Config) (*Client, error) {
	var la netip.Addr
	if local != "" {
		a, err := netip.ParseAddr(local)
		if err != nil {
			return nil, configError("local address: "+err.Error(), "local")
		}
		la = a.Unmap()
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	if cfg.RecvBuffer == 0 {
		cfg.RecvBuffer = 256 << 10
	}
	if cfg.SendBuffer == 0 {
		cfg.SendBuffer = 256 << 10
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g, err := shard.NewClientGroup(cfg.Shards, cfg.shardConfig(shard.RoleClient), noHandler{})
	if err != nil {
		return nil, err
	}
	g.Start()
	return &Client{local: la, g: g, guard: newGuard(cfg.HandlerPanic, cfg.Shards), label: strconv.FormatUint(clientSeq.Add(1), 10)}, nil
}

// clientSeq numbers Clients in the order they start: their collectors'
// client label.
var clientSeq atomic.Uint64

// noHandler is a Client group's Handler: every dialled session has its own.
type noHandler struct{}

func (noHandler) Open(*shard.Shard, shard.ID)                 {}
func (noHandler) Message(*shard.Shard, shard.ID, int, []byte) {}
func (noHandler) Close(*shard.Shard, shard.ID, CloseReason)   {}

// Dial opens a session to addr from the Client's local address and waits
// until it is established or has failed (a *DialError after ConnectStale).
func (c *Client) Dial(addr string, h Handler) (*Conn, error) {
	return c.DialContext(context.Background(), addr, h)
}

// DialContext is Dial that also gives up when ctx is done (returning
// ctx.Err(); the half-open session is closed).
func (c *Client) DialContext(ctx context.Context, addr string, h Handler) (*Conn, error) {
	return c.dialWait(ctx, c.local, addr, h)
}

// DialFrom is Dial from the source address local (for example one of
// 127.0.0.0/8, to stay under a server's sessions-per-address cap; with
// Config.ShareSockets, sessions from different addresses share a socket).
func (c *Client) DialFrom(local netip.Addr, addr string, h Handler) (*Conn, error) {
	return c.dialWait(context.Background(), local, addr, h)
}

func (c *Client) dialWait(ctx context.Context, local netip.Addr, addr string, h Handler) (*Conn, error) {
	conn, err := c.StartDial(local, addr, h)
	if err != nil {
		return nil, err
	}
	select {
	case <-conn.ready:
	case <-ctx.Done():
		_ = conn.Close() // the context's error is the one to report
		return nil, ctx.Err()
	}
	if err := conn.Wait(); err != nil {
		return nil, err // the shard has released its socket already
	}
	return conn, nil
}

// StartDial opens a socket on local (the Client's address when local is
// the zero Addr), queues the SessionRequest and returns without waiting for
// the server: Wait or Ready tell the outcome. Starting many dials and then
// waiting for each connects them all in about one round trip.
func (c *Client) StartDial(local netip.Addr, addr string, h Handler) (*Conn, error) {
	if h == nil {
		return nil, configError("nil Handler")
	}
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if !local.IsValid() {
		local = c.local
	}
	remote, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	if remote.Addr().Is6() && local.Is4() {
		local = netip.Addr{} // any address of the server's family
	}
	sh := c.g.Shard(int(c.rr.Add(1) % uint32(c.g.Len())))
	conn := &Conn{cl: c, sh: sh, remote: remote, h: h, ready: make(chan struct{}), done: make(chan struct{})}
	type result struct {
		id    shard.ID
		bound netip.AddrPort
		err   error
	}
	ch := make(chan result, 1)
	if err := postRetry(sh, func() {
		id, bound, err := sh.DialFrom(local, remote, (*connHandler)(conn))
		ch <- result{id, bound, err}
	}); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		conn.id, conn.local = r.id, r.bound
	case <-sh.Done():
		return nil, ErrClosed
	}
	return conn, nil
}

// postRetry posts fn, retrying while the inbox is full: these are rare
// control operations (dial, close) that must not be lost.
func postRetry(sh *shard.Shard, fn func()) error {
	for spin := 0; ; spin++ {
		err := sh.Post(fn)
		if !errors.Is(err, ErrInboxFull) {
			return err
		}
		if spin < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// Stats returns the Client's engine counters.
func (c *Client) Stats() Stats { return statsOf(c.g, c.guard) }

// Collector returns a Prometheus collector for the Client's counters. A
// Client listens nowhere, so its series carry listen="client:N", N being
// its number in start order within the process: the label a Server's
// carry, so that Clients and Servers share a registry (Prometheus wants one
// set of label names per metric).
func (c *Client) Collector() *Collector {
	return newCollector(c.g, c.guard, prometheus.Labels{"listen": "client:" + c.label})
}

// Sockets is the number of sessions still holding a socket (their own or
// a share of one, Config.ShareSockets).
func (c *Client) Sockets() int {
	n := 0
	for i := range c.g.Len() {
		n += c.g.Shard(i).Sockets()
	}
	return n
}

// FDs is the number of socket descriptors the sessions hold: Sockets, less
// what Config.ShareSockets saves.
func (c *Client) FDs() int {
	n := 0
	for i := range c.g.Len() {
		n += c.g.Shard(i).SocketFDs()
	}
	return n
}

// Close ends every session (SessionDisconnect after queued data, OnClose
// with CloseShutdown), closes every socket and waits for the Client's
// goroutines to exit.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.g.Close()
	})
	return c.closeErr
}
