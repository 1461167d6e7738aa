package proto

// holdBuf is RS's hold buffer (SPEC §14.1), kept as the OP_Combined it
// will become: 00 03 then {u8 len, element} for each held packet.
type holdBuf struct {
	b     []byte // from the Allocator; nil until first used, released when idle
	count int
	since Nanotime // when the first held packet arrived
	// ackAt is the offset of the sequence field of the cumulative Ack held
	// for each stream, 0 for none. A newer Ack on that stream overwrites it:
	// acks are cumulative, so one per stream per datagram is enough.
	ackAt [Streams]int32
}

func (h *holdBuf) release(env *Env) {
	env.put(h.b)
	h.b = nil
	h.count = 0
	h.ackAt = [Streams]int32{}
}

// holdLimit is the largest decoded combined packet: max_packet_size −
// crc_bytes, minus the compression flag byte when that pass is on, so the
// datagram never exceeds max_packet_size (SPEC §14.2, §24.1 #8).
func (s *Session) holdLimit() int {
	l := s.params.MaxPacket - s.params.CRCBytes
	if s.params.Compressing() {
		l--
	}
	if c := s.rules.combineLimit; c > 0 {
		l = min(l, c)
	}
	return l
}

// hold passes decoded packet x through the hold buffer (SPEC §14.1) and
// returns x's offset in the buffer, or 0 when x was sent or flushed.
func (s *Session) hold(env *Env, now Nanotime, x []byte) int {
	if len(x) > MaxElement {
		s.Flush(env, now)
		s.sendNow(env, now, x)
		return 0
	}
	h := &s.hb
	limit := s.holdLimit()
	if h.count > 0 && len(h.b)+1+len(x) > limit {
		s.Flush(env, now)
	}
	if h.count == 0 {
		if cap(h.b) < limit {
			env.put(h.b)
			h.b = env.get(limit)
		}
		h.b = AppendCombinedHeader(h.b[:0])
		h.since = now
	}
	off := len(h.b) + 1
	h.b = AppendCombinedElement(h.b, x)
	h.count++
	if len(h.b)-CombinedHeaderLen > s.cfg.HoldSize {
		s.Flush(env, now)
		return 0
	}
	return off
}

// holdApp holds an unreliable application packet, zero-escaped when esc,
// without building the escaped copy elsewhere.
func (s *Session) holdApp(env *Env, now Nanotime, app []byte, esc bool) {
	if !esc {
		s.hold(env, now, app)
		return
	}
	// len(app)+1 ≤ 255 − crc_bytes here, so it fits an element; build it in
	// the Env's scratch only when it is small, else in the hold buffer path.
	if len(app)+1 <= len(env.ctl) {
		b := append(env.ctl[:0], 0)
		s.hold(env, now, append(b, app...))
		return
	}
	b := env.get(len(app) + 1)
	b[0] = 0
	copy(b[1:], app)
	s.hold(env, now, b)
	env.put(b)
}

// holdAck holds an Ack or OutOfOrderAck; a cumulative Ack replaces the one
// already held for the same stream.
func (s *Session) holdAck(env *Env, now Nanotime, base Opcode, stn int, q Seq) {
	h := &s.hb
	if base == OpAck {
		if off := h.ackAt[stn]; off != 0 && h.count > 0 {
			h.b[off], h.b[off+1] = byte(q>>8), byte(q)
			return
		}
	}
	var a [SeqHeaderLen]byte
	off := s.hold(env, now, appendSeqHeader(a[:0], base, stn, q))
	if base == OpAck && off != 0 {
		h.ackAt[stn] = int32(off + 2)
	}
}

// Flush sends what the hold buffer holds: nothing, the one packet as it is,
// or one OP_Combined (SPEC §14.1). The owner calls it at the end of each
// receive batch, after Sends, or on a timer; Tick also calls it.
func (s *Session) Flush(env *Env, now Nanotime) {
	h := &s.hb
	if s.vs != nil && s.vs.ackDirty && (h.count > 0 || now >= s.vs.ackAt) {
		s.holdCumulativeAck(env, now)
	}
	if h.count == 0 {
		return
	}
	x := h.b
	if h.count == 1 {
		x = h.b[CombinedHeaderLen+1:]
	}
	h.count = 0
	h.ackAt = [Streams]int32{}
	s.sendNow(env, now, x)
	h.b = h.b[:0]
}
