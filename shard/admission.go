package shard

import (
	"crypto/rand"
	"net/netip"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// Admission (DESIGN.md, "Admission"): who gets state, and what an endpoint
// without a session may make the shard send.
//
//   - A SessionRequest is answered by proto.Admission from the request, the
//     endpoint and the group's secret; it creates no session. The shard
//     remembers the request's connect code and max packet size in a fixed
//     table of hints (hintCells entries, overwritten freely), which a flood
//     can evict but never grow.
//   - Any other datagram from an endpoint without a session is first tried
//     as a proof (proto.Admission.Verify). A proof creates the session,
//     within the caps; OnOpen runs then.
//   - With CRCBytes 0 there is no proof: a SessionRequest makes a half-open
//     session at once (RS's behaviour), at most HalfOpenMax per shard; when
//     that many are waiting, the oldest that has not sent a valid datagram
//     for HalfOpenTimeout is dropped to make room, otherwise the request
//     is refused (OutcomeDropHalfOpen).
//   - OutOfSession answers go through a per-shard token bucket, never to a
//     SessionDisconnect, an OutOfSession, or a datagram shorter than
//     minReplyTrigger, so the reply is never more than 1.2 times the
//     trigger's bytes.

// Admission defaults.
const (
	DefaultHalfOpenMax      = 1024
	DefaultHalfOpenTimeout  = 5 * time.Second // NetEngine's rule, a client silent this long is dropped
	DefaultOutOfSessionRate = 1000            // answers per second per shard
	hintCells               = 1 << 12
)

// minReplyTrigger is the shortest datagram an OutOfSession (6 bytes) may
// answer: 6/5 = 1.2, under the 1.3 amplification bound.
const minReplyTrigger = 5

// hint is what a SessionRequest told us that its proof will not repeat.
type hint struct {
	tag       uint64 // endpoint hash | 1; 0 is empty
	code      uint32
	maxPacket uint32
}

// halfOpen names a half-open session (CRC 0) in creation order.
type halfOpen struct {
	slot int32
	gen  uint32
	at   proto.Nanotime
}

// admission is a shard's admission state; everything is sized at start.
type admission struct {
	adm   *proto.Admission
	hints []hint

	// OutOfSession token bucket: tokens scaled by 1e9 (ns) so refills are
	// integer.
	oosTokens int64
	oosAt     proto.Nanotime
	oosRate   int64 // per second
	oosBurst  int64

	// Attack detection: datagrams from endpoints without a session that
	// proved nothing, counted per attackWindow.
	winStart  proto.Nanotime
	winCount  int
	attack    bool
	threshold int // per window; 0: never

	half     []halfOpen // ring, creation order
	halfHead int
	halfN    int // entries in the ring (some may be stale)
	halfLive int // half-open sessions
}

// newSecret returns the per-group admission secret.
func newSecret() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func (a *admission) init(cfg *Config, secret []byte) {
	if cfg.Rand != nil {
		// Reproducible keys were asked for (replays, tests): every session
		// gets the first value Rand returns.
		a.adm = proto.NewFixedAdmission(&cfg.Proto, cfg.Rand())
	} else {
		a.adm = proto.NewAdmission(&cfg.Proto, secret)
	}
	a.hints = make([]hint, hintCells)
	a.oosRate = int64(cfg.OutOfSessionRate)
	a.oosBurst = max(a.oosRate, 1) * 1e9 / 10 // a tenth of a second of answers
	a.oosTokens = a.oosBurst
	a.threshold = max(cfg.AttackRate, 0)
	if !a.adm.Stateless() {
		a.half = make([]halfOpen, cfg.HalfOpenMax)
	}
}

// noSession handles datagram b (at least 2 bytes) from endpoint ep (hash h)
// that has no session, on a server shard.
func (s *Shard) noSession(b []byte, ep *endpoint, h uint64, from netip.AddrPort) {
	a := &s.adm
	if b[0] == 0 && proto.Opcode(b[1]) == proto.OpSessionRequest {
		if s.refusing() {
			s.counters.outcome(OutcomeDropDraining)
			return
		}
		if len(b) < proto.SessionRequestLen {
			s.counters.outcome(OutcomeDropBadRequest)
			return
		}
		if !a.adm.Stateless() {
			s.acceptHalfOpen(b, ep, h, from)
			return
		}
		out, req, ok := a.adm.Respond(s.txBuf(), s.now, &ep.addr, ep.port, b)
		if !ok {
			s.counters.outcome(OutcomeDropBadRequest)
			return
		}
		a.winCount++
		a.hints[h&(hintCells-1)] = hint{tag: h | 1, code: req.ConnectCode, maxPacket: uint32(proto.NegotiatedMaxPacket(&s.cfg.Proto, req.MaxPacketSize))}
		s.counters.outcome(OutcomeResponded)
		s.queueRaw(from, out)
		return
	}
	if a.adm.Stateless() {
		hn := &a.hints[h&(hintCells-1)]
		var code uint32
		var mp int
		if hn.tag == h|1 {
			code, mp = hn.code, int(hn.maxPacket)
		}
		if t, ok := a.adm.Verify(s.now, &ep.addr, ep.port, mp, b); ok {
			add(&s.counters.Proofs, 1)
			if hn.tag == h|1 {
				*hn = hint{}
			}
			s.admit(b, ep, h, t, code)
			return
		}
	}
	a.winCount++
	s.outOfSession(b, from)
}

// outOfSession answers, or not, a datagram that has no session and proves
// nothing.
func (s *Shard) outOfSession(b []byte, from netip.AddrPort) {
	switch {
	case b[0] == 0 && proto.Opcode(b[1]) == proto.OpOutOfSession:
		s.counters.outcome(OutcomeDropOutOfSession) // stops loops (SPEC §6.3)
	case b[0] == 0 && proto.Opcode(b[1]) == proto.OpSessionDisconnect, len(b) < minReplyTrigger:
		s.counters.outcome(OutcomeDropNoReply)
	case !s.adm.takeToken(s.now):
		s.counters.outcome(OutcomeDropReplyRate)
	default:
		s.counters.outcome(OutcomeOutOfSession)
		s.queueRaw(from, proto.AppendOutOfSession(s.txBuf()))
	}
}

// takeToken spends one OutOfSession answer from the bucket.
func (a *admission) takeToken(now proto.Nanotime) bool {
	if a.oosRate <= 0 {
		return false
	}
	if now > a.oosAt {
		a.oosTokens = min(a.oosBurst, a.oosTokens+int64(now-a.oosAt)*a.oosRate)
		a.oosAt = now
	}
	if a.oosTokens < 1e9 {
		return false
	}
	a.oosTokens -= 1e9
	return true
}

// takeCaps reserves a session within the shard, total and per-IP caps, or
// returns the refusing outcome.
func (s *Shard) takeCaps(ep *endpoint) (Outcome, bool) {
	if s.live >= s.cfg.MaxSessionsPerShard {
		return OutcomeDropCapShard, false
	}
	if !s.g.takeTotal() {
		return OutcomeDropCapTotal, false
	}
	if !s.g.perIP.acquire(&ep.addr) {
		s.g.giveTotal()
		return OutcomeDropCapIP, false
	}
	return 0, true
}

// admit creates the session a verified proof b earned and hands it b.
func (s *Shard) admit(b []byte, ep *endpoint, h uint64, t proto.Ticket, code uint32) {
	if o, ok := s.takeCaps(ep); !ok {
		s.counters.outcome(o)
		return
	}
	i := s.newSlot(ep, h)
	ps := s.drive(i)
	ps.Tag = uint64(s.idOf(i))
	if err := ps.Admit(&s.env, &s.cfg.Proto, t, code, s.now); err != nil {
		panic("shard: Admit: " + err.Error()) // only a Config that skipped Validate
	}
	s.counters.outcome(OutcomeOpened)
	s.receive(i, b)
}

// acceptHalfOpen is the CRC 0 fallback: a session at once, bounded.
func (s *Shard) acceptHalfOpen(b []byte, ep *endpoint, h uint64, from netip.AddrPort) {
	a := &s.adm
	if a.halfLive >= len(a.half) && !s.evictHalfOpen(true) {
		s.counters.outcome(OutcomeDropHalfOpen)
		return
	}
	if o, ok := s.takeCaps(ep); !ok {
		s.counters.outcome(o)
		return
	}
	i := s.newSlot(ep, h)
	ps := s.session(i)
	ps.Tag = uint64(s.idOf(i))
	if err := ps.InitServer(&s.cfg.Proto, s.env.Random(), s.now); err != nil {
		panic("shard: InitServer: " + err.Error())
	}
	m := s.meta.meta(i)
	m.halfOpen = true
	a.halfLive++
	if a.halfN == len(a.half) {
		s.compactHalfOpen()
	}
	a.half[(a.halfHead+a.halfN)%len(a.half)] = halfOpen{slot: i, gen: m.gen, at: s.now}
	a.halfN++
	s.counters.HalfOpen.add(1)
	s.counters.outcome(OutcomeOpened)
	s.receive(i, b)
}

// compactHalfOpen drops the ring's stale entries (proved or gone sessions),
// keeping the order; with fewer live half-open sessions than room, at least
// one goes.
func (s *Shard) compactHalfOpen() {
	a := &s.adm
	j := 0
	for k := range a.halfN {
		e := a.half[(a.halfHead+k)%len(a.half)]
		if m := s.meta.meta(e.slot); m.gen == e.gen && m.state == slotLive && m.halfOpen {
			a.half[(a.halfHead+j)%len(a.half)] = e
			j++
		}
	}
	a.halfN = j
}

// provedCheck clears slot i's half-open mark once its session has proved itself.
func (s *Shard) provedCheck(i int32) {
	m := s.meta.meta(i)
	if m.halfOpen && s.session(i).Proved() {
		m.halfOpen = false
		s.adm.halfLive--
		s.counters.HalfOpen.add(-1)
	}
}

// evictHalfOpen pops stale ring entries and drops the oldest half-open
// session if it has waited HalfOpenTimeout. With need it reports whether
// room was made; without, it prunes every such session (under pressure).
func (s *Shard) evictHalfOpen(need bool) bool {
	a := &s.adm
	for a.halfN > 0 {
		e := a.half[a.halfHead]
		m := s.meta.meta(e.slot)
		if m.gen != e.gen || m.state != slotLive || !m.halfOpen {
			a.halfHead = (a.halfHead + 1) % len(a.half)
			a.halfN--
			continue // proved or gone
		}
		if s.now-e.at < proto.Nanotime(s.cfg.HalfOpenTimeout) {
			return false
		}
		a.halfHead = (a.halfHead + 1) % len(a.half)
		a.halfN--
		m.halfOpen = false
		a.halfLive--
		s.counters.HalfOpen.add(-1)
		add(&s.counters.HalfOpenPruned, 1)
		ps := s.drive(e.slot)
		ps.Abandon(&s.env)
		s.settle(e.slot, ps, proto.Never)
		if need {
			return true
		}
	}
	return false
}

// pruneHalfOpen runs each iteration: under pressure (more than half the
// half-open room taken) sessions that have not proved themselves within
// HalfOpenTimeout go.
func (s *Shard) pruneHalfOpen() {
	if a := &s.adm; a.half != nil && 2*a.halfLive > len(a.half) {
		s.evictHalfOpen(false)
	}
}

// attackWindow is the span over which unproven traffic is counted.
const attackWindow = proto.Nanotime(time.Second)

// DefaultAttackRate is the unproven datagrams per second per shard (requests
// answered statelessly, and datagrams from endpoints without a session that
// proved nothing) at which a shard reports itself under attack; it reports
// the end once a second passes with less than half that.
const DefaultAttackRate = 5000

// attackCheck closes the attack window when it is over (each iteration).
func (s *Shard) attackCheck() {
	a := &s.adm
	if s.now-a.winStart < attackWindow || a.threshold == 0 {
		return
	}
	rate := int(int64(a.winCount) * int64(attackWindow) / int64(s.now-a.winStart))
	switch {
	case !a.attack && rate >= a.threshold:
		a.attack = true
		s.counters.UnderAttack.add(1)
		add(&s.counters.AttackStarts, 1)
	case a.attack && 2*rate < a.threshold:
		a.attack = false
		s.counters.UnderAttack.add(-1)
	}
	s.counters.UnprovenRate.add(int64(rate) - s.counters.UnprovenRate.Load())
	a.winStart, a.winCount = s.now, 0
}
