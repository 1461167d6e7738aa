package proto

import (
	"encoding/binary"
	"time"
)

// Session is one EQStream session, server or client role (SPEC §6, §9 to
// §20). It lives in caller-owned memory (a shard's slab) and is reused with
// InitServer/InitClient. It is not safe for concurrent use: one goroutine
// (the owning shard) makes every call.
type Session struct {
	// Tag is the owner's: the session never reads or writes it.
	Tag uint64

	cfg    *Config
	rules  *variantRules
	params Params

	state       State
	client      bool
	established bool // server: first SessionRequest accepted; client: response adopted
	proved      bool // the peer sent a datagram that passed the CRC (DESIGN.md, "Admission")
	probing     bool // resends held back: only the oldest packet probes a silent peer
	quiet       bool // finalize without another SessionDisconnect
	discReplied bool // one SessionDisconnect answer per received datagram
	reported    bool // Handler.Closed has run
	reason      CloseReason
	code        uint32 // connect code

	created, lastRecv, lastSend Nanotime
	lastAck                     Nanotime // any Ack or OutOfOrderAck (SPEC §11.5 last_ack)
	finalizeAt                  Nanotime // Disconnecting: when to finish
	nextResend                  Nanotime // earliest resend or resend-timeout deadline (may be early)

	rollingPing int64 // ms, SPEC §11.5
	rateBudget  int64 // bytes (SPEC §20.1); valid when cfg.OutgoingDataRate > 0
	rateAt      Nanotime
	unacked     int // sent-but-unacked bytes, all streams

	// LEGACY and EQ2 (variant_session.go), nil on RS so an RS session
	// stays as small as it was.
	vs  *variantState
	app *EQ2App // EQ2: the application layer (variant_eq2.go)

	hb      holdBuf
	streams [Streams]stream
	stats   Stats
}

// InitServer makes s a server session for a new endpoint with session key
// key (use Env.Random). The session is Connected at once (RS has no
// half-open server state); hand it the SessionRequest that created it with
// Receive. cfg must have passed Validate and must outlive the session.
// Any buffers s still held are dropped, not returned: call Release first
// when reusing a session that did not reach StateDisconnected.
func (s *Session) InitServer(cfg *Config, key uint32, now Nanotime) error {
	if err := s.init(cfg, now); err != nil {
		return err
	}
	p, err := s.variantParams(key, cfg.EncodePasses, cfg.MaxPacketSize)
	if err != nil {
		return err
	}
	s.params = p
	s.state = StateConnected
	s.initEQ2(s.app, now)
	return nil
}

// InitClient makes s a client session with the given connect code (use
// Env.Random). It starts Connecting; the first Tick sends the
// SessionRequest, and Tick retries it every ConnectDelay until a response
// arrives or ConnectStale passes.
func (s *Session) InitClient(cfg *Config, connectCode uint32, now Nanotime) error {
	if err := s.init(cfg, now); err != nil {
		return err
	}
	// Before the response: no CRC and no passes (SPEC §19), except where
	// the variant's key is fixed and a response may arrive inside an
	// OP_Combined (SPEC §21.1, §22.2).
	if s.rules.fixedKey != 0 {
		s.params, _ = s.variantParams(0, cfg.EncodePasses, cfg.MaxPacketSize)
	} else {
		s.params, _ = NewParams(0, 0, [2]Pass{}, cfg.MaxPacketSize)
	}
	s.client = true
	s.code = connectCode
	s.state = StateConnecting
	s.initEQ2(s.app, now)
	s.lastSend = now - Nanotime(cfg.ConnectDelay) - 1 // request at the first Tick
	return nil
}

