package eqgate

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/eqgate/eqgate/shard"
)

// Conn is a client session opened by Dial. It runs on the same engine as a
// Server: one shard goroutine that owns the Conn's socket (bound to an
// ephemeral port, so every Conn is its own endpoint to the server), the
// session, its timers and counters. Handler callbacks run on that goroutine;
// Conn's methods are safe from any goroutine.
type Conn struct {
	g      *shard.Group
	id     shard.ID
	remote netip.AddrPort

	ready     chan struct{} // closed once the session opened or failed
	reason    CloseReason   // why it failed; valid after ready if !opened
	opened    bool
	closeOnce sync.Once
	closeErr  error
}

// ErrDialFailed wraps the CloseReason of a Dial that did not connect.
var ErrDialFailed = errors.New("eqgate: dial failed")

// DialError reports why Dial failed.
type DialError struct{ Reason CloseReason }

func (e *DialError) Error() string { return "eqgate: dial failed: " + e.Reason.String() }

// Is makes errors.Is(err, ErrDialFailed) true.
func (e *DialError) Is(target error) bool { return target == ErrDialFailed }

// Dial opens a client session to the server at addr and waits until it is
// established (h.OnOpen has run) or has failed (after Config.ConnectStale,
// 5 s by default, with no answer: a *DialError). The SessionRequest is sent
// at once and retried every ConnectDelay.
func Dial(addr string, cfg Config, h Handler) (*Conn, error) {
	if h == nil {
		return nil, configError("nil Handler")
	}
	cfg.Shards = 1
	if cfg.InboxSize == 0 {
		cfg.InboxSize = 256 // one session: a smaller inbox than a server shard's
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	remote, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if remote.Addr().Is6() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	c := &Conn{remote: remote, ready: make(chan struct{})}
	g, err := shard.Open(local, 1, cfg.shardConfig(shard.RoleClient), &dialHandler{h: h, c: c})
	if err != nil {
		return nil, err
	}
	c.g = g
	g.Start()
	id, err := g.Shard(0).Dial(remote)
	if err != nil {
		_ = g.Close() // the dial error is the one to report
		return nil, err
	}
	c.id = id
	<-c.ready
	if !c.opened {
		_ = g.Close() // the session is gone already; only the socket remains
		return nil, &DialError{Reason: c.reason}
	}
	return c, nil
}

// dialHandler forwards to the user's Handler and tells Dial how its session
// went. Both run on the Conn's shard goroutine.
type dialHandler struct {
	h        Handler
	c        *Conn
	signaled bool
}

func (d *dialHandler) Open(sh *shard.Shard, id shard.ID) {
	d.h.OnOpen(Session{sh, id})
	if !d.signaled {
		d.signaled = true
		d.c.opened = true
		close(d.c.ready)
	}
}

func (d *dialHandler) Message(sh *shard.Shard, id shard.ID, stream int, data []byte) {
	d.h.OnMessage(Session{sh, id}, stream, data)
}

func (d *dialHandler) Close(sh *shard.Shard, id shard.ID, r shard.CloseReason) {
	if !d.signaled {
		// Never opened: Dial reports the failure; the user's Handler saw no
		// OnOpen, so it gets no OnClose either.
		d.signaled = true
		d.c.reason = CloseReason(r)
		close(d.c.ready)
		return
	}
	d.h.OnClose(Session{sh, id}, CloseReason(r))
}

// ID is the session's ID.
func (c *Conn) ID() SessionID { return SessionID(c.id) }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is the Conn's bound address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.g.Addr() }

// Send queues an application packet on stream 0 to 3 from any goroutine,
// as Server.Send does (data is copied; ErrInboxFull rather than a wait).
// Inside a Handler callback, Session.Send is the synchronous form.
func (c *Conn) Send(stream int, data []byte, reliable bool) error {
	return c.g.Shard(0).SendAsync(c.id, stream, data, reliable)
}

// Post runs fn on the Conn's shard goroutine.
func (c *Conn) Post(fn func()) error { return c.g.Shard(0).Post(fn) }

// Stats returns the Conn's engine counters.
func (c *Conn) Stats() Stats { return statsOf(c.g) }

// Collector returns a Prometheus collector for the Conn's counters.
func (c *Conn) Collector() *Collector { return newCollector(c.g) }

// Close sends a SessionDisconnect after flushing queued data (OnClose runs
// with CloseShutdown if the session was still open), closes the socket and
// waits for the shard goroutine to exit.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.g.Close() })
	return c.closeErr
}

// Session returns the handle of the Conn's session, for use on the Conn's
// shard goroutine (in a Handler callback or a function given to Post).
func (c *Conn) Session() Session { return Session{c.g.Shard(0), c.id} }
