package proto

import (
	"encoding/binary"
	"time"
)

// stream is one reliable stream's state, both directions (SPEC §11.1).
// Rings are indexed by sequence & (len−1); their lengths are powers of two
// that divide 65536, so the index survives the wrap.
type stream struct {
	in   Seq // next sequence expected
	out  Seq // next sequence to send
	base Seq // oldest sequence possibly unacked; [base, out) is in flight

	fragActive  bool
	fragDiscard bool // the set is above MaxFragmentSize: count bytes, keep none

	sent         []sentEntry // in-flight packets, nil until first send
	reorder      [][]byte    // future packets (copies), nil until first needed
	reorderN     int
	reorderBytes int

	frag      []byte // reassembly, grown as data arrives
	fragTotal uint32
	fragHave  uint32
}

// sentEntry is a stored reliable packet (SPEC §12.1). buf is nil once acked.
type sentEntry struct {
	buf       []byte // decoded Packet or Fragment, from the Allocator
	firstSent Nanotime
	lastSent  Nanotime
	delay     Nanotime
	times     uint32
}

func (st *stream) inflight() int { return int(st.out - st.base) }

// release hands buffers back and returns the bytes of peer data it freed
// (for Session.held). all: everything (session end); otherwise only empty
// rings of an idle session.
func (st *stream) release(env *Env, all bool) int {
	if all {
		for i := range st.sent {
			env.put(st.sent[i].buf)
		}
		env.sent.put(st.sent)
		st.sent = nil
		st.base = st.out
		return st.releaseRecv(env)
	}
	if st.base == st.out {
		env.sent.put(st.sent)
		st.sent = nil
	}
	if st.reorderN == 0 {
		n := len(st.reorder) * sliceBytes
		env.reorder.put(st.reorder)
		st.reorder = nil
		return n
	}
	return 0
}

// releaseRecv hands back the receive side (reorder queue, fragment set)
// and returns the bytes of peer data it freed.
func (st *stream) releaseRecv(env *Env) int {
	n := st.reorderBytes + len(st.reorder)*sliceBytes + cap(st.frag)
	for _, b := range st.reorder {
		env.put(b)
	}
	env.put(st.frag)
	env.reorder.put(st.reorder)
	st.reorder, st.frag = nil, nil
	st.reorderN, st.reorderBytes = 0, 0
	st.fragActive, st.fragDiscard = false, false
	return n
}

// Send sends one application packet (opcode ‖ body, SPEC §15) on stream
// 0..3. A reliable packet is stored for retransmission, fragmented above
// M_raw and passed to the hold buffer; an unreliable one of at most
// 255 − crc_bytes escaped bytes goes to the hold buffer raw, a longer one is
// sent reliably on stream 0 as RS does. app is copied; the caller keeps it.
// Output leaves at the next Flush (or at once for packets above 255 bytes).
// ErrSendQueueFull means MaxUnackedBytes or MaxUnackedPackets would be
// passed: nothing was queued; retry after acks arrive.
func (s *Session) Send(env *Env, now Nanotime, stream int, app []byte, reliable bool) error {
	err := s.send(env, now, stream, app, reliable)
	if err == nil {
		s.stats.AppSent++
		s.stats.AppSentBytes += uint64(len(app))
	}
	return err
}

func (s *Session) send(env *Env, now Nanotime, stream int, app []byte, reliable bool) error {
	if s.chatFiller() && len(app) > 0 {
		return s.sendFilled(env, now, stream, app, reliable)
	}
	return s.sendApp(env, now, stream, app, reliable)
}

func (s *Session) sendApp(env *Env, now Nanotime, stream int, app []byte, reliable bool) error {
	pl, err := s.plan(stream, app, reliable)
	if err != nil {
		return err
	}
	if s.app != nil {
		return s.sendEQ2(env, now, app)
	}
	if pl.raw {
		s.holdApp(env, now, app, pl.esc)
		return nil
	}
	if !s.fits(&s.streams[pl.stream], pl) {
		s.stats.SendQueueFull++
		return ErrSendQueueFull
	}
	s.store(env, now, pl.stream, app, pl.esc, pl.n)
	return nil
}

