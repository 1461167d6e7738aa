package eqgate

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/eqgate/eqgate/shard"
)

// Conn is a client session opened by Dial or a Client: a session on one of
// the client engine's shards with a socket of its own. Handler callbacks run
// on that shard's goroutine; Conn's methods are safe from any goroutine.
type Conn struct {
	cl     *Client
	own    bool // Dial made cl for this Conn alone: Close closes it too
	sh     *shard.Shard
	id     shard.ID
	remote netip.AddrPort
	local  netip.AddrPort
	h      Handler

	// Written on the shard goroutine before ready or done is closed, read
	// after.
	signaled bool
	opened   bool
	reason   CloseReason
	ready    chan struct{} // closed once the session opened or failed
	done     chan struct{} // closed once the session has ended

	closeOnce sync.Once
	closeErr  error
}

// ErrDialFailed matches (errors.Is) every *DialError.
var ErrDialFailed = errors.New("eqgate: dial failed")

// DialError reports why a dial did not connect.
type DialError struct{ Reason CloseReason }

func (e *DialError) Error() string { return "eqgate: dial failed: " + e.Reason.String() }

// Is makes errors.Is(err, ErrDialFailed) true.
func (e *DialError) Is(target error) bool { return target == ErrDialFailed }

// ErrSessionEnded matches (errors.Is) every *EndError.
var ErrSessionEnded = errors.New("eqgate: session ended")

// EndError is Conn.Err once an established session has ended.
type EndError struct{ Reason CloseReason }

func (e *EndError) Error() string { return "eqgate: session ended: " + e.Reason.String() }

// Is makes errors.Is(err, ErrSessionEnded) true.
func (e *EndError) Is(target error) bool { return target == ErrSessionEnded }

// Dial opens a client session to the server at addr on an engine of its own
// (a one-shard Client that Conn.Close closes) and waits until it is
// established (h.OnOpen has run) or has failed (after Config.ConnectStale,
// 5 s by default, with no answer: a *DialError). The SessionRequest is sent
// at once and retried every ConnectDelay. To host many sessions, use one
// Client for all of them.
func Dial(addr string, cfg Config, h Handler) (*Conn, error) {
	return DialContext(context.Background(), addr, cfg, h)
}

// DialContext is Dial that also gives up when ctx is done, returning
// ctx.Err().
func DialContext(ctx context.Context, addr string, cfg Config, h Handler) (*Conn, error) {
	if h == nil {
		return nil, configError("nil Handler")
	}
	cfg.Shards = 1
	if cfg.InboxSize == 0 {
		cfg.InboxSize = 256 // one session: a smaller inbox than a server shard's
	}
	cl, err := NewClient("", cfg)
	if err != nil {
		return nil, err
	}
	c, err := cl.DialContext(ctx, addr, h)
	if err != nil {
		_ = cl.Close() // the dial's error is the one to report
		return nil, err
	}
	c.own = true
	return c, nil
}

// connHandler is a Conn as its session's shard.Handler (its methods would
// clash with Conn's own).
type connHandler Conn

func (c *connHandler) Open(sh *shard.Shard, id shard.ID) {
	if c.cl.guard.recover {
		// A panic skips the signal below; the close it causes signals.
		defer c.cl.guard.caught(sh, id)
	}
	c.h.OnOpen(Session{sh, id})
	if !c.signaled {
		c.signaled, c.opened = true, true
		close(c.ready)
	}
}

func (c *connHandler) Message(sh *shard.Shard, id shard.ID, stream int, data []byte) {
	if c.cl.guard.recover {
		defer c.cl.guard.caught(sh, id)
	}
	c.h.OnMessage(Session{sh, id}, stream, data)
}

func (c *connHandler) Close(sh *shard.Shard, id shard.ID, r CloseReason) {
	c.reason = r
	defer close(c.done) // after OnClose, even one that panicked
	if !c.signaled {
		// Never opened: Wait reports it; the Handler saw no OnOpen, so it
		// gets no OnClose either.
		c.signaled = true
		close(c.ready)
		return
	}
	if c.cl.guard.recover {
		defer c.cl.guard.caught(sh, id)
	}
	c.h.OnClose(Session{sh, id}, r)
}

var _ shard.Handler = (*connHandler)(nil)

// Wait blocks until the session is established (nil) or the dial failed
// (a *DialError; the session's socket is then already released).
func (c *Conn) Wait() error {
	<-c.ready
	if !c.opened {
		return &DialError{Reason: c.reason}
	}
	return nil
}

// Ready is closed once the dial has an outcome (see Wait).
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// Done is closed once the session has ended, for any reason (after OnClose
// ran, or when the dial failed); Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is nil while the session is connecting or open; once Done is closed
// it is a *DialError (it never opened) or an *EndError (it ended) with the
// CloseReason.
func (c *Conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if !c.opened {
		return &DialError{Reason: c.reason}
	}
	return &EndError{Reason: c.reason}
}

// ID is the session's ID.
func (c *Conn) ID() SessionID { return SessionID(c.id) }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is the address the session's socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Send queues an application packet on stream 0 to 3 from any goroutine,
// as Server.Send does: data is copied, the outcome is known when Send
// returns (nil: accepted, sent in order once the window has room, also
// while the session is still connecting), and a full queue is
// ErrSendQueueFull rather than a wait (SendContext waits). Inside a Handler
// callback, Session.Send is the synchronous form.
func (c *Conn) Send(stream int, data []byte, reliable bool) error {
	return c.sh.SendAsync(c.id, stream, data, reliable)
}

// Post runs fn on the Conn's shard goroutine.
func (c *Conn) Post(fn func()) error { return c.sh.Post(fn) }

// Stats returns the counters of the Conn's engine (for a Client's Conn,
// the whole Client's).
func (c *Conn) Stats() Stats { return c.cl.Stats() }

// Collector returns a Prometheus collector for the Conn's engine counters.
func (c *Conn) Collector() *Collector { return c.cl.Collector() }

// Session returns the handle of the Conn's session, for use on the Conn's
// shard goroutine (in a Handler callback or a function given to Post).
func (c *Conn) Session() Session { return Session{c.sh, c.id} }

// Close ends the session: queued data and a SessionDisconnect go out, OnClose
// runs with CloseLocal if the session was still open, and the socket is
// closed before Close returns. A Conn from Dial also closes its engine.
// After Close returns no callback runs for the session.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		sh, id := c.sh, c.id
		finished := make(chan struct{})
		err := postRetry(sh, func() {
			if _, ok := sh.Remote(id); ok {
				_ = sh.CloseSession(id) // OnClose and the socket's close run inside
			}
			close(finished)
		})
		if err == nil {
			select {
			case <-finished:
			case <-sh.Done():
			}
		} else if !errors.Is(err, ErrClosed) {
			c.closeErr = err
		}
		// ErrClosed: the engine is closing and ends the session itself.
		if c.own {
			c.closeErr = errors.Join(c.closeErr, c.cl.Close())
		}
	})
	return c.closeErr
}