func (s *Session) init(cfg *Config, now Nanotime) error {
	if cfg == nil || !cfg.validated {
		return ErrConfigNotValidated
	}
	app, vs := s.app, s.vs
	*s = Session{Tag: s.Tag}
	s.cfg = cfg
	s.rules = &variants[cfg.Variant]
	s.created, s.lastRecv, s.lastSend = now, now, now
	s.nextResend = Never
	if cfg.Variant == VariantEQ2 {
		s.app = app // initEQ2 starts it
	}
	s.initVariant(vs, now)
	s.rollingPing = ms(cfg.InitialPing)
	s.stats.RollingPing = cfg.InitialPing
	if cfg.OutgoingDataRate > 0 {
		s.rateBudget = s.rateCap()
		s.rateAt = now
	}
	return nil
}

// State returns the connection state.
func (s *Session) State() State { return s.state }

// Stats returns the session's counters.
func (s *Session) Stats() *Stats { return &s.stats }

// Params returns the negotiated wire parameters (valid once Opened).
func (s *Session) Params() Params { return s.params }

// ConnectCode returns the session's connect code.
func (s *Session) ConnectCode() uint32 { return s.code }

// IsClient reports the client role.
func (s *Session) IsClient() bool { return s.client }

// CloseReason returns why the session closed, or CloseNone.
func (s *Session) CloseReason() CloseReason { return s.reason }

// Unacked returns the bytes sent and not yet acknowledged.
func (s *Session) Unacked() int { return s.unacked }

// Receive handles one UDP payload from the peer, in place: d is modified
// and must not be used by the caller afterwards. Application packets go to
// env.Handler.Deliver; acks and answers are held or sent through env.Sink.
// Call Flush at the end of the receive batch.
func (s *Session) Receive(env *Env, now Nanotime, d []byte) {
	s.stats.RecvPackets++
	s.stats.RecvBytes += uint64(len(d))
	if s.state == StateDisconnected {
		return
	}
	// Only a datagram that passes the CRC refreshes last_recv (SPEC §9 step
	// 5 refreshes on any; §24.1 #9 allows either): a spoofer cannot keep a
	// session alive. A keepalive, which RS discards unchecked, counts when
	// its trailer verifies, as a real peer's does.
	s.discReplied = false
	exempt := CRCExempt(d) // before Decode, which works in place
	p, err := env.Coder.Decode(&s.params, d)
	if err == ErrKeepAlive || err == ErrOutboundPing {
		if s.params.CRCMatches(d) {
			s.lastRecv = now
			s.proved = true
		}
	} else if err == ErrBadCRC && (s.cfg.LenientZeroCRC || s.cfg.Lenient0019) {
		p, err = s.decodeLenient(env, d)
	}
	if err != nil {
		if err == ErrKeepAlive {
			s.stats.KeepAlivesRecv++
			if s.rules.echoKeepAlive && !s.client && s.state == StateConnected && s.established && s.proved {
				s.sendKeepAlive(env, now)
			}
			return
		}
		s.drop(ReasonOf(err))
		return
	}
	if !exempt {
		s.lastRecv = now
		s.proved = true
	}
	s.stats.RecvDecodedBytes += uint64(len(p))
	s.dispatch(env, now, p, Unsequenced, 0)
}

func (s *Session) drop(r Reason) { s.stats.Drops[r]++ }