// store stores app (n bytes, escaped when esc) on stream as one OP_Packet
// or a fragment set (SPEC §13, §21.4, §22.6) and holds it for sending.
// The caller has checked the window; EQ2 payloads, encrypted already, are
// stored unconditionally.
func (s *Session) store(env *Env, now Nanotime, stream int, app []byte, esc bool, n int) {
	str := &s.streams[stream]
	whole, first, rest := s.fragPlan(n, len(app))
	delay := s.resendDelay()
	if whole {
		b := env.get(SeqHeaderLen + n)
		b = appendSeqHeader(b[:0], OpPacket, stream, str.out)
		b = appendEscapedRange(b, app, esc, 0, n)
		s.pushSent(env, now, str, b, delay)
		s.holdSequenced(env, now, b)
		return
	}
	last := n // where the last fragment starts, when it must be moved
	switch s.rules.fragRule {
	case fragLegacy:
		last = lastChunkSafe(app, esc, n, first+(n-first-1)/rest*rest)
	case fragEQ2:
		last = EQ2SplitLast(app, s.params.MaxPacket) // EQ2 payloads are never escaped here
	}
	s.storeFragments(env, now, stream, app, esc, n, last)
}

// storeFragments stores and sends app (n bytes, escaped when esc) as a
// fragment set whose last fragment starts at last (n: no constraint). An
// EQ2 client also uses it for the payloads it must fragment although they
// fit one OP_Packet (EQ2SendFragmented).
func (s *Session) storeFragments(env *Env, now Nanotime, stream int, app []byte, esc bool, n, last int) {
	str := &s.streams[stream]
	_, first, rest := s.fragPlan(n, len(app))
	delay := s.resendDelay()
	for pos := 0; pos < n; {
		var b []byte
		if pos == 0 {
			k := min(first, n, last)
			b = env.get(FirstFragmentHeaderLen + k)
			b = appendSeqHeader(b[:0], OpFragment, stream, str.out)
			b = binary.BigEndian.AppendUint32(b, uint32(n))
			b = appendEscapedRange(b, app, esc, 0, k)
			pos = k
		} else {
			k := min(rest, n-pos)
			if pos < last {
				k = min(k, last-pos)
			}
			b = env.get(SeqHeaderLen + k)
			b = appendSeqHeader(b[:0], OpFragment, stream, str.out)
			b = appendEscapedRange(b, app, esc, pos, pos+k)
			pos += k
		}
		s.pushSent(env, now, str, b, delay)
		s.holdSequenced(env, now, b)
	}
}

// holdSequenced sends a newly stored packet, or leaves it waiting for the
// byte budget behind the ones already waiting (LEGACY, EQ2 servers).
func (s *Session) holdSequenced(env *Env, now Nanotime, b []byte) {
	if s.limited() && (s.vs.waiting > 0 || !s.spendBudget(now, len(b))) {
		s.vs.waiting++
		s.nextResend = min(s.nextResend, s.vs.budgetAt+budgetTick)
		return
	}
	s.hold(env, now, b)
}

// appendEscapedRange appends bytes [a, e) of the inner packet P, where P is
// app with one 00 in front when esc (SPEC §16.2), without building P.
func appendEscapedRange(b, app []byte, esc bool, a, e int) []byte {
	if !esc {
		return append(b, app[a:e]...)
	}
	if a == 0 {
		b = append(b, 0)
		a = 1
	}
	return append(b, app[a-1:e-1]...)
}

// resendDelay is SPEC §12.1 for the current rolling ping.
func (s *Session) resendDelay() Nanotime {
	if s.rules.fixedResend {
		return Nanotime(s.vs.rto) * Nanotime(time.Millisecond)
	}
	return Nanotime(resendDelayMS(s.rollingPing, s.cfg)) * Nanotime(time.Millisecond)
}

// resendDelayMS is clamp(trunc(rolling_ping × factor + base), min, max) in
// milliseconds (SPEC §12.1, §25.10).
func resendDelayMS(rolling int64, c *Config) int64 {
	return clampMS(int64(float64(rolling)*c.ResendDelayFactor+float64(ms(c.ResendDelayBase))), c)
}

func clampMS(d int64, c *Config) int64 {
	return min(max(d, ms(c.ResendDelayMin)), ms(c.ResendDelayMax))
}

