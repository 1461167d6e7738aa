package shard

import "github.com/eqgate/eqgate/proto"

// maxSqueeze bounds the sessions one loop iteration closes for the budget:
// each costs a scan of the slab.
const maxSqueeze = 8

// budgetCheck mirrors the budget's total into the PeerHeld gauge and, when
// a session was refused past twice the budget (proto.Budget.Squeezed),
// closes the biggest holders with CloseBudget until the total is back
// under the budget. Finding them scans the slab, which happens only then;
// a close frees what the session held at once.
func (s *Shard) budgetCheck() {
	if s.budget.Squeezed() {
		for k := 0; k < maxSqueeze && s.budget.Over(); k++ {
			i := s.biggestHolder()
			if i < 0 {
				break
			}
			s.closeSlotWith(i, proto.CloseBudget)
		}
	}
	// The gauge has one writer, this goroutine: what it shows is the last
	// total mirrored.
	if d := int64(s.budget.Held()) - s.counters.PeerHeld.Load(); d != 0 {
		s.counters.PeerHeld.add(d)
	}
}

// biggestHolder returns the live, connected slot holding the most peer
// data, or -1 when none holds any.
func (s *Shard) biggestHolder() int32 {
	big, most := int32(-1), 0
	for i := range s.meta.n {
		if s.meta.meta(i).state != slotLive {
			continue
		}
		ps := s.session(i)
		if h := ps.PeerHeld(); h > most && ps.State() == proto.StateConnected {
			big, most = i, h
		}
	}
	return big
}
