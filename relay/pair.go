package relay

import (
	"errors"
	"time"

	"github.com/eqgate/eqgate"
)

// pair is one client session and its backend leg. Both legs are sessions
// of the same shard, so everything here is touched by that shard's
// goroutine alone: no lock, no atomic.
type pair struct {
	r       *Relay
	sh      *shardState
	client  eqgate.Session
	leg     eqgate.Session // zero until dialled
	dialled time.Time      // for the connect round trip

	up         bool   // the backend answered: messages go straight through
	ended      Reason // ReasonNone while the pair runs
	clientGone bool   // the client leg has closed
	legGone    bool   // the backend leg has closed (or was never dialled)
	pending    []held // client messages waiting for the leg to come up
	heldBytes  int
}

// held is a client message waiting for the backend leg.
type held struct {
	stream int
	data   []byte
}

// release gives the held bytes back to the shard's budget.
func (p *pair) release() {
	p.sh.held -= p.heldBytes
	p.heldBytes = 0
	p.pending = nil
}

// relay sends one message on to leg to, on the stream it came on (an
// unreliable one unreliably); when to refuses it, the pair ends with full
// (its backpressure reason) or the refusal's own reason.
func (p *pair) relay(to eqgate.Session, stream int, data []byte, full Reason, f *flow) bool {
	reliable := stream >= 0
	if !reliable {
		stream = 0
	}
	if err := to.Send(stream, data, reliable); err != nil {
		p.end(refusal(err, full))
		return false
	}
	f.msgs.inc(1)
	f.bytes.inc(int64(len(data)))
	return true
}

// end ends the pair with reason, once: it is counted, and each leg still
// open gets a SessionDisconnect. A leg's Close may run the other leg's
// OnClose inside it; those find the pair ended and do nothing more.
func (p *pair) end(reason Reason) {
	if p.ended != ReasonNone {
		return
	}
	p.ended = reason
	p.sh.c.ends[reason].inc(1)
	if !p.legGone {
		p.legGone = true
		_ = p.leg.Close() // ErrNoSession: it has just ended by itself
	}
	if !p.clientGone {
		_ = p.client.Close()
	}
}

// failed records a dial that never opened.
func (p *pair) failed() {
	p.sh.c.dialFailures.inc(1)
	p.r.failStreak.Add(1)
}

// backendLeg is a pair as the Handler of its backend leg.
type backendLeg pair

var _ eqgate.Handler = (*backendLeg)(nil)

// OnOpen: the backend answered; what the client sent meanwhile goes out
// first, in order.
func (b *backendLeg) OnOpen(eqgate.Session) {
	p := (*pair)(b)
	p.up = true
	p.r.failStreak.Store(0)
	c := &p.sh.c
	c.legsUp.inc(1)
	c.connectNanos.inc(int64(time.Since(p.dialled)))
	if p.ended != ReasonNone {
		return
	}
	for _, h := range p.pending {
		if !p.relay(p.leg, h.stream, h.data, ReasonBackendFull, &c.toBackend) {
			break
		}
	}
	p.release()
}

func (b *backendLeg) OnMessage(_ eqgate.Session, stream int, data []byte) {
	p := (*pair)(b)
	if p.ended == ReasonNone {
		p.relay(p.client, stream, data, ReasonClientFull, &p.sh.c.toClient)
	}
}

func (b *backendLeg) OnClose(_ eqgate.Session, reason eqgate.CloseReason) {
	p := (*pair)(b)
	p.legGone = true
	if !p.up {
		p.failed()
	}
	p.end(backendReason(reason))
}

// refusal is the Reason for a send a leg refused; full is that leg's
// backpressure reason.
func refusal(err error, full Reason) Reason {
	switch {
	case errors.Is(err, eqgate.ErrSendQueueFull):
		return full
	case errors.Is(err, eqgate.ErrTooBig):
		return ReasonTooBig
	case errors.Is(err, eqgate.ErrClosed):
		return ReasonShutdown
	}
	if full == ReasonBackendFull {
		return ReasonBackendClosed // the leg is gone; its OnClose may follow
	}
	return ReasonClientClosed
}
