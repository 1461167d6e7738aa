package eqgate

import (
	"errors"
	"github.com/eqgate/eqgate/batchio"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// Conn is a client session opened by Dial. It runs on the same engine as a
// Server: one shard goroutine that owns the Conn's socket (bound to an
// ephemeral port, so every Conn is its own endpoint to the server), the
// session, its timers and counters. Handler callbacks run on that goroutine;
// Conn's methods are safe from any goroutine.
//
// A Conn made by Client.Dial or Client.StartDial shares its Client's
// engine instead: its own socket, but the Client's shard goroutine.
type Conn struct {
	g      *shard.Group
	sh     *shard.Shard
	id     shard.ID
	remote netip.AddrPort

	// Client sessions only.
	cs       *clientShard
	ln       *line
	h        Handler
	signaled bool // shard goroutine: the dial outcome was reported

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
	c.g, c.sh = g, g.Shard(0)
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

func (d *dialHandler) Close(sh *shard.Shard, id shard.ID, r CloseReason) {
	if !d.signaled {
		// Never opened: Dial reports the failure; the user's Handler saw no
		// OnOpen, so it gets no OnClose either.
		d.signaled = true
		d.c.reason = r
		close(d.c.ready)
		return
	}
	d.h.OnClose(Session{sh, id}, r)
}

// ID is the session's ID.
func (c *Conn) ID() SessionID { return SessionID(c.id) }

// RemoteAddr is the server's address.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is the Conn's bound address.
func (c *Conn) LocalAddr() netip.AddrPort {
	if c.ln != nil {
		return c.ln.sock.LocalAddr()
	}
	return c.g.Addr()
}

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

// Stats returns the Conn's engine counters (for a Client's Conn, the
// whole Client's).
func (c *Conn) Stats() Stats { return statsOf(c.g) }

// Collector returns a Prometheus collector for the Conn's counters.
func (c *Conn) Collector() *Collector { return newCollector(c.g) }

// Close sends a SessionDisconnect after flushing queued data (OnClose runs
// with CloseShutdown if the session was still open; CloseLocal for a
// Client's Conn), closes the socket and waits for the shard goroutine to
// exit (for a Client's Conn: for the socket's reader; the Client's engine
// goes on). After Close returns no callback runs for the session.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		if c.cs != nil {
			c.closeErr = c.cs.closeConn(c)
			return
		}
		c.closeErr = c.g.Close()
	})
	return c.closeErr
}

// Session returns the handle of the Conn's session, for use on the Conn's
// shard goroutine (in a Handler callback or a function given to Post).
func (c *Conn) Session() Session { return Session{c.sh, c.id} }

