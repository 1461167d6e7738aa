package proto

import "time"

// The LEGACY and EQ2 parts of the session (SPEC §21, §22). Each function
// here is reached through one variantRules field; RS never calls them.

// variantState is what a LEGACY or EQ2 session keeps beyond an RS one.
type variantState struct {
	ackDirty bool     // an in-order packet arrived since the last cumulative Ack
	draining bool     // Close waits for the unacked data (SPEC §21.5)
	keyAsked bool     // EQ2 server: the key request went out
	pickK64  bool     // EQ2 client: K64 still to draw from Env.Random
	requests int      // SessionRequests with a new code while established
	ackAt    Nanotime // when the deferred Ack is due
	peerBase Seq      // client: the peer's oldest unacked sequence as it sees it (SPEC §21.2 (b))
	rto      int64    // ms: the fixed or adaptive retransmit timeout
	avgDelta int64    // ms: the peer's average_delta (2500 until a SessionStatRequest says)
	// The byte budget of SPEC §21.2 (server role): the last waiting
	// packets of stream 0 are stored but not yet sent.
	waiting     int
	budgetUsed  int64 // bytes written, decayed every 20 ms
	budgetMax   int64
	budgetDecay int64
	budgetAt    Nanotime
	evEnv       *Env // set only during an EQ2App call
	evNow       Nanotime
}

// initVariant gives a LEGACY or EQ2 session its variantState (kept across
// reuse of the slot), reset for a session starting at now.
func (s *Session) initVariant(vs *variantState, now Nanotime) {
	if s.cfg.Variant == VariantRS {
		return
	}
	if vs == nil {
		vs = new(variantState)
	}
	*vs = variantState{
		ackAt: Never, rto: ms(s.cfg.ResendDelayMin), avgDelta: 2500,
		budgetMax: 1048576 / 250, budgetDecay: 78642 / 250, budgetAt: now,
	}
	s.vs = vs
}

// variantParams builds the session's Params: the variant's fixed key in
// place of key, a 2-byte CRC, and LEGACY's one pass and deflate test.
func (s *Session) variantParams(key uint32, passes [2]Pass, maxPacket int) (Params, error) {
	r := s.rules
	if r.fixedKey == 0 {
		return NewParams(key, s.cfg.CRCBytes, passes, maxPacket)
	}
	if r.legacyPasses {
		passes = legacyPasses(byte(passes[0] | passes[1]))
	} else {
		passes = [2]Pass{}
	}
	p, err := NewParams(r.fixedKey, 2, passes, maxPacket)
	p.legacyDeflate = r.legacyPasses
	return p, err
}

// decodeLenient applies the CRC leniencies the Config turns on to a
// datagram whose trailer did not match (SPEC §21.3, §22.3), and counts
// each datagram they let through.
func (s *Session) decodeLenient(env *Env, d []byte) ([]byte, error) {
	n := len(d) - s.params.CRCBytes
	zero := s.cfg.LenientZeroCRC && s.params.CRCBytes == 2 && n >= 1 && d[n] == 0 && d[n+1] == 0
	seq19 := s.cfg.Lenient0019 && len(d) >= 4 && d[0] == 0 && d[2] == 0 && d[3] == 0x19
	if !zero && !seq19 {
		return nil, ErrBadCRC
	}
	s.stats.LenientCRC++
	return env.Coder.DecodeUnchecked(&s.params, d)
}

// onRequestAgain is LEGACY's SessionRequest with a new connect code while
// established (SPEC §21.1): once the stream has carried application data,
// or after 30 attempts, disconnect and close; before that, start over with
// the new code and fresh sequence numbers. A repeat of the current code is
// a retransmission and gets the same answer, as on RS.
func (s *Session) onRequestAgain(env *Env, now Nanotime, req SessionRequest) {
	s.vs.requests++
	if s.stats.Delivered > 0 || s.vs.requests > 30 {
		// One SessionDisconnect, as upstream: a second one after the
		// linger would reach the client while it retries its request,
		// and a Connecting client gives up on a SessionDisconnect.
		s.closeWith(env, now, CloseProtocol)
		s.quiet = true
		return
	}
	for i := range s.streams {
		s.streams[i].release(env, true)
		s.streams[i] = stream{}
	}
	s.hb.release(env)
	s.unacked, s.nextResend, s.vs.ackDirty, s.vs.ackAt = 0, Never, false, Never
	s.code = req.ConnectCode
	s.params.MaxPacket = max(MinPacketSize, min(s.cfg.MaxPacketSize, int(min(req.MaxPacketSize, MaxDatagram))))
	s.sendResponse(env, now)
}