func (s *Session) pushSent(env *Env, now Nanotime, str *stream, b []byte, delay Nanotime) {
	if n := str.inflight(); n >= len(str.sent) {
		str.growSent(env, max(1<<ringMinShift, 2*len(str.sent)))
	}
	str.sent[int(str.out)&(len(str.sent)-1)] = sentEntry{buf: b, firstSent: now, lastSent: now, delay: delay}
	str.out++
	s.unacked += len(b)
	s.nextResend = min(s.nextResend, now+delay+1)
}

func (st *stream) growSent(env *Env, n int) {
	ring := env.sent.get(n)
	if len(st.sent) > 0 {
		om, nm := len(st.sent)-1, n-1
		for q := st.base; q != st.out; q++ {
			ring[int(q)&nm] = st.sent[int(q)&om]
		}
		env.sent.put(st.sent)
	}
	st.sent = ring
}

// onAck handles a cumulative Ack (SPEC §11.5): every entry not Future
// relative to q is acknowledged. An ack past the last sequence sent is
// ignored (RS frees everything in flight on one), and one that acknowledges
// nothing new is a duplicate; both are counted.
func (s *Session) onAck(env *Env, now Nanotime, stn int, q Seq) {
	str := &s.streams[stn]
	if unsent(str, q) {
		s.drop(ReasonBadAck)
		return
	}
	s.ackSeen(now)
	if q-str.base >= str.out-str.base {
		s.drop(ReasonDupAck) // at or before base−1: nothing new
		s.drained(env, now)
		return
	}
	for str.base != str.out && CompareWindow(q, str.base, s.rules.window) != Future {
		e := &str.sent[int(str.base)&(len(str.sent)-1)]
		if e.buf != nil {
			s.acked(env, now, e)
		}
		str.base++
	}
	str.skipAcked()
	s.drained(env, now)
}

// ackSeen notes that the peer acknowledged something (even a duplicate:
// the path is alive), and ends probing: the packets held back are due now.
func (s *Session) ackSeen(now Nanotime) {
	s.lastAck = now
	if s.probing {
		s.probing = false
		s.nextResend = min(s.nextResend, now)
	}
}

// unsent reports whether q lies after the last sequence sent on str (in
// the half of the sequence space ahead of it).
func unsent(str *stream, q Seq) bool {
	return int16(q-(str.out-1)) > 0
}

// onOutOfOrderAck acknowledges q alone.
func (s *Session) onOutOfOrderAck(env *Env, now Nanotime, stn int, q Seq) {
	str := &s.streams[stn]
	if unsent(str, q) {
		s.drop(ReasonBadAck)
		return
	}
	s.ackSeen(now)
	if q-str.base < str.out-str.base {
		if e := &str.sent[int(q)&(len(str.sent)-1)]; e.buf != nil {
			s.acked(env, now, e)
		} else {
			s.drop(ReasonDupAck)
		}
		if s.rules.ooaResend {
			s.ooaResend(env, now, str, q)
		}
		str.skipAcked()
	} else {
		s.drop(ReasonDupAck)
	}
	s.drained(env, now)
}

// drained finishes a LEGACY Close once nothing is left unacked.
func (s *Session) drained(env *Env, now Nanotime) {
	if s.vs != nil && s.vs.draining && s.unacked == 0 {
		s.vs.draining = false
		s.closeWith(env, now, CloseLocal)
	}
}

func (st *stream) skipAcked() {
	for st.base != st.out && st.sent[int(st.base)&(len(st.sent)-1)].buf == nil {
		st.base++
	}
}

// acked frees an entry and samples the round trip (SPEC §11.5). Like
// Karn's algorithm, and unlike RS, a packet that was resent gives no sample:
// its ack may answer any copy, and RS's sample from the last copy
// underestimates the RTT on a lossy link, which shortens the resend delay
// below the RTT and doubles the traffic. Invisible on the wire.
func (s *Session) acked(env *Env, now Nanotime, e *sentEntry) {
	if e.times == 0 {
		rtt := time.Duration(now - e.lastSent)
		s.rollingPing = rollingPing(s.rollingPing, int64(rtt/time.Millisecond))
		st := &s.stats
		st.RollingPing = time.Duration(s.rollingPing) * time.Millisecond
		if st.RTTSamples == 0 || rtt < st.RTTMin {
			st.RTTMin = rtt
		}
		st.RTTMax = max(st.RTTMax, rtt)
		st.RTTLast = rtt
		st.RTTSum += rtt
		st.RTTSamples++
	}
	s.unacked -= len(e.buf)
	env.put(e.buf)
	e.buf = nil
}

