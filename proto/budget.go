package proto

// Budget is a shard's total budget for peer data its sessions hold between
// calls: reorder-queue copies and their rings, and partly reassembled
// fragment sets. One Budget belongs to one Env (one goroutine); sessions
// update it where their own totals change, so it costs nothing on a
// datagram that queues nothing.
//
// Rules, for a session holding h bytes that asks for n more:
//   - while the total stays at most Limit, every request is granted;
//   - past Limit, only a session whose h+n stays within its fair share
//     (Limit divided by the sessions holding anything) is granted, so the
//     biggest holders are refused first and small ones lose nothing;
//   - past 2·Limit nothing is granted, and Squeezed reports it, so that
//     the owner closes the biggest holders (CloseBudget).
//
// A refused packet is dropped before it is acknowledged (ReasonBudget): the
// peer resends it, so refusal delays, never loses, a peer's data.
// The zero Budget (Limit 0) grants everything and only counts.
type Budget struct {
	Limit int // bytes; 0: no limit

	held    int // bytes held by every session of the Env
	holders int // sessions holding more than 0 bytes
	squeeze bool
}

// Held returns the bytes held by all sessions.
func (b *Budget) Held() int { return b.held }

// Holders returns the number of sessions holding anything.
func (b *Budget) Holders() int { return b.holders }

// Squeezed reports (and clears) whether a request was refused past the hard
// limit (2·Limit) since the last call: the owner should close the biggest
// holders until Held is back under Limit.
func (b *Budget) Squeezed() bool {
	s := b.squeeze
	b.squeeze = false
	return s
}

// Over reports whether the total is above Limit.
func (b *Budget) Over() bool { return b.Limit > 0 && b.held > b.Limit }

// grant reports whether a session holding h bytes may take n more.
func (b *Budget) grant(h, n int) bool {
	if b.Limit <= 0 || b.held+n <= b.Limit {
		return true
	}
	if b.held+n > 2*b.Limit {
		b.squeeze = true
		return false
	}
	k := b.holders
	if h == 0 {
		k++
	}
	return h+n <= b.Limit/k
}

// sliceBytes is what one reorder-ring entry (a slice header) costs.
const sliceBytes = 24

// grant asks the Env's budget for n more bytes held by s; true when there
// is no budget.
func (s *Session) grant(env *Env, n int) bool {
	if !s.shedding && (env.Budget == nil || env.Budget.grant(s.peerHeld, n)) {
		return true
	}
	s.drop(ReasonBudget)
	return false
}

// held adds n (negative: frees) to the peer data s holds and to the Env's
// budget.
func (s *Session) held(env *Env, n int) {
	if n == 0 {
		return
	}
	was := s.peerHeld
	s.peerHeld += n
	if b := env.Budget; b != nil {
		b.held += n
		switch {
		case was == 0 && s.peerHeld > 0:
			b.holders++
		case was > 0 && s.peerHeld == 0:
			b.holders--
		}
	}
}

// shed frees what a session closed by the budget holds of peer data, and
// refuses more while it lingers (fragments are still sequenced then).
func (s *Session) shed(env *Env) {
	s.shedding = true
	for i := range s.streams {
		s.held(env, -s.streams[i].releaseRecv(env))
	}
}

// PeerHeld returns the bytes of peer data the session holds: reorder-queue
// copies and rings, and its partly reassembled fragment sets.
func (s *Session) PeerHeld() int { return s.peerHeld }