// dispatch handles an inner packet (SPEC §10). stream is the reliable stream
// the packet arrived on, or Unsequenced.
func (s *Session) dispatch(env *Env, now Nanotime, p []byte, stream, depth int) {
	if depth > s.cfg.MaxDepth {
		s.drop(ReasonTooDeep)
		return
	}
	if len(p) == 0 {
		s.drop(ReasonShort)
		return
	}
	if p[0] != 0 {
		s.deliver(env, stream, p)
		return
	}
	if len(p) < 2 {
		s.drop(ReasonShort)
		return
	}
	if !s.established {
		// Before the handshake only the handshake itself means anything
		// (and, on LEGACY and EQ2, an OP_Combined that may carry it).
		switch Opcode(p[1]) {
		case OpSessionRequest, OpSessionResponse, OpSessionDisconnect, OpOutOfSession:
		case OpCombined:
			if s.rules.fixedKey == 0 || !s.client {
				s.drop(ReasonBadParams)
				return
			}
		default:
			s.drop(ReasonBadParams)
			return
		}
	}
	switch op := Opcode(p[1]); op {
	case OpPadding:
		s.deliver(env, stream, p[1:])
	case OpSessionRequest:
		s.onRequest(env, now, p)
	case OpSessionResponse:
		s.onResponse(env, now, p)
	case OpCombined:
		if s.established && s.refuseData(env, now) {
			return
		}
		it := NewCombinedIter(p)
		it.long = s.rules.combinedLong
		for e, ok := it.Next(); ok && s.state != StateDisconnected; e, ok = it.Next() {
			s.dispatch(env, now, e, stream, depth+1)
		}
		if it.Err() != nil {
			s.drop(ReasonOf(it.Err()))
		}
	case OpAppCombined:
		if s.refuseData(env, now) {
			return
		}
		it := NewAppCombinedIter(p)
		for e, ok := it.Next(); ok && s.state != StateDisconnected; e, ok = it.Next() {
			s.dispatch(env, now, e, stream, depth+1)
		}
		if it.Err() != nil {
			s.drop(ReasonOf(it.Err()))
		}
	case OpSessionDisconnect:
		s.onDisconnect(env, now)
	case OpSessionStatRequest:
		s.onStatRequest(env, now, p)
	case OpSessionStatReply:
		if r, err := ParseSessionStatResponse(p); err == nil {
			s.stats.PeerSent, s.stats.PeerRecv = r.ServerSent, r.ServerRecv
			s.stats.markPeer()
		} else {
			s.drop(ReasonOf(err))
		}
	case OpOutOfSession:
		s.onOutOfSession(env, now)
	case OpKeepAlive, OpOutboundPing:
		// Only reachable nested inside another packet; RS ignores both.
		s.drop(ReasonIgnored)
	default:
		base, st, ok := op.Base()
		if !ok || st >= s.rules.streams {
			s.drop(ReasonUnknownOpcode)
			return
		}
		if len(p) < SeqHeaderLen {
			s.drop(ReasonShort)
			return
		}
		q := Seq(binary.BigEndian.Uint16(p[2:]))
		switch base {
		case OpPacket:
			if s.refuseData(env, now) {
				return
			}
			s.onSequenced(env, now, p, st, q, depth)
		case OpFragment:
			if s.state == StateConnected || s.state == StateDisconnecting {
				s.onSequenced(env, now, p, st, q, depth)
			}
		case OpAck:
			s.onAck(env, now, st, q)
		case OpOutOfOrderAck:
			s.onOutOfOrderAck(env, now, st, q)
		}
	}
}

// refuseData applies SPEC §10's Disconnecting rule for Packet, Combined and
// AppCombined: answer with SessionDisconnect (once per datagram) and drop.
func (s *Session) refuseData(env *Env, now Nanotime) bool {
	switch s.state {
	case StateConnected:
		return false
	case StateDisconnecting:
		if !s.discReplied && !s.quiet {
			s.discReplied = true
			s.sendDisconnect(env, now)
		}
	}
	s.drop(ReasonIgnored)
	return true
}

func (s *Session) deliver(env *Env, stream int, app []byte) {
	if s.state != StateConnected || s.reported {
		s.drop(ReasonIgnored)
		return
	}
	s.stats.Delivered++
	s.stats.DeliveredBytes += uint64(len(app))
	env.Handler.Deliver(s, stream, app)
}

