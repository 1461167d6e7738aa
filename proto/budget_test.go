package proto

import (
	"bytes"
	"testing"
)

// heldOf recomputes what s holds of peer data from its streams.
func heldOf(s *Session) int {
	n := 0
	for i := range s.streams {
		st := &s.streams[i]
		n += st.reorderBytes + len(st.reorder)*sliceBytes + cap(st.frag)
	}
	return n
}

// budgetPeers connects n server sessions that share budget b.
func budgetPeers(t *testing.T, n int, b *Budget) []*peer {
	t.Helper()
	cfg := mustCfg(t, DefaultConfig())
	ps := make([]*peer, n)
	for i := range ps {
		_, ps[i] = handshake(t, cfg, 0)
		ps[i].env.Budget = b
	}
	return ps
}

func checkHeld(t *testing.T, b *Budget, ps []*peer) {
	t.Helper()
	sum, holders := 0, 0
	for _, p := range ps {
		if h := heldOf(&p.s); h != p.s.PeerHeld() {
			t.Fatalf("session holds %d, counted %d", h, p.s.PeerHeld())
		}
		sum += p.s.PeerHeld()
		if p.s.PeerHeld() > 0 {
			holders++
		}
	}
	if b.Held() != sum || b.Holders() != holders {
		t.Fatalf("budget %d bytes %d holders, sessions %d bytes %d holders", b.Held(), b.Holders(), sum, holders)
	}
}

// TestBudgetAccounting follows every place a session takes or frees peer
// data: the running totals always equal what the streams hold.
func TestBudgetAccounting(t *testing.T) {
	var b Budget // no limit: counts only
	ps := budgetPeers(t, 2, &b)
	s := ps[0]
	body := bytes.Repeat([]byte{7}, 300)
	for q := 5; q < 40; q++ {
		s.inject(t, pkt(1, Seq(q), body))
		s.inject(t, pkt(1, Seq(q), body)) // a duplicate holds nothing more
	}
	checkHeld(t, &b, ps)
	s.inject(t, AppendFirstFragment(nil, 2, 0, 5000, body))
	s.inject(t, AppendFragment(nil, 2, 1, body))
	checkHeld(t, &b, ps)
	if b.Held() < 35*300 || b.Holders() != 1 {
		t.Fatalf("held %d by %d", b.Held(), b.Holders())
	}
	// The gap fills: the queue drains; the ring stays until idle release.
	for q := range 5 {
		s.inject(t, pkt(1, Seq(q), body))
	}
	checkHeld(t, &b, ps)
	if s.s.streams[1].reorderN != 0 {
		t.Fatal("queue not drained")
	}
	s.now += Nanotime(s.s.cfg.IdleRelease) + 1
	s.s.Tick(&s.env, s.now)
	checkHeld(t, &b, ps)
	ps[1].inject(t, pkt(0, 3, body))
	s.s.Release(&s.env)
	checkHeld(t, &b, ps)
	ps[1].s.Close(&ps[1].env, ps[1].now)
	ps[1].now += Nanotime(ps[1].s.cfg.CloseLinger) + 2
	ps[1].s.Tick(&ps[1].env, ps[1].now)
	checkHeld(t, &b, ps)
	if b.Held() != 0 || b.Holders() != 0 {
		t.Fatalf("after release: %d bytes by %d", b.Held(), b.Holders())
	}
}

