package proto

// The EQ2 application layer (EQ2App, eq2*.go) inside an EQ2 session: the
// Handler sends and receives plain application packets; the session keeps
// one EQ2App (its own RC4 ciphers and deflate stream, never shared) and
// carries its prepared payloads in OP_Packet / OP_Fragment.

// eq2Events is the session seen as the EQ2App's output; the pointer
// conversion keeps the interface value allocation-free.
type eq2Events Session

func (e *eq2Events) EQ2Send(payload []byte) {
	s := (*Session)(e)
	s.store(s.vs.evEnv, s.vs.evNow, 0, payload, false, len(payload))
}

// EQ2SendFragmented sends a client payload EQ2EMu would misread as one
// OP_Packet as a two-fragment set (EQ2FragmentSender), so it needs no
// filler.
func (e *eq2Events) EQ2SendFragmented(payload []byte) {
	s := (*Session)(e)
	s.storeFragments(s.vs.evEnv, s.vs.evNow, 0, payload, false, len(payload), EQ2SplitForced(payload))
}

func (e *eq2Events) EQ2Deliver(app []byte) {
	s := (*Session)(e)
	s.deliver(s.vs.evEnv, 0, app)
}

// newEQ2Coder makes env's EQ2Coder. Its deflate stream is EQ2's
// compression pass, so it takes the level of env's Coder, which holds the
// listener's CompressLevel.
func newEQ2Coder(env *Env) *EQ2Coder {
	c := &EQ2Coder{Alloc: env.Alloc}
	if env.Coder != nil {
		c.def.level = env.Coder.CompressLevel()
	}
	return c
}

// eq2 readies the per-call context and returns the EQ2App's arguments.
func (s *Session) eq2(env *Env, now Nanotime) (*EQ2Coder, EQ2Events) {
	if env.EQ2 == nil {
		env.EQ2 = newEQ2Coder(env)
	}
	if s.vs.pickK64 {
		// InitClient has no Env; the key is drawn from env.Random at the
		// first EQ2App call, before the key packet can go out, so a seeded
		// Env.Rand makes the session reproducible (SPEC §22.7: random,
		// non-zero).
		s.vs.pickK64 = false
		if k := uint64(env.Random())<<32 | uint64(env.Random()); k != 0 {
			s.app.k64 = k
		}
	}
	s.vs.evEnv, s.vs.evNow = env, now
	return env.EQ2, (*eq2Events)(s)
}

// initEQ2 starts the session's application layer (kept across reuse of
// the slot: its buffers go back through Release).
func (s *Session) initEQ2(app *EQ2App, now Nanotime) {
	if s.cfg.Variant != VariantEQ2 {
		return
	}
	if app == nil {
		app = new(EQ2App)
	}
	s.app = app
	if s.client {
		// K64 1 until eq2 draws the random key from the Env.
		_ = s.app.InitClient(&s.cfg.EQ2, 1, now) // KeyPacketLen checked by Validate
		s.vs.pickK64 = true
	} else {
		s.app.InitServer(&s.cfg.EQ2, now)
	}
}

// SetEQ2Key makes an EQ2 client session use k64 (0: RC4 off) instead of a
// random key; call it before the session opens (replaying captures, tests).
func (s *Session) SetEQ2Key(k64 uint64) error {
	if s.app == nil || !s.client || s.established {
		return ErrNotConnected
	}
	s.vs.pickK64 = false
	return s.app.InitClient(&s.cfg.EQ2, k64, s.created)
}

// EQ2 returns the session's EQ2 application layer (nil on RS and LEGACY),
// for its counters.
func (s *Session) EQ2() *EQ2App { return s.app }

// eq2Receive hands a sequenced payload (after the 2-byte sequence) or a
// reassembled fragment set to the application layer; a broken stream
// closes the session (SPEC §22.6).
func (s *Session) eq2Receive(env *Env, now Nanotime, p []byte, fragmented bool) {
	c, ev := s.eq2(env, now)
	err := s.app.Receive(c, p, fragmented, ev)
	if err == nil {
		return
	}
	s.drop(ReasonOf(err))
	if EQ2Fatal(err) && s.state == StateConnected {
		s.closeWith(env, now, CloseProtocol)
	}
}

// eq2KeyRequest is the server's answer to the first SessionStatRequest:
// OP_WSLoginRequestMsg as OP_Packet seq 0, after the 08 in the same
// OP_Combined (SPEC §22.7 step 1).
func (s *Session) eq2KeyRequest(env *Env, now Nanotime) {
	if s.client || s.vs.keyAsked || s.app.Keyed() {
		return
	}
	s.vs.keyAsked = true
	var b [EQ2KeyRequestLen]byte
	kr := AppendEQ2KeyRequest(b[:0])
	s.store(env, now, 0, kr, false, len(kr))
}

// eq2Ready reports whether the combine queue may be prepared: a server
// holds application packets until the client's key arrives, since packets
// prepared before it would go out unencrypted to a client that already
// encrypts (EQ2EMu sends nothing before login, which needs the key).
func (s *Session) eq2Ready() bool {
	return s.app != nil && (s.client || s.app.Keyed())
}

// sendEQ2 hands app to the application layer, which prepares it now or at
// its combine timer; the window check counts what already waits there,
// since prepared payloads cannot be refused.
func (s *Session) sendEQ2(env *Env, now Nanotime, app []byte) error {
	q := len(s.app.q) - s.app.qHead
	frags := FragmentCount(q+len(app)+8, s.params.MaxPacket-10, s.params.MaxPacket-6) + s.app.Queued()
	if s.unacked+q+len(app)+64 > s.cfg.MaxUnackedBytes || s.streams[0].inflight()+frags > s.cfg.MaxUnackedPackets {
		s.stats.SendQueueFull++
		return ErrSendQueueFull
	}
	c, ev := s.eq2(env, now)
	err := s.app.Send(c, now, app, ev)
	if err == ErrEQ2QueueFull {
		s.stats.SendQueueFull++
		return ErrSendQueueFull // one back-pressure error for every variant
	}
	return err
}