func (s *Session) onRequest(env *Env, now Nanotime, p []byte) {
	if s.client {
		s.drop(ReasonUnknownOpcode)
		return
	}
	req, err := ParseSessionRequest(p)
	if err != nil {
		s.drop(ReasonOf(err))
		return
	}
	if s.state != StateConnected {
		return // SPEC §6.3: ignored while Disconnecting
	}
	if s.established && req.ConnectCode != s.code && s.rules.requestReinit {
		s.onRequestAgain(env, now, req)
		return
	}
	if !s.established {
		m := NegotiatedMaxPacket(s.cfg, req.MaxPacketSize)
		if m < MinPacketSize {
			s.drop(ReasonBadParams)
			s.finish(env, CloseProtocol)
			return
		}
		s.code = req.ConnectCode
		s.params.MaxPacket = m
		s.established = true
		if s.app != nil {
			s.app.SetMaxPacket(m)
		}
		s.sendResponse(env, now)
		env.Handler.Opened(s)
		return
	}
	if req.ConnectCode == s.code {
		s.sendResponse(env, now) // a repeat gets the identical answer
	} else {
		s.drop(ReasonBadParams)
	}
}

func (s *Session) onResponse(env *Env, now Nanotime, p []byte) {
	r, err := ParseSessionResponse(p)
	if err != nil {
		s.drop(ReasonOf(err))
		return
	}
	if !s.client || s.state != StateConnecting || r.ConnectCode != s.code {
		// EQ2EMu answers a second SessionStatRequest with its response
		// again: ignore it (SPEC §22.7).
		s.drop(ReasonBadParams)
		return
	}
	// Fields are BE on the wire (SPEC §6.4: RS's own client gets this wrong).
	m := min(int(min(r.MaxPacketSize, MaxDatagram)), s.cfg.MaxPacketSize)
	var params Params
	if s.rules.legacyResponse {
		params, err = s.variantParams(r.Key, legacyPasses(byte(r.Passes[0])), m)
		if r.CRCBytes != 2 {
			err = ErrBadCRCBytes
		}
	} else {
		params, err = NewParams(r.Key, int(r.CRCBytes), r.Passes, m)
	}
	if err != nil || m < MinPacketSize {
		s.drop(ReasonBadParams)
		s.finish(env, CloseProtocol)
		return
	}
	s.params = params
	s.state = StateConnected
	s.established = true
	s.proved = true // the response carries the connect code we chose
	s.lastRecv = now
	if s.app != nil {
		s.app.SetMaxPacket(params.MaxPacket)
	}
	if s.rules.legacyResponse {
		s.sendStatRequest(env, now)
	}
	sent := s.stats.SentPackets
	env.Handler.Opened(s)
	// A server with a stateless handshake holds nothing for us until a
	// datagram proves we got the key: send one at once unless Opened did
	// (a keepalive; RS servers discard it unread).
	if s.state == StateConnected && s.stats.SentPackets == sent && s.hb.count == 0 {
		s.sendKeepAlive(env, now)
	}
}

func (s *Session) onDisconnect(env *Env, now Nanotime) {
	switch s.state {
	case StateConnecting:
		s.finish(env, ClosePeer) // SPEC §19: nothing sent
	case StateConnected:
		// SPEC §19: flush, answer, Disconnecting with close_time unset, so
		// the next Tick finishes with a second SessionDisconnect.
		s.Flush(env, now)
		s.sendDisconnect(env, now)
		s.state = StateDisconnecting
		s.finalizeAt = now
		// LEGACY and EQ2 peers answer once (SPEC §21.5, §22.4).
		s.quiet = s.rules.legacyResponse
		s.report(env, ClosePeer)
	case StateDisconnecting:
		// We already said goodbye: finish at the next Tick without another
		// SessionDisconnect, so two closing peers do not ping-pong.
		s.quiet = true
		s.finalizeAt = now
	}
}

func (s *Session) onOutOfSession(env *Env, now Nanotime) {
	// RS has no handler. A client told that the server has no session ends
	// silently: answering would only start a disconnect/OutOfSession loop.
	if s.client && (s.state == StateConnecting || s.state == StateConnected) {
		s.finish(env, CloseRefused)
		return
	}
	// An EQ2 server sends SessionDisconnect and closes (SPEC §22.4); one
	// only, and a peer without a session never answers it.
	if s.rules.oosCloses && s.state == StateConnected {
		s.closeWith(env, now, ClosePeer)
		s.quiet = true
		return
	}
	s.drop(ReasonIgnored)
}