// TestBudgetBiggestFirst: past the limit the biggest holder is refused
// (before the ack, so nothing is lost) while small sessions keep queueing,
// and a refused fragment is taken when the peer resends it.
func TestBudgetBiggestFirst(t *testing.T) {
	b := Budget{Limit: 64 << 10}
	ps := budgetPeers(t, 4, &b)
	big, small := ps[0], ps[1:]
	body := bytes.Repeat([]byte{1}, 496)
	q := Seq(1)
	for ; big.s.Stats().Drops[ReasonBudget] == 0; q++ {
		big.inject(t, pkt(0, q, body))
		if q > 1000 {
			t.Fatal("never refused")
		}
	}
	if !b.Over() && b.Held()+500 <= b.Limit {
		t.Fatalf("refused at %d of %d", b.Held(), b.Limit)
	}
	// Small sessions each queue a few future packets and lose none.
	for _, p := range small {
		for k := 1; k <= 4; k++ {
			p.inject(t, pkt(0, Seq(k), body))
		}
		p.inject(t, AppendFirstFragment(nil, 1, 0, 3000, body))
		if p.s.Stats().Drops[ReasonBudget] != 0 {
			t.Fatalf("small session refused: %v", p.s.Stats().Drops)
		}
	}
	checkHeld(t, &b, ps)
	// Still over: the big one's next future packet and a new fragment set
	// are refused, and the fragment is not acknowledged.
	refused := big.s.Stats().Drops[ReasonBudget]
	big.inject(t, pkt(0, q, body))
	big.inject(t, AppendFirstFragment(nil, 3, 0, 60000, bytes.Repeat([]byte{2}, 490)))
	if big.s.Stats().Drops[ReasonBudget] != refused+2 || big.s.streams[3].in != 0 {
		t.Fatalf("budget drops %d (was %d), stream 3 at %d", big.s.Stats().Drops[ReasonBudget], refused, big.s.streams[3].in)
	}
	for _, p := range small {
		p.inject(t, pkt(0, 0, body))
		if len(p.h.got) != 5 {
			t.Fatalf("small session delivered %d of 5", len(p.h.got))
		}
	}
	// The big one's gap fills: everything it had queued is delivered, and
	// the refused packets (q-1 and q) when the peer resends them.
	big.inject(t, pkt(0, 0, body))
	if got := len(big.h.got); got != int(q)-1 {
		t.Fatalf("big session delivered %d, want %d", got, q-1)
	}
	big.inject(t, pkt(0, q-1, body))
	big.inject(t, pkt(0, q, body))
	if got := len(big.h.got); got != int(q)+1 {
		t.Fatalf("big session delivered %d after the resends, want %d", got, q+1)
	}
	checkHeld(t, &b, ps)
	// Now under the limit, the resent fragment is taken.
	big.inject(t, AppendFirstFragment(nil, 3, 0, 60000, bytes.Repeat([]byte{2}, 490)))
	if big.s.streams[3].in != 1 || !big.s.streams[3].fragActive {
		t.Fatal("resent fragment refused under the limit")
	}
	checkHeld(t, &b, ps)
}

// TestBudgetSqueeze: sessions that join one by one each take up to their
// fair share until the total reaches twice the limit; then requests are
// refused and Squeezed asks the owner to close the biggest, which frees
// its data at once (CloseBudget) and takes no more while it lingers.
func TestBudgetSqueeze(t *testing.T) {
	b := Budget{Limit: 32 << 10}
	ps := budgetPeers(t, 12, &b)
	body := bytes.Repeat([]byte{1}, 496)
	for _, p := range ps {
		for q := Seq(1); q < 200 && p.s.Stats().Drops[ReasonBudget] == 0; q++ {
			p.inject(t, pkt(0, q, body))
		}
	}
	checkHeld(t, &b, ps)
	if b.Held() > 2*b.Limit || !b.Squeezed() || b.Squeezed() {
		t.Fatalf("held %d of %d, squeeze not reported once", b.Held(), b.Limit)
	}
	big := ps[0]
	for _, p := range ps {
		if p.s.PeerHeld() > big.s.PeerHeld() {
			big = p
		}
	}
	if big != ps[0] {
		t.Fatal("the first session is not the biggest")
	}
	big.s.CloseWith(&big.env, big.now, CloseBudget)
	if big.s.PeerHeld() != 0 || len(big.h.closed) != 1 || big.h.closed[0] != CloseBudget {
		t.Fatalf("closed session holds %d, reasons %v", big.s.PeerHeld(), big.h.closed)
	}
	big.inject(t, AppendFirstFragment(nil, 1, 0, 3000, body))
	if big.s.PeerHeld() != 0 || big.s.streams[1].in != 0 {
		t.Fatal("a shedding session took a fragment")
	}
	checkHeld(t, &b, ps)
}