// Client is a shared client engine: many sessions, to one server or many,
// each from its own socket (its own source endpoint, as a server sees it),
// all driven by the same few shard goroutines. Dial gives each session an
// engine of its own (a goroutine, a socket, timers, buffers, a session
// table); a Client amortises all of that, so thousands of sessions cost
// one shard goroutine per Config.Shards plus one reader per socket parked
// in the netpoller (no OS thread while idle) and a few KiB each.
//
// Handler callbacks run on the owning shard goroutine, as on a Server.
// Session.RemoteAddr of a Client session reports the engine's internal
// name for the session's socket, not the server: use Conn.RemoteAddr.
type Client struct {
	cfg    Config
	local  netip.Addr
	g      *shard.Group
	shards []*clientShard
	batch  int // datagrams per recvmmsg on each session socket

	nextLine atomic.Uint32
	rr       atomic.Uint32

	mu     sync.Mutex
	lines  map[*line]struct{} // sockets whose reader has not exited
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// clientShard is one shard of a Client and its session sockets.
type clientShard struct {
	cl    *Client
	sh    *shard.Shard
	sock  *fanSocket
	lines map[uint32]*line // shard goroutine only
}

// fanQueue is how many received datagrams a Client shard can have waiting
// between its sockets' readers and its goroutine; past it they are
// dropped (and counted) like a full socket buffer would.
const fanQueue = 8192

// NewClient starts a client engine whose sockets bind to local ("" for
// 0.0.0.0; an IP such as "127.0.0.2" to choose the source address servers
// see). cfg is as for Dial; Shards defaults to 1 here, and each session
// socket reads up to min(Batch, 4) datagrams per recvmmsg, the shard then
// batching over all of them. RecvBuffer and SendBuffer apply to each
// session socket (256 KiB when 0).
func NewClient(local string, cfg Config) (*Client, error) {
	la := netip.IPv4Unspecified()
	if local != "" {
		a, err := netip.ParseAddr(local)
		if err != nil {
			return nil, configError("local address: " + err.Error())
		}
		la = a.Unmap()
	}
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	// Per session socket, the server default (4 MiB) is far more than one
	// session needs, times thousands of sockets.
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
	c := &Client{cfg: cfg, local: la, batch: min(cfg.Batch, 4), lines: map[*line]struct{}{}}
	socks := make([]shard.Socket, cfg.Shards)
	c.shards = make([]*clientShard, cfg.Shards)
	for i := range socks {
		cs := &clientShard{cl: c, sock: newFanSocket(fanQueue, cfg.DatagramBuffer), lines: map[uint32]*line{}}
		cs.sock.cs = cs
		c.shards[i] = cs
		socks[i] = cs.sock
	}
	g, err := shard.NewGroup(cfg.shardConfig(shard.RoleClient), socks, clientHandler{c})
	if err != nil {
		return nil, err
	}
	c.g = g
	for i, cs := range c.shards {
		cs.sh = g.Shard(i)
	}
	g.Start()
	return c, nil
}

// Dial opens a session to addr from the Client's local address and waits
// until it is established or has failed (a *DialError after ConnectStale).
// Safe from any goroutine; see StartDial to open many at once.
func (c *Client) Dial(addr string, h Handler) (*Conn, error) {
	return c.DialFrom(c.local, addr, h)
}

// DialFrom is Dial from the source address local (for example one of
// 127.0.0.0/8, to stay under a server's sessions-per-address cap).
func (c *Client) DialFrom(local netip.Addr, addr string, h Handler) (*Conn, error) {
	conn, err := c.StartDial(local, addr, h)
	if err != nil {
		return nil, err
	}
	if err := conn.Wait(); err != nil {
		_ = conn.Close() // releases the socket; the dial error is the one to report
		return nil, err
	}
	return conn, nil
}

// StartDial binds a socket on local (the Client's address when local is
// the zero Addr), queues the SessionRequest and returns without waiting for
// the server: Wait or Ready tell the outcome. Starting many dials and then
// waiting for each connects them all in about one round trip.
func (c *Client) StartDial(local netip.Addr, addr string, h Handler) (*Conn, error) {
	if h == nil {
		return nil, configError("nil Handler")
	}
	if !local.IsValid() {
		local = c.local
	}
	remote, err := resolve(addr)
	if err != nil {
		return nil, err
	}
	if remote.Addr().Is6() && local.Is4() {
		local = netip.IPv6Unspecified()
		if c.local.Is6() {
			local = c.local
		}
	}
	k := len(c.shards)
	idx := int(c.rr.Add(1) % uint32(k))
	cs := c.shards[idx]
	var id uint32
	for {
		id = c.nextLine.Add(1)
		if k == 1 || batchio.Owner(virtAddr(id, remote.Port()), k) == idx {
			break
		}
	}
	bg, err := batchio.Open(netip.AddrPortFrom(local, 0), batchio.Options{
		Sockets: 1, RecvBuffer: c.cfg.RecvBuffer, SendBuffer: c.cfg.SendBuffer, Batch: c.batch,
	})
	if err != nil {
		return nil, err
	}
	ln := &line{id: id, bg: bg, sock: bg.Conn(0), remote: remote, virt: virtAddr(id, remote.Port()), done: make(chan struct{})}
	conn := &Conn{g: c.g, sh: cs.sh, remote: remote, cs: cs, ln: ln, h: h, ready: make(chan struct{})}
	ln.conn = conn

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = bg.Close()
		return nil, ErrClosed
	}
	c.lines[ln] = struct{}{}
	c.mu.Unlock()
	go func() {
		cs.sock.reader(ln, c.batch, c.cfg.DatagramBuffer)
		c.mu.Lock()
		delete(c.lines, ln)
		c.mu.Unlock()
		// Only now: whoever waits on done may count c.lines next.
		close(ln.done)
	}()

	// Register the line before the dial: the SessionRequest goes out in
	// the iteration that creates the session.
	if err := postRetry(cs.sh, func() { cs.lines[id] = ln }); err != nil {
		_ = bg.Close() // Client.Close may be closing it too; both are harmless
		<-ln.done
		return nil, err
	}
	sid, err := cs.sh.Dial(ln.virt)
	if err != nil {
		_ = postRetry(cs.sh, func() { cs.sock.scheduleClose(ln) })
		_ = c.closeSocketIfStopped(ln)
		return nil, err
	}
	conn.id = sid
	return conn, nil
}