// ReplacedBy reports whether datagram d, from this server session's
// endpoint, replaces the session (SPEC §22.1): on EQ2 a well-formed
// SessionRequest with a connect code other than the session's. EQ2EMu
// replaces the stream for any datagram whose byte 1 is 01; eqgate takes
// only a real SessionRequest (00 01, 14 bytes or more), and a repeat of the
// current code stays a retransmission, answered as before, so a late
// duplicate cannot end a live session. The engine then calls Replace and
// admits d as a new session's first datagram.
func (s *Session) ReplacedBy(d []byte) bool {
	if s.client || !s.rules.requestReplaces || s.state == StateDisconnected || !s.established ||
		len(d) < SessionRequestLen || d[0] != 0 || Opcode(d[1]) != OpSessionRequest {
		return false
	}
	req, err := ParseSessionRequest(d)
	return err == nil && req.ConnectCode != s.code
}

// Replace ends the session at once with CloseReplaced and sends nothing:
// EQ2EMu marks the old stream closed without a word, and a SessionDisconnect
// would reach the client's new session, on the same endpoint.
func (s *Session) Replace(env *Env) {
	if s.state != StateDisconnected {
		s.finish(env, CloseReplaced)
	}
}

// chatFiller reports whether Send puts a filler byte after the opcode: a
// LEGACY client on a chat stream (format 04) with Config.ChatFiller.
func (s *Session) chatFiller() bool {
	return s.client && s.rules.legacyPasses && s.cfg.ChatFiller && s.params.Passes[0] == PassXOR
}

// ChatFillerByte is what eqgate's LEGACY chat client puts after the 1-byte
// opcode (SPEC §21.4 (b)); the UCS stream drops it unread.
const ChatFillerByte = 0

// sendFilled sends app with ChatFillerByte after its opcode byte, built
// in a pooled buffer that store copies from (SPEC §21.4 (b)).
func (s *Session) sendFilled(env *Env, now Nanotime, stream int, app []byte, reliable bool) error {
	b := env.get(len(app) + 1)
	b = append(append(append(b[:0], app[0]), ChatFillerByte), app[1:]...)
	err := s.sendApp(env, now, stream, b, reliable)
	env.put(b)
	return err
}

// sendStatRequest is the client's SessionStatRequest right after the
// response (SPEC §21.2, §22.4): deltas of 10 ms tell a LEGACY or EQ2 server
// a realistic average, which lifts its rate limiter and, on LEGACY, sets
// its retransmit timeout and OutOfOrderAck resend age (120 ms).
func (s *Session) sendStatRequest(env *Env, now Nanotime) {
	const delta = 10
	r := SessionStatRequest{
		Timestamp: 1, StatPing: delta, AvgPing: delta, MinPing: delta, MaxPing: delta, LastPing: delta,
		PacketsSent: s.stats.SentPackets, PacketsRecv: s.stats.RecvPackets,
	}
	s.hold(env, now, r.AppendTo(env.ctl[:0]))
}

// onStatVariant takes the peer's deltas from a SessionStatRequest (SPEC
// §21.2): average_delta 1..2500 sets AverageDelta (0 or more means 2500);
// on LEGACY the retransmit timeout becomes 3·max(last_local+last_remote,
// 2·average)+300 ms, capped at ResendDelayMax.
func (s *Session) onStatVariant(req SessionStatRequest) {
	avg := int64(req.AvgPing)
	if avg < 1 || avg > 2500 {
		avg = 2500
	}
	s.vs.avgDelta = avg
	if a := int64(req.AvgPing); a >= 1 && a <= 2500 {
		s.vs.budgetMax, s.vs.budgetDecay = 1048576/a, 78642/a
	}
	if s.rules.adaptiveRTO {
		rto := 3*max(int64(req.StatPing)+int64(req.LastPing), 2*int64(req.AvgPing)) + 300
		s.vs.rto = min(rto, ms(s.cfg.ResendDelayMax))
	}
}

// noteInOrder records that stream 0 advanced: the deferred cumulative Ack
// leaves with the next datagram, or AckDelay from now (SPEC §21.2).
func (s *Session) noteInOrder(now Nanotime) {
	if !s.vs.ackDirty {
		s.vs.ackDirty = true
		s.vs.ackAt = now + Nanotime(s.cfg.AckDelay)
	}
}

// holdCumulativeAck puts the deferred Ack for the highest in-order sequence
// into the hold buffer. A client facing a peer that ignores an Ack equal to
// its oldest unacked sequence adds OutOfOrderAck(q), which that peer does
// honour (SPEC §21.2 (b), §22.4 (b)).
func (s *Session) holdCumulativeAck(env *Env, now Nanotime) {
	s.vs.ackDirty, s.vs.ackAt = false, Never
	q := s.streams[0].in - 1
	s.holdAck(env, now, OpAck, 0, q)
	if s.client && s.rules.peerAckDefect {
		if q == s.vs.peerBase {
			s.holdAck(env, now, OpOutOfOrderAck, 0, q)
		} else {
			s.vs.peerBase = q + 1
		}
	}
}

