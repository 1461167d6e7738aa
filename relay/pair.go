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
	// backlog is what each leg (legBackend, legClient) held for its peer
	// when last read, counted in the shard's queued; watched: the pair is
	// on the shard's watch list.
	backlog [2]int
	watched bool
	rttSeen uint64 // the backend leg's RTT sample count when last read
}

// Leg indexes of pair.backlog.
const (
	legBackend = iota
	legClient
)

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
	return p.account(to, full)
}

// account reads what leg to holds for its peer now (full names the leg)
// and enforces the caps on it: past MaxQueued the pair ends with full;
// with the shard past QueueBudget the pair holding the most ends. It
// reads one other watched pair as well, so the shard's sum follows the
// acks of pairs that have gone quiet. false: this pair has ended.
func (p *pair) account(to eqgate.Session, full Reason) bool {
	l := legBackend
	if full == ReasonClientFull {
		l = legClient
	}
	b := to.Backlog()
	p.note(l, b)
	if l == legBackend {
		p.sampleRTT()
	}
	sh := p.sh
	sh.refreshNext()
	if b > p.r.maxQueued {
		p.end(full)
		return false
	}
	if sh.c.queued.load() > int64(p.r.cfg.QueueBudget) {
		sh.overBudget(p.r.cfg.QueueBudget)
	}
	return p.ended == ReasonNone
}

// note records that leg l holds b bytes.
func (p *pair) note(l, b int) {
	sh := p.sh
	sh.c.queued.inc(int64(b - p.backlog[l]))
	p.backlog[l] = b
	if b > 0 && !p.watched {
		p.watched = true
		sh.watch = append(sh.watch, p)
	}
}

// refresh reads both legs again; false when the pair holds nothing (or
// has ended) and can leave the watch list.
func (p *pair) refresh() bool {
	if p.ended != ReasonNone {
		return false
	}
	p.note(legBackend, p.leg.Backlog()) // 0 for a leg not dialled
	p.sampleRTT()
	p.note(legClient, p.client.Backlog())
	return p.holding() > 0
}

// sampleRTT counts the backend leg's latest RTT sample if it has taken
// one since the last look (a quiet leg's acks are read by refresh).
func (p *pair) sampleRTT() {
	if !p.up {
		return
	}
	last, n := p.leg.RTT()
	if n == p.rttSeen {
		return
	}
	p.rttSeen = n
	p.sh.c.observeRTT(last)
}

// refreshNext reads the next watched pair again, round robin.
func (sh *shardState) refreshNext() {
	if len(sh.watch) == 0 {
		return
	}
	if sh.next >= len(sh.watch) {
		sh.next = 0
	}
	if sh.watch[sh.next].refresh() {
		sh.next++
		return
	}
	sh.unwatch(sh.next)
}

// unwatch takes watch[i] off the list (order does not matter).
func (sh *shardState) unwatch(i int) {
	last := len(sh.watch) - 1
	sh.watch[i].watched = false
	sh.watch[i] = sh.watch[last]
	sh.watch[last] = nil
	sh.watch = sh.watch[:last]
}

// overBudget reads every watched pair again and, while the shard is still
// past budget, ends the pair holding the most (ReasonQueueBudget): the
// slow leg's pair, not the one that happened to send.
func (sh *shardState) overBudget(budget int) {
	for sh.c.queued.load() > int64(budget) {
		var most *pair
		for i := 0; i < len(sh.watch); {
			q := sh.watch[i]
			if !q.refresh() {
				sh.unwatch(i)
				continue
			}
			if most == nil || q.holding() > most.holding() {
				most = q
			}
			i++
		}
		if most == nil {
			return
		}
		most.end(ReasonQueueBudget)
	}
}

// holding is what the pair's legs hold for their peers, as last read.
func (p *pair) holding() int { return p.backlog[legBackend] + p.backlog[legClient] }

// end ends the pair with reason, once: it is counted, and each leg still
// open gets a SessionDisconnect. A leg's Close may run the other leg's
// OnClose inside it; those find the pair ended and do nothing more.
func (p *pair) end(reason Reason) {
	if p.ended != ReasonNone {
		return
	}
	p.ended = reason
	p.sh.c.ends[reason].inc(1)
	// Its legs close now: what they still hold leaves the budget (it is
	// freed within their close linger or resend timeout).
	p.sh.c.queued.inc(-int64(p.holding()))
	p.backlog = [2]int{}
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
		p.sampleRTT()
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
