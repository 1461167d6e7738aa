package relay

import (
	"errors"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate"
)

// pair is one client session and its backend leg.
type pair struct {
	r      *Relay
	client eqgate.SessionID
	shard  int

	// Any goroutine.
	reason atomic.Uint32               // the Reason the pair ended with; 0 while it runs
	conn   atomic.Pointer[eqgate.Conn] // the backend leg, once its dial has started

	// The client shard's goroutine only.
	fwd       *eqgate.Conn // set once pending went out: later messages go straight
	pending   []held
	heldBytes int
	gone      bool // the client session has closed
}

// held is a client message waiting for the backend leg.
type held struct {
	stream int
	data   []byte
}

// release gives the shard's budget back (client shard goroutine).
func (p *pair) release(sh *shardState) {
	sh.held -= p.heldBytes
	p.heldBytes = 0
	p.pending = nil
}

// dial is the backend leg's dial, on a goroutine of its own: the client
// engine's StartDial waits for that engine's goroutine, which a shard
// goroutine must not do.
func (p *pair) dial() {
	r := p.r
	defer r.wg.Done()
	<-r.ready
	start := time.Now()
	conn, err := r.cl.StartDial(netip.Addr{}, r.cfg.Backend, (*backendLeg)(p))
	if err != nil {
		r.st.dialFailures.Add(1)
		r.st.failStreak.Add(1)
		p.end(ReasonDialError, true, false)
		return
	}
	p.conn.Store(conn)
	if p.reason.Load() != 0 {
		_ = conn.Close() // the pair ended while dialling; end saw no Conn
		return
	}
	if err := conn.Wait(); err != nil {
		var de *eqgate.DialError
		reason := ReasonDialError
		if errors.As(err, &de) {
			reason = backendReason(de.Reason)
		}
		r.st.dialFailures.Add(1)
		r.st.failStreak.Add(1)
		p.end(reason, true, false) // a leg that never opened is gone already
		return
	}
	r.st.failStreak.Store(0)
	r.st.connectNanos.Add(uint64(time.Since(start)))
	r.st.connects.Add(1)
	// Flush what the client sent meanwhile, in order, on its shard.
	if err := retry(func() error { return r.server().Post(p.shard, func() { p.up(conn) }) }); err != nil {
		p.end(ReasonShutdown, false, true)
	}
}

// up sends what was held and makes later messages go straight to the
// backend leg (client shard goroutine).
func (p *pair) up(conn *eqgate.Conn) {
	if p.gone || p.reason.Load() != 0 {
		return // the client is gone or going: end closes the leg
	}
	p.fwd = conn
	for _, h := range p.pending {
		if !p.toBackend(h.stream, h.data) {
			break
		}
	}
	p.release(&p.r.shards[p.shard])
}

// toBackend relays one client message (client shard goroutine); false
// when the leg refused it and the pair ended.
func (p *pair) toBackend(stream int, data []byte) bool {
	reliable := stream >= 0
	if !reliable {
		stream = 0
	}
	if err := p.fwd.Send(stream, data, reliable); err != nil {
		p.end(refusal(err, ReasonBackendFull), true, true)
		return false
	}
	p.r.st.toBackend.add(len(data))
	return true
}

// end ends the pair with reason, once: the first caller counts it and
// closes the legs it names (the others are closing already).
func (p *pair) end(reason Reason, closeClient, closeBackend bool) {
	if !p.reason.CompareAndSwap(0, uint32(reason)) {
		return
	}
	r := p.r
	r.st.ends[reason].Add(1)
	if closeClient {
		if err := r.server().CloseSession(p.client); errors.Is(err, eqgate.ErrInboxFull) {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				_ = retry(func() error { return r.server().CloseSession(p.client) })
			}()
		}
	}
	if closeBackend {
		if c := p.conn.Load(); c != nil {
			// Conn.Close waits for the legs' engine: never on a shard
			// goroutine (either engine's).
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				_ = c.Close()
			}()
		} // else the dial sees the reason once it has a Conn, and closes it
	}
}

// retry runs fn until it is not refused for a full inbox: control
// operations the relay must not lose.
func retry(fn func() error) error {
	for spin := 0; ; spin++ {
		err := fn()
		if !errors.Is(err, eqgate.ErrInboxFull) {
			return err
		}
		if spin < 16 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// backendLeg is a pair as the Handler of its backend leg; its callbacks run
// on the legs' engine goroutine.
type backendLeg pair

var _ eqgate.Handler = (*backendLeg)(nil)

func (b *backendLeg) OnOpen(eqgate.Session) { b.r.st.legsUp.Add(1) }

func (b *backendLeg) OnMessage(_ eqgate.Session, stream int, data []byte) {
	p := (*pair)(b)
	if p.reason.Load() != 0 {
		return
	}
	var err error
	if stream < 0 {
		err = p.r.server().SendUnreliable(p.client, 0, data)
	} else {
		err = p.r.server().Send(p.client, stream, data)
	}
	if err != nil {
		if errors.Is(err, eqgate.ErrNoSession) {
			return // the client has closed: its OnClose ends the pair
		}
		p.end(refusal(err, ReasonClientFull), true, true)
		return
	}
	p.r.st.toClient.add(len(data))
}

func (b *backendLeg) OnClose(_ eqgate.Session, reason eqgate.CloseReason) {
	(*pair)(b).end(backendReason(reason), true, false)
}

// refusal is the Reason for a send a leg refused: full is the leg's
// backpressure reason.
func refusal(err error, full Reason) Reason {
	switch {
	case errors.Is(err, eqgate.ErrSendQueueFull), errors.Is(err, eqgate.ErrInboxFull):
		return full
	case errors.Is(err, eqgate.ErrTooBig):
		return ReasonTooBig
	case errors.Is(err, eqgate.ErrClosed):
		return ReasonShutdown
	}
	if full == ReasonBackendFull {
		return ReasonBackendClosed // the leg is gone; its OnClose may be first
	}
	return ReasonClientClosed
}