func (s *Session) onStatRequest(env *Env, now Nanotime, p []byte) {
	req, err := ParseSessionStatRequest(p)
	if err != nil {
		s.drop(ReasonOf(err))
		return
	}
	s.stats.PeerSent, s.stats.PeerRecv = req.PacketsSent, req.PacketsRecv
	s.stats.markPeer()
	if s.rules.legacyResponse {
		s.onStatVariant(req)
	}
	// SPEC §17.3: server time is the low 32 bits of a monotonic ms clock
	// (the recommendation; RS sends 0 in practice).
	resp := SessionStatResponse{
		Timestamp:  req.Timestamp,
		ServerTime: uint32(now / Nanotime(time.Millisecond)),
		ClientSent: req.PacketsSent,
		ClientRecv: req.PacketsRecv,
		ServerSent: s.stats.SentPackets,
		ServerRecv: s.stats.RecvPackets,
	}
	if s.app != nil {
		resp = EQ2StatResponse(req, resp.ServerTime, uint32(s.stats.SentPackets), uint32(s.stats.RecvPackets))
		s.hold(env, now, resp.AppendTo(env.ctl[:0]))
		s.eq2KeyRequest(env, now)
		return
	}
	s.sendNow(env, now, resp.AppendTo(env.ctl[:0]))
}

// Close starts closing the session (SPEC §19, local Close): flush, send
// SessionDisconnect, linger in Disconnecting for CloseLinger, then a second
// SessionDisconnect at the Tick that finishes it. Handler.Closed runs now.
func (s *Session) Close(env *Env, now Nanotime) { s.closeWith(env, now, CloseLocal) }

// CloseWith is Close reporting reason instead of CloseLocal (the engine's
// own reasons, such as ClosePanic).
func (s *Session) CloseWith(env *Env, now Nanotime, reason CloseReason) {
	s.closeWith(env, now, reason)
}

func (s *Session) closeWith(env *Env, now Nanotime, reason CloseReason) {
	switch s.state {
	case StateConnecting:
		s.finish(env, reason)
	case StateConnected:
		if s.app != nil {
			c, ev := s.eq2(env, now)
			s.app.Flush(c, ev) // the combine queue leaves before the disconnect
		}
		if reason == CloseLocal && s.rules.closeDrains && s.unacked > 0 {
			s.vs.draining = true // closed by the ack that empties the queue
			return
		}
		s.Flush(env, now)
		s.sendDisconnect(env, now)
		s.state = StateDisconnecting
		s.finalizeAt = now + Nanotime(s.cfg.CloseLinger) + 1
		s.report(env, reason)
	}
}

// finish ends the session at once with no packet sent (stale, connect
// timeout, OutOfSession, protocol error).
func (s *Session) finish(env *Env, reason CloseReason) {
	s.state = StateDisconnected
	s.releaseAll(env)
	s.report(env, reason)
}

// finalize is Disconnecting's end (SPEC §18.1 process step 1).
func (s *Session) finalize(env *Env, now Nanotime) {
	s.Flush(env, now)
	if !s.quiet {
		s.sendDisconnect(env, now)
	}
	s.state = StateDisconnected
	s.releaseAll(env)
	s.report(env, s.reason)
}

func (s *Session) report(env *Env, reason CloseReason) {
	if s.reported {
		return
	}
	s.reported = true
	s.reason = reason
	env.Handler.Closed(s, reason)
}

// Release returns every buffer the session holds to env's Allocator and
// leaves it Disconnected, with no packet sent and no callback. Use it to
// drop a session abruptly (shutdown) or before reusing one that is not
// Disconnected.
func (s *Session) Release(env *Env) {
	s.state = StateDisconnected
	s.releaseAll(env)
}

func (s *Session) releaseAll(env *Env) {
	if s.app != nil && env.EQ2 != nil {
		s.app.Release(env.EQ2)
	}
	for i := range s.streams {
		s.streams[i].release(env, true)
	}
	s.unacked = 0
	if s.vs != nil {
		s.vs.waiting = 0
	}
	s.hb.release(env)
	s.nextResend = Never
}