// ooaResend is the OutOfOrderAck(q) rule of SPEC §21.2: packets older than
// q that were last sent over 2·AverageDelta+100 ms ago are sent again now,
// as far as the byte budget allows: upstream flags them and its writer
// sends them under the same budget as everything else, so a peer cannot
// lift the rate limit with OutOfOrderAcks. One the budget refuses is made
// due for the timer pass, which sends it once the budget has decayed.
func (s *Session) ooaResend(env *Env, now Nanotime, str *stream, q Seq) {
	age := Nanotime(2*s.vs.avgDelta+100) * Nanotime(time.Millisecond)
	end := str.out - Seq(min(s.vs.waiting, str.inflight())) // the waiting ones were never sent
	for p := str.base; p != q && p != end; p++ {
		e := &str.sent[int(p)&(len(str.sent)-1)]
		if e.buf == nil || now-e.lastSent <= age {
			continue
		}
		if s.limited() && !s.spendBudget(now, len(e.buf)) {
			e.lastSent = now - e.delay - 1
			s.nextResend = min(s.nextResend, s.vs.budgetAt+budgetTick)
			continue
		}
		e.lastSent = now
		e.times++
		s.stats.Resends++
		s.stats.ResentBytes += uint64(len(e.buf))
		s.hold(env, now, e.buf)
	}
}

// fragPlan returns whether an application packet of n escaped bytes (app
// unescaped) goes in one OP_Packet, and the fragment sizes otherwise
// (SPEC §13.2, §21.4, §22.6).
func (s *Session) fragPlan(n, app int) (whole bool, first, rest int) {
	m := s.params.MaxPacket
	switch s.rules.fragRule {
	case fragLegacy:
		// The body, opcode not counted, against max−8 (SPEC §21.4 (a)).
		return app <= m-6, m - 10, m - 6
	case fragEQ2:
		return n <= m-10, m - 10, m - 6
	}
	first, rest = s.params.FragmentSizes()
	return n <= s.params.MaxUnfragmented(), first, rest
}

// lastChunkSafe moves the start of the last fragment of a set back when
// that fragment would start 00 19 or be shorter than 2 bytes: LEGACY tests
// the last fragment's first two bytes, not the set's (SPEC §21.4 (b));
// receivers concatenate up to the total, so any split works. (EQ2's
// payloads, never escaped by the session, use EQ2SplitLast.) The set is app escaped when esc, n bytes; start is the planned
// boundary, the result at most 2 bytes earlier.
func lastChunkSafe(app []byte, esc bool, n, start int) int {
	for k := 0; k < 2 && start > 1; k++ {
		if n-start >= 2 && (escapedAt(app, esc, start) != 0 || escapedAt(app, esc, start+1) != 0x19) {
			break
		}
		start--
	}
	return start
}

// escapedAt is byte i of app with one 00 in front when esc.
func escapedAt(app []byte, esc bool, i int) byte {
	if !esc {
		return app[i]
	}
	if i == 0 {
		return 0
	}
	return app[i-1]
}

// budgetTick is the byte budget's decay period (SPEC §21.2).
const budgetTick = 20 * Nanotime(time.Millisecond)

// limited reports whether the byte budget applies: LEGACY and EQ2 servers.
// Not clients: SPEC §21.2 and §22.4 describe the limit as the server's,
// scaled from the client's SessionStatRequest; upstream's client half has
// the same writer but no peer ever sends it a 07, so it would stay at
// 15.7 KB/s, a cap no server needs (nothing upstream limits receiving).
func (s *Session) limited() bool { return s.rules.byteBudget && !s.client }

// spendBudget is LEGACY's writer limit (SPEC §21.2): a sequenced packet
// leaves while the bytes written, decayed by budgetDecay every 20 ms, stay
// at or under budgetMax; it then adds its length.
func (s *Session) spendBudget(now Nanotime, n int) bool {
	if k := (now - s.vs.budgetAt) / budgetTick; k > 0 {
		s.vs.budgetUsed = max(0, s.vs.budgetUsed-int64(k)*s.vs.budgetDecay)
		s.vs.budgetAt += k * budgetTick
	}
	if s.vs.budgetUsed > s.vs.budgetMax {
		return false
	}
	s.vs.budgetUsed += int64(n)
	return true
}

// sendWaiting sends the stored packets the budget held back, in order,
// while it allows; the rest wait for the next decay.
func (s *Session) sendWaiting(env *Env, now Nanotime) {
	str := &s.streams[0]
	s.vs.waiting = min(s.vs.waiting, str.inflight()) // a peer may ack what it never got
	for s.vs.waiting > 0 {
		e := &str.sent[int(str.out-Seq(s.vs.waiting))&(len(str.sent)-1)]
		if e.buf != nil {
			if !s.spendBudget(now, len(e.buf)) {
				break
			}
			e.firstSent, e.lastSent = now, now
			s.hold(env, now, e.buf)
		}
		s.vs.waiting--
	}
	if s.vs.waiting > 0 {
		s.nextResend = min(s.nextResend, s.vs.budgetAt+budgetTick)
	}
}