// rollingPing is RS's update, in integer milliseconds: (2·old + rtt) / 3.
func rollingPing(old, rtt int64) int64 { return (2*old + rtt) / 3 }

// resend is SPEC §12.3's per-packet algorithm: each entry is resent when
// its delay has passed since its last send, and its delay doubles; the
// session closes when an entry has waited ResendTimeout since its first
// send. At most ResendBurstPackets/Bytes per stream go out per call; the
// rest wait TickInterval.
func (s *Session) resend(env *Env, now Nanotime) {
	c := s.cfg
	s.nextResend = Never
	timeout := Nanotime(c.ResendTimeout)
	pk, by := 0, 0 // per session, not per stream: no tick resends a whole window spread over streams
	for i := 0; i < s.rules.streams; i++ {
		str := &s.streams[i]
		if str.base == str.out {
			continue
		}
		end := str.out
		if i == 0 && s.vs != nil && s.vs.waiting > 0 {
			end -= Seq(min(s.vs.waiting, str.inflight())) // not sent yet: sendWaiting's
		}
		// Nothing acknowledged since the oldest packet was last sent:
		// probe with that one alone, as TCP does after a timeout. A dead
		// peer then costs one packet per backed-off delay, not its window
		// every round, and a mass outage sends no bursts; the first ack
		// resumes the rest (probing makes it reschedule at once).
		h := &str.sent[int(str.base)&(len(str.sent)-1)]
		silent := s.lastAck <= h.lastSent
		for q := str.base; q != end; q++ {
			e := &str.sent[int(q)&(len(str.sent)-1)]
			if e.buf == nil {
				continue
			}
			if now-e.firstSent >= timeout {
				if s.state == StateConnected {
					s.closeWith(env, now, CloseResendTimeout)
				}
				break // SPEC §12.2 step 3: on to the next stream
			}
			if silent && q != str.base {
				s.probing = true
				break
			}
			if now-e.lastSent > e.delay {
				if pk >= c.ResendBurstPackets || by+len(e.buf) > c.ResendBurstBytes {
					s.nextResend = min(s.nextResend, now+Nanotime(c.TickInterval))
					continue
				}
				if s.limited() && !s.spendBudget(now, len(e.buf)) {
					s.nextResend = min(s.nextResend, s.vs.budgetAt+budgetTick)
					continue
				}
				pk++
				by += len(e.buf)
				// Back off (double the delay) only while the peer is silent.
				// When acks arrived since this packet's last send, the path
				// is alive and this packet alone was lost: retry at the
				// RTT-based delay instead, so a lossy but live link does not
				// drift to 5 s retries and hit ResendTimeout. A black hole
				// still gets the full doubling of SPEC §12.3.
				if s.lastAck > e.lastSent {
					e.delay = s.resendDelay()
				} else if s.rules.fixedResend {
					// LEGACY/EQ2: the retransmit timeout while acks come;
					// doubled up to ResendDelayMax while the peer is silent
					// (EQ2's max is its 1500 ms: fixed), so a stalled peer
					// does not get every packet again every 1.5 s.
					e.delay = min(2*e.delay, Nanotime(c.ResendDelayMax))
				} else {
					e.delay = Nanotime(clampMS(2*int64(e.delay/Nanotime(time.Millisecond)), c)) * Nanotime(time.Millisecond)
				}
				e.lastSent = now
				e.times++
				s.stats.Resends++
				s.stats.ResentBytes += uint64(len(e.buf))
				s.hold(env, now, e.buf)
			}
			s.nextResend = min(s.nextResend, e.lastSent+e.delay+1, e.firstSent+timeout)
		}
	}
	if s.vs != nil && s.vs.waiting > 0 && s.state != StateDisconnected {
		s.sendWaiting(env, now)
	}
}