// closeSocketIfStopped closes ln's socket when the engine is shutting
// down (nobody will run its scheduled close) and waits for its reader.
func (c *Client) closeSocketIfStopped(ln *line) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		_ = ln.bg.Close()
	}
	<-ln.done
	return nil
}

// postRetry posts fn, retrying while the inbox is full: these are rare
// control operations that must not be lost.
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

// Wait blocks until the session is established (nil) or the dial failed
// (a *DialError; the Conn's socket is then already released).
func (c *Conn) Wait() error {
	<-c.ready
	if !c.opened {
		return &DialError{Reason: c.reason}
	}
	return nil
}

// Ready is closed once the dial has an outcome (see Wait).
func (c *Conn) Ready() <-chan struct{} { return c.ready }

// closeConn is Conn.Close for a Client's session: an orderly close on the
// shard goroutine, the socket closed after the SessionDisconnect is sent.
func (cs *clientShard) closeConn(c *Conn) error {
	ln := c.ln
	err := postRetry(cs.sh, func() {
		if _, ok := cs.sh.Remote(c.id); ok {
			_ = cs.sh.CloseSession(c.id) // OnClose runs now, inside
		}
		cs.sock.scheduleClose(ln)
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	// ErrClosed: the Client is closing and will close the socket.
	return cs.cl.closeSocketIfStopped(ln)
}

// Stats returns the Client's engine counters.
func (c *Client) Stats() Stats { return statsOf(c.g) }

// Collector returns a Prometheus collector for the Client's counters.
func (c *Client) Collector() *Collector { return newCollector(c.g) }

// QueueDrops counts datagrams that session sockets received while the
// shard's queue was full (the sessions' resends recover them).
func (c *Client) QueueDrops() uint64 {
	var n uint64
	for _, cs := range c.shards {
		n += cs.sock.drops.Load()
	}
	return n
}

// Sockets is the number of session sockets still open.
func (c *Client) Sockets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// Close ends every session (SessionDisconnect after queued data, OnClose
// with CloseShutdown), closes every socket and waits for every goroutine
// of the Client to exit.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.closeErr = c.g.Close()
		c.mu.Lock()
		lines := make([]*line, 0, len(c.lines))
		for ln := range c.lines {
			lines = append(lines, ln)
		}
		c.mu.Unlock()
		for _, ln := range lines {
			_ = ln.bg.Close() // may be closed already: then a no-op error
			<-ln.done
		}
	})
	return c.closeErr
}

// clientHandler routes a Client's shard events to each session's Handler.
type clientHandler struct{ c *Client }

// lineFor finds the session's line from its (virtual) peer address.
func (h clientHandler) lineFor(sh *shard.Shard, id shard.ID) *line {
	ap, ok := sh.Remote(id)
	if !ok {
		return nil
	}
	lid, ok := lineOf(ap)
	if !ok {
		return nil
	}
	return h.c.shards[sh.Index()].lines[lid]
}

func (h clientHandler) Open(sh *shard.Shard, id shard.ID) {
	ln := h.lineFor(sh, id)
	if ln == nil {
		return
	}
	c := ln.conn
	c.h.OnOpen(Session{sh, id})
	if !c.signaled {
		c.signaled = true
		c.opened = true
		close(c.ready)
	}
}

func (h clientHandler) Message(sh *shard.Shard, id shard.ID, stream int, data []byte) {
	if ln := h.lineFor(sh, id); ln != nil {
		ln.conn.h.OnMessage(Session{sh, id}, stream, data)
	}
}

func (h clientHandler) Close(sh *shard.Shard, id shard.ID, r CloseReason) {
	ln := h.lineFor(sh, id)
	if ln == nil {
		return
	}
	c := ln.conn
	if !c.signaled {
		// Never opened: Wait reports it; the Handler saw no OnOpen, so
		// it gets no OnClose either.
		c.signaled = true
		c.reason = r
		close(c.ready)
	} else {
		c.h.OnClose(Session{sh, id}, r)
	}
	// The session is over; its socket closes once this iteration's
	// datagrams (the SessionDisconnect) are out.
	h.c.shards[sh.Index()].sock.scheduleClose(ln)
}
