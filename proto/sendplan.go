package proto

// sendPlan is what one Send of an application packet takes: the stream it
// goes on (an unreliable packet too long to go raw moves to stream 0), and
// either the raw path or cnt stored packets of size bytes in all.
type sendPlan struct {
	stream    int
	raw       bool // unreliable, short enough for the hold buffer as it is
	esc       bool // app starts with 00 and gets the escape byte (SPEC §16.2)
	n         int  // escaped length
	cnt, size int  // packets and bytes it adds to the send window
}

// plan checks stream, app and reliable as Send does, without the window
// caps, and says what the send would take.
func (s *Session) plan(stream int, app []byte, reliable bool) (sendPlan, error) {
	if s.state != StateConnected || !s.established {
		return sendPlan{}, ErrNotConnected
	}
	if uint(stream) >= uint(s.rules.streams) {
		return sendPlan{}, ErrBadStream
	}
	if len(app) == 0 {
		return sendPlan{}, ErrEmptyPacket
	}
	if len(app) < s.rules.minApp && s.params.Passes[0] != PassXOR {
		return sendPlan{}, ErrPacketTooShort
	}
	if s.vs != nil && s.vs.draining {
		return sendPlan{}, ErrClosing
	}
	pl := sendPlan{stream: stream, esc: app[0] == 0, n: len(app)}
	if pl.esc {
		pl.n++
	}
	if !reliable {
		if pl.n <= s.params.MaxUnreliable() && !s.rules.reliableOnly {
			pl.raw = true
			return pl, nil
		}
		pl.stream = 0
	}
	if pl.n > s.cfg.MaxFragmentSize {
		return sendPlan{}, ErrPacketTooLarge
	}
	pl.cnt, pl.size = s.windowCost(pl.n, len(app))
	if pl.size > s.cfg.MaxUnackedBytes || pl.cnt > s.cfg.MaxUnackedPackets {
		return sendPlan{}, ErrPacketTooLarge // would not fit an empty window
	}
	return pl, nil
}

// fits reports whether pl fits the window now (MaxUnackedBytes over the
// session, MaxUnackedPackets on the stream).
func (s *Session) fits(str *stream, pl sendPlan) bool {
	return s.unacked+pl.size <= s.cfg.MaxUnackedBytes && str.inflight()+pl.cnt <= s.cfg.MaxUnackedPackets
}

// windowCost is what a reliable packet of n escaped bytes (app unescaped)
// stores under the session's variant rules (SPEC §13, §21.4, §22.6).
func (s *Session) windowCost(n, app int) (cnt, size int) {
	whole, first, rest := s.fragPlan(n, app)
	if whole {
		return 1, SeqHeaderLen + n
	}
	cnt = FragmentCount(n, first, rest)
	return cnt, n + SeqHeaderLen*cnt + 4
}

// windowCost is what a reliable inner packet of n escaped bytes stores
// under p: one OP_Packet up to M_raw, else its fragments (SPEC §13).
func windowCost(p *Params, n int) (cnt, size int) {
	if n <= p.MaxUnfragmented() {
		return 1, SeqHeaderLen + n
	}
	first, rest := p.FragmentSizes()
	cnt = FragmentCount(n, first, rest)
	return cnt, n + SeqHeaderLen*cnt + 4
}

// CanSend reports what Send(stream, app, reliable) would return now,
// without sending or counting anything: nil, ErrSendQueueFull while the
// window has no room for it (it will after acks arrive), or Send's
// permanent errors (ErrNotConnected, ErrBadStream, ErrEmptyPacket,
// ErrPacketTooLarge). A caller that holds sends back while the window is
// full asks this first, so that Send never refuses what it was given.
func (s *Session) CanSend(stream int, app []byte, reliable bool) error {
	pl, err := s.plan(stream, app, reliable)
	if err != nil || pl.raw {
		return err
	}
	if !s.fits(&s.streams[pl.stream], pl) {
		return ErrSendQueueFull
	}
	return nil
}

// MaxSend is the length of the longest application packet Send accepts
// (into an empty window) with the session's negotiated parameters: the
// MaxFragmentSize, MaxUnackedBytes and MaxUnackedPackets caps, at the
// packet size and CRC length in force, for a packet that needs the escape
// byte. Before the session is established it is MaxSendFor(cfg).
func (s *Session) MaxSend() int {
	if !s.established {
		return MaxSendFor(s.cfg)
	}
	return maxSend(&s.params, s.cfg)
}

// MaxSendFor is MaxSend for the worst parameters a peer can make a session
// under cfg use (MinPacketSize datagrams, a 4-byte CRC): a bound that holds
// for every session before it is established. cfg must have passed
// Validate.
func MaxSendFor(cfg *Config) int {
	return maxSend(&Params{MaxPacket: MinPacketSize, CRCBytes: 4}, cfg)
}

// maxSend finds the largest app length whose escaped form fits an empty
// window, by bisection: windowCost only grows with n.
func maxSend(p *Params, cfg *Config) int {
	ok := func(n int) bool {
		cnt, size := windowCost(p, n)
		return n <= cfg.MaxFragmentSize && size <= cfg.MaxUnackedBytes && cnt <= cfg.MaxUnackedPackets
	}
	lo, hi := 0, cfg.MaxFragmentSize+1 // ok(lo) (vacuously for 0), !ok(hi)
	for hi-lo > 1 {
		if mid := lo + (hi-lo)/2; ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return max(lo-1, 0) // one byte for the escape
}