// onSequenced is SPEC §11.3 for a Packet or Fragment p with sequence q.
// The reorder queue is drained as soon as the gap fills (§24.1 #4).
func (s *Session) onSequenced(env *Env, now Nanotime, p []byte, stn int, q Seq, depth int) {
	str := &s.streams[stn]
	switch CompareWindow(str.in, q, s.rules.window) {
	case Future:
		s.stats.OutOfOrder++
		if s.rules.futureOOA || (s.client && s.rules.clientFutureOOA) {
			s.holdAck(env, now, OpOutOfOrderAck, stn, q)
		}
		s.queueFuture(env, str, q, p)
	case Past:
		s.stats.Duplicates++
		if s.rules.pastOOA {
			s.holdAck(env, now, OpOutOfOrderAck, stn, q)
		} else {
			s.holdAck(env, now, OpAck, stn, str.in-1)
		}
	case Current:
		if Opcode(p[1]) >= OpFragment && env.Budget != nil {
			// Refused before the ack, so the peer resends it.
			if g := fragGrowth(str, p, s.cfg.MaxFragmentSize); g > 0 && !s.grant(env, g) {
				return
			}
		}
		if b := s.takeReorder(env, str, q); b != nil {
			env.put(b)
		}
		str.in++
		s.ackInOrder(env, now, stn, q)
		s.sequencedContent(env, now, p, stn, depth)
		for s.state != StateDisconnected {
			b := s.takeReorder(env, str, str.in)
			if b == nil {
				break
			}
			q := str.in
			str.in++
			s.ackInOrder(env, now, stn, q)
			s.sequencedContent(env, now, b, stn, depth)
			env.put(b)
		}
	}
}

// ackInOrder acks in-order packet q: at once through the hold buffer (RS),
// or by the deferred cumulative Ack (LEGACY, EQ2).
func (s *Session) ackInOrder(env *Env, now Nanotime, stn int, q Seq) {
	if s.rules.deferredAck {
		s.noteInOrder(now)
		return
	}
	s.holdAck(env, now, OpAck, stn, q)
}

func (s *Session) sequencedContent(env *Env, now Nanotime, p []byte, stn, depth int) {
	if Opcode(p[1]) < OpFragment {
		if len(p) == SeqHeaderLen {
			s.drop(ReasonShort) // OP_Packet carries at least one byte
			return
		}
		if s.app != nil {
			s.eq2Receive(env, now, p[SeqHeaderLen:], false)
			return
		}
		s.dispatch(env, now, p[SeqHeaderLen:], stn, depth+1)
		return
	}
	s.onFragment(env, now, p, stn, depth)
}

// queueFuture stores a copy of future packet p under q, within the
// ReorderWindow and ReorderBytes caps; the first copy stays.
func (s *Session) queueFuture(env *Env, str *stream, q Seq, p []byte) {
	d := int(q - str.in)
	if d >= s.cfg.ReorderWindow || str.reorderBytes+len(p) > s.cfg.ReorderBytes {
		s.stats.ReorderDrops++
		s.drop(ReasonTooBig)
		return
	}
	if d < len(str.reorder) && str.reorder[int(q)&(len(str.reorder)-1)] != nil {
		return // the first copy stays
	}
	ring := len(str.reorder)
	if d >= ring {
		ring = str.ringFor(d + 1)
	}
	if !s.grant(env, len(p)+(ring-len(str.reorder))*sliceBytes) {
		return
	}
	if ring > len(str.reorder) {
		s.held(env, (ring-len(str.reorder))*sliceBytes)
		str.growReorder(env, ring)
	}
	b := env.get(len(p))
	copy(b, p)
	str.reorder[int(q)&(len(str.reorder)-1)] = b
	str.reorderN++
	str.reorderBytes += len(b)
	s.held(env, len(b))
}

// ringFor is the reorder ring length that holds d future packets.
func (st *stream) ringFor(d int) int { return max(ringSize(d), 16, 2*len(st.reorder)) }

func (st *stream) growReorder(env *Env, n int) {
	ring := env.reorder.get(n)
	for _, b := range st.reorder {
		if b != nil {
			ring[int(binary.BigEndian.Uint16(b[2:]))&(n-1)] = b
		}
	}
	env.reorder.put(st.reorder)
	st.reorder = ring
}