// Tick runs the session's due timers (SPEC §18.1): close linger, connect
// retry and give-up, stale timeout, keepalive, resends and resend timeout,
// the hold-buffer safety flush, and the release of idle buffers. It flushes
// the hold buffer before returning. It returns when the session next needs
// a Tick, Never once it is Disconnected. Calling it early is harmless.
func (s *Session) Tick(env *Env, now Nanotime) Nanotime {
	c := s.cfg
	switch s.state {
	case StateDisconnected:
		return Never
	case StateDisconnecting:
		if now >= s.finalizeAt {
			s.finalize(env, now)
			return Never
		}
	case StateConnecting:
		if now-s.lastRecv > Nanotime(c.ConnectStale) {
			s.finish(env, CloseConnectTimeout)
			return Never
		}
		if now-s.lastSend > Nanotime(c.ConnectDelay) {
			s.sendRequest(env, now)
		}
		return s.Next()
	case StateConnected:
		if now-s.lastRecv > Nanotime(c.StaleConnection) {
			s.finish(env, CloseTimeout)
			return Never
		}
		if s.sendsKeepAlive() && now-s.lastSend > s.keepAliveDelay() {
			s.sendKeepAlive(env, now)
		}
	}
	if s.eq2Ready() && s.state == StateConnected && now >= s.app.Next() {
		c, ev := s.eq2(env, now)
		s.app.Tick(c, now, ev)
	}
	if now >= s.nextResend {
		s.resend(env, now)
		if s.state == StateDisconnected {
			return Never
		}
	}
	s.Flush(env, now)
	s.maybeRelease(env, now)
	return s.Next()
}

// Next returns when the session next needs a Tick, from its cached
// deadlines; cheap enough to call after every Receive, Send or Flush.
// It may be early (a Tick then finds nothing due), never late.
func (s *Session) Next() Nanotime {
	c := s.cfg
	switch s.state {
	case StateConnecting:
		return min(s.lastSend+Nanotime(c.ConnectDelay)+1, s.lastRecv+Nanotime(c.ConnectStale)+1)
	case StateConnected:
		t := min(s.lastRecv+Nanotime(c.StaleConnection)+1, s.nextResend)
		if s.vs != nil {
			t = min(t, s.vs.ackAt)
		}
		if s.sendsKeepAlive() {
			t = min(t, s.lastSend+s.keepAliveDelay()+1)
		}
		if s.hb.count > 0 {
			t = min(t, s.hb.since+Nanotime(c.HoldLength))
		}
		if s.releasable() {
			t = min(t, max(s.lastSend, s.lastRecv)+Nanotime(c.IdleRelease))
		}
		if s.eq2Ready() {
			t = min(t, s.app.Next())
		}
		return t
	case StateDisconnecting:
		if s.vs != nil {
			return min(s.finalizeAt, s.nextResend, s.vs.ackAt)
		}
		return min(s.finalizeAt, s.nextResend)
	}
	return Never
}

// sendsKeepAlive reports whether Tick sends keepalives: not on a LEGACY or
// EQ2 server, which echoes the client's instead.
func (s *Session) sendsKeepAlive() bool {
	// Nothing but the response goes to an address that has not proved
	// itself (DESIGN.md, "Admission").
	return s.cfg.KeepAliveDelay > 0 && s.established && s.proved && (s.client || !s.rules.echoKeepAlive)
}

// variantKeepAlive is the longest a LEGACY or EQ2 client stays silent: a
// chat server and EQ2EMu time a stream out after 45 s with nothing received
// (SPEC §21.5, §22.4).
const variantKeepAlive = 40 * Nanotime(time.Second)

// keepAliveDelay is Config.KeepAliveDelay, at most variantKeepAlive on a
// LEGACY or EQ2 client.
func (s *Session) keepAliveDelay() Nanotime {
	d := Nanotime(s.cfg.KeepAliveDelay)
	if s.client && s.rules.echoKeepAlive {
		d = min(d, variantKeepAlive)
	}
	return d
}

