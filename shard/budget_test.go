package shard

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// tally is a Handler that counts messages and records close reasons per
// session.
type tally struct {
	ids    []ID
	msgs   map[ID]int
	closed map[ID]proto.CloseReason
}

func newTally() *tally {
	return &tally{msgs: map[ID]int{}, closed: map[ID]proto.CloseReason{}}
}

func (h *tally) Open(_ *Shard, id ID)                     { h.ids = append(h.ids, id) }
func (h *tally) Message(_ *Shard, id ID, _ int, _ []byte) { h.msgs[id]++ }
func (h *tally) Close(_ *Shard, id ID, r proto.CloseReason) {
	h.closed[id] = r
}

// budgetShard opens n proven sessions from 10.9.0.i:2000 on a one-shard
// group with the given peer budget, and returns the shard, its socket, the
// handler and the sessions' addresses (in ID order).
func budgetShard(t *testing.T, n, budget int) (*Shard, *memSocket, *tally, []netip.AddrPort) {
	t.Helper()
	h := newTally()
	g, socks := memGroupCfg(t, 1, Config{Proto: proto.DefaultConfig(), PeerBudget: budget}, h)
	s, sock := g.Shard(0), socks[0]
	aps := make([]netip.AddrPort, n)
	for i := range aps {
		aps[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 2000)
		sock.in = append(sock.in, memDgram{proofDgram(t, s, aps[i]), aps[i]})
		step(s)
	}
	if len(h.ids) != n {
		t.Fatalf("%d of %d sessions opened", len(h.ids), n)
	}
	return s, sock, h, aps
}

// feed sends decoded packets xs from ap and runs the shard over them.
func feed(t *testing.T, s *Shard, sock *memSocket, ap netip.AddrPort, xs ...[]byte) {
	t.Helper()
	for _, x := range xs {
		sock.in = append(sock.in, memDgram{encodeFor(t, s, ap, x), ap})
		if len(sock.in) == 64 {
			step(s)
		}
	}
	step(s)
}

func budgetDrops(s *Shard, id ID) uint64 {
	return s.session(id.Slot()).Stats().Drops[proto.ReasonBudget]
}

// TestShardBudgetBiggestFirst: one session queueing out-of-order data and
// one reassembling a huge fragment set push the shard past its budget; they
// are refused (counted), the total stays bounded, twenty small honest
// sessions with gaps of their own lose nothing, and once the gaps fill the
// memory is back.
func TestShardBudgetBiggestFirst(t *testing.T) {
	const budget = 256 << 10
	s, sock, h, aps := budgetShard(t, 22, budget)
	body := bytes.Repeat([]byte{5}, 496)
	var xs [][]byte
	for q := 1; q <= 1000; q++ { // ~500 KB of future packets
		xs = append(xs, proto.AppendPacket(nil, 0, proto.Seq(q), body))
	}
	feed(t, s, sock, aps[0], xs...)
	xs = xs[:0]
	xs = append(xs, proto.AppendFirstFragment(nil, 1, 0, 1<<20, body))
	for q := 1; q < 1000; q++ { // half of a 1 MiB set, in order
		xs = append(xs, proto.AppendFragment(nil, 1, proto.Seq(q), body))
	}
	feed(t, s, sock, aps[1], xs...)
	c := s.Counters()
	big, frag := h.ids[0], h.ids[1]
	if budgetDrops(s, big) == 0 || budgetDrops(s, frag) == 0 {
		t.Fatalf("budget drops: reorder %d, fragments %d", budgetDrops(s, big), budgetDrops(s, frag))
	}
	if got := c.PacketDrops[proto.ReasonBudget].Load(); got != budgetDrops(s, big)+budgetDrops(s, frag) {
		t.Fatalf("shard counted %d budget drops", got)
	}
	if held := c.PeerHeld.Load(); held <= budget || held > 2*budget {
		t.Fatalf("held %d with a budget of %d", held, budget)
	}
	// The small sessions: four future packets each, then the gap.
	for i, ap := range aps[2:] {
		var xs [][]byte
		for q := 4; q >= 0; q-- {
			xs = append(xs, proto.AppendPacket(nil, 2, proto.Seq(q), body))
		}
		feed(t, s, sock, ap, xs...)
		id := h.ids[2+i]
		if h.msgs[id] != 5 || budgetDrops(s, id) != 0 {
			t.Fatalf("small session %d: %d of 5 delivered, %d refused", i, h.msgs[id], budgetDrops(s, id))
		}
	}
	if len(h.closed) != 0 {
		t.Fatalf("closed %v", h.closed)
	}
	// The big one's gap fills and it resends what was refused: all 1001
	// delivered, and the queue's copies are freed.
	xs = xs[:0]
	for q := 0; q <= 1000; q++ {
		xs = append(xs, proto.AppendPacket(nil, 0, proto.Seq(q), body))
	}
	feed(t, s, sock, aps[0], xs...)
	if h.msgs[big] != 1001 {
		t.Fatalf("big session delivered %d of 1001", h.msgs[big])
	}
	if err := s.CloseSession(frag); err != nil {
		t.Fatal(err)
	}
	advance(s, 3*time.Second) // past CloseLinger and IdleRelease
	step(s)
	if held := c.PeerHeld.Load(); held != 0 || s.budget.Held() != 0 {
		t.Fatalf("still held: gauge %d, budget %d", held, s.budget.Held())
	}
	assertOutcomes(t, s)
}

// TestShardBudgetSqueeze: sessions that join one by one each take their
// fair share until twice the budget is reached; then the shard closes the
// biggest holder (CloseBudget, counted), which frees its data, and the
// others go on.
func TestShardBudgetSqueeze(t *testing.T) {
	const budget = 32 << 10
	s, sock, h, aps := budgetShard(t, 12, budget)
	body := bytes.Repeat([]byte{5}, 496)
	for i, ap := range aps {
		for q := 1; q < 200 && budgetDrops(s, h.ids[i]) == 0; q++ {
			feed(t, s, sock, ap, proto.AppendPacket(nil, 0, proto.Seq(q), body))
		}
	}
	c := s.Counters()
	if got := c.SessionsClosed[proto.CloseBudget].Load(); got < 1 {
		t.Fatalf("%d sessions closed for the budget", got)
	}
	if r, ok := h.closed[h.ids[0]]; !ok || r != proto.CloseBudget {
		t.Fatalf("the biggest (first) session: closed %v %v", ok, r)
	}
	if held := c.PeerHeld.Load(); held > 2*budget {
		t.Fatalf("held %d", held)
	}
	// A session that was not closed fills its gap and delivers everything.
	last := len(aps) - 1
	if _, ok := h.closed[h.ids[last]]; ok {
		t.Fatal("the smallest session was closed")
	}
	n := h.msgs[h.ids[last]]
	feed(t, s, sock, aps[last], proto.AppendPacket(nil, 0, 0, body))
	if h.msgs[h.ids[last]] <= n {
		t.Fatal("the last session delivered nothing once its gap filled")
	}
	assertOutcomes(t, s)
}