// takeReorder removes and returns the packet queued under q on str, or nil.
func (s *Session) takeReorder(env *Env, str *stream, q Seq) []byte {
	b := str.takeReorder(q)
	s.held(env, -len(b))
	return b
}

func (st *stream) takeReorder(q Seq) []byte {
	if st.reorderN == 0 {
		return nil
	}
	slot := &st.reorder[int(q)&(len(st.reorder)-1)]
	b := *slot
	if b == nil || Seq(binary.BigEndian.Uint16(b[2:])) != q {
		return nil
	}
	*slot = nil
	st.reorderN--
	st.reorderBytes -= len(b)
	return b
}

// onFragment is SPEC §13.3 reassembly, with the total capped at
// MaxFragmentSize (a larger set is counted, followed and discarded) and
// memory grown as data arrives, not reserved from the header.
func (s *Session) onFragment(env *Env, now Nanotime, p []byte, stn, depth int) {
	str := &s.streams[stn]
	var chunk []byte
	if !str.fragActive {
		if len(p) < FirstFragmentHeaderLen {
			s.drop(ReasonShort) // acked and sequence advanced, as RS (§24.1 #11)
			return
		}
		total := binary.BigEndian.Uint32(p[SeqHeaderLen:])
		if total == 0 {
			s.drop(ReasonBadLength)
			return
		}
		str.fragActive, str.fragTotal, str.fragHave = true, total, 0
		str.fragDiscard = total > uint32(s.cfg.MaxFragmentSize)
		if str.fragDiscard {
			s.stats.FragmentDrops++
			s.drop(ReasonTooBig)
		}
		chunk = p[FirstFragmentHeaderLen:]
	} else {
		chunk = p[SeqHeaderLen:]
	}
	if room := str.fragTotal - str.fragHave; uint32(len(chunk)) > room {
		s.drop(ReasonBadLength) // overrun: keep total bytes only
		chunk = chunk[:room]
	}
	if !str.fragDiscard {
		have := int(str.fragHave)
		if need := have + len(chunk); need > cap(str.frag) {
			nb := env.get(fragAlloc(need, str.fragTotal, cap(str.frag)))
			copy(nb, str.frag[:have])
			s.held(env, cap(nb)-cap(str.frag))
			env.put(str.frag)
			str.frag = nb
		}
		str.frag = append(str.frag[:have], chunk...)
	}
	str.fragHave += uint32(len(chunk))
	if str.fragHave < str.fragTotal {
		return
	}
	// Complete. Detach the buffer first: dispatch may re-enter the session.
	buf, discard := str.frag, str.fragDiscard
	str.frag, str.fragActive, str.fragDiscard = nil, false, false
	s.held(env, -cap(buf))
	if !discard {
		if s.app != nil {
			s.eq2Receive(env, now, buf, true)
		} else {
			s.dispatch(env, now, buf, stn, depth+1)
		}
	}
	env.put(buf)
}

// fragAlloc is the reassembly buffer size for need bytes of a set of total
// bytes, grown from capacity c: doubling, at least 1 KiB, never past the
// total.
func fragAlloc(need int, total uint32, c int) int {
	return max(need, min(int(total), max(2*c, 1024)))
}

// fragGrowth is what taking in-order fragment p would add to str's
// reassembly buffer (as onFragment sizes it), 0 when it fits or keeps
// nothing.
func fragGrowth(str *stream, p []byte, maxFrag int) int {
	have, total, n := 0, str.fragTotal, len(p)-SeqHeaderLen
	switch {
	case str.fragActive && str.fragDiscard:
		return 0
	case str.fragActive:
		have = int(str.fragHave)
	default:
		if len(p) < FirstFragmentHeaderLen {
			return 0
		}
		total = binary.BigEndian.Uint32(p[SeqHeaderLen:])
		if total == 0 || total > uint32(maxFrag) {
			return 0
		}
		n = len(p) - FirstFragmentHeaderLen
	}
	need := have + min(n, int(total)-have)
	if need <= cap(str.frag) {
		return 0
	}
	return fragAlloc(need, total, cap(str.frag)) - cap(str.frag)
}