// releasable reports whether maybeRelease would hand anything back.
func (s *Session) releasable() bool {
	if s.hb.b != nil && s.hb.count == 0 {
		return true
	}
	for i := range s.streams {
		st := &s.streams[i]
		if (st.sent != nil && st.base == st.out) || (st.reorder != nil && st.reorderN == 0) {
			return true
		}
	}
	return false
}

// maybeRelease hands idle buffers back once nothing has moved for
// IdleRelease, so an idle session costs only its struct.
func (s *Session) maybeRelease(env *Env, now Nanotime) {
	if now-max(s.lastSend, s.lastRecv) < Nanotime(s.cfg.IdleRelease) {
		return
	}
	for i := range s.streams {
		s.streams[i].release(env, false)
	}
	if s.hb.count == 0 {
		s.hb.release(env)
	}
}

func (s *Session) sendRequest(env *Env, now Nanotime) {
	req := SessionRequest{ProtocolVersion: s.cfg.ProtocolVersion, ConnectCode: s.code, MaxPacketSize: uint32(s.cfg.MaxPacketSize)}
	s.sendNow(env, now, req.AppendTo(env.ctl[:0]))
}

func (s *Session) sendResponse(env *Env, now Nanotime) {
	r := SessionResponse{
		ConnectCode:   s.code,
		Key:           s.params.Key,
		CRCBytes:      uint8(s.params.CRCBytes),
		Passes:        s.params.Passes,
		MaxPacketSize: uint32(s.params.MaxPacket),
	}
	if s.rules.legacyResponse {
		// Through the non-sequenced queue: it may share an OP_Combined
		// (SPEC §21.1, §22.2 (a)).
		s.hold(env, now, r.AppendLegacyTo(env.ctl[:0]))
		return
	}
	s.sendNow(env, now, r.AppendTo(env.ctl[:0]))
}

func (s *Session) sendDisconnect(env *Env, now Nanotime) {
	b := AppendSessionDisconnect(env.ctl[:0], s.code)
	if s.rules.disconnectTail {
		b = append(b, 0, byte(OpKeepAlive))
	}
	s.sendNow(env, now, b)
}

func (s *Session) sendKeepAlive(env *Env, now Nanotime) {
	s.sendNow(env, now, AppendKeepAlive(env.ctl[:0]))
}

// sendNow is SPEC §15 step 6: budget, last_send, passes and CRC, counters,
// out. x must not alias the Sink's buffer.
func (s *Session) sendNow(env *Env, now Nanotime, x []byte) {
	if s.cfg.OutgoingDataRate > 0 && !s.spend(now, len(x)) {
		s.stats.RateDrops++
		return
	}
	s.lastSend = now
	dst := env.Coder.AppendEncode(&s.params, env.Sink.Buffer()[:0], x)
	s.stats.SentPackets++
	s.stats.SentBytes += uint64(len(x))
	s.stats.SentWireBytes += uint64(len(dst))
	env.Sink.Send(dst)
}

// rateCap is one second of OutgoingDataRate, in bytes: the most that can be
// banked (SPEC §20.1).
func (s *Session) rateCap() int64 { return int64(s.cfg.OutgoingDataRate * 1024) }

// spend refills the budget for the time since the last refill (continuous
// rather than per 16 ms tick) and takes n bytes, refusing a datagram that
// would take it to 0 or below as RS does.
func (s *Session) spend(now Nanotime, n int) bool {
	// The clock only advances when a whole byte is credited, so frequent
	// sends do not lose the fractions.
	if add := int64(float64(now-s.rateAt) * s.cfg.OutgoingDataRate * 1024 / 1e9); add > 0 {
		s.rateBudget = min(s.rateCap(), s.rateBudget+add)
		s.rateAt = now
	}
	if s.rateBudget-int64(n) <= 0 {
		return false
	}
	s.rateBudget -= int64(n)
	return true
}
