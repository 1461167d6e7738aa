package shard

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/proto"
)

func request(code uint32) []byte {
	return proto.SessionRequest{ProtocolVersion: 3, ConnectCode: code, MaxPacketSize: 512}.AppendTo(nil)
}

func TestNoSessionOutcomes(t *testing.T) {
	tests := []struct {
		name  string
		dgram []byte
		want  Outcome
		reply bool
	}{
		{"short", []byte{0}, OutcomeDropShort, false},
		{"short request", request(1)[:10], OutcomeDropBadRequest, false},
		{"out of session", proto.AppendOutOfSession(nil), OutcomeDropOutOfSession, false},
		{"garbage", []byte{0, 9, 1, 2, 3}, OutcomeOutOfSession, true},
		{"small garbage", []byte{0, 9, 1, 2}, OutcomeDropNoReply, false},
		{"keepalive", []byte{0, 6}, OutcomeDropNoReply, false},
		{"disconnect", []byte{0, 5, 1, 2, 3, 4, 5, 6}, OutcomeDropNoReply, false},
		{"request", request(7), OutcomeResponded, false},
		{"tiny max packet", proto.SessionRequest{ConnectCode: 1, MaxPacketSize: 16}.AppendTo(nil), OutcomeDropBadRequest, false},
		{"proof", nil, OutcomeOpened, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, socks := memGroup(t, 1, RoleServer, &echo{})
			s := g.Shard(0)
			socks[0].keep = true
			from := netip.MustParseAddrPort("10.1.2.3:999")
			if tc.dgram == nil {
				tc.dgram = proofDgram(t, s, from)
			}
			socks[0].in = append(socks[0].in, memDgram{tc.dgram, from})
			step(s)
			if got := s.Counters().Outcomes[tc.want].Load(); got != 1 {
				t.Fatalf("outcome %v counted %d times", tc.want, got)
			}
			assertOutcomes(t, s)
			gotReply := false
			for _, d := range socks[0].out {
				if d.addr == from && string(d.b) == string(proto.AppendOutOfSession(nil)) {
					gotReply = true
				}
			}
			if gotReply != tc.reply {
				t.Fatalf("OutOfSession reply %v, want %v", gotReply, tc.reply)
			}
		})
	}
}

func TestCaps(t *testing.T) {
	tests := []struct {
		name              string
		total, shard, ip  int
		clients           []string
		want              Outcome
		wantOpen, refused int
	}{
		{"per ip", 100, 100, 2, []string{"10.0.0.1:1", "10.0.0.1:2", "10.0.0.1:3", "10.0.0.2:1"}, OutcomeDropCapIP, 3, 1},
		{"per shard", 100, 2, 100, []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}, OutcomeDropCapShard, 2, 1},
		{"total", 3, 100, 100, []string{"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1", "10.0.0.4:1", "10.0.0.5:1"}, OutcomeDropCapTotal, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := &memSocket{}
			cfg := Config{Proto: proto.DefaultConfig(), MaxSessions: tc.total, MaxSessionsPerShard: tc.shard, MaxSessionsPerIP: tc.ip}
			g, err := NewGroup(cfg, []Socket{sock}, &echo{})
			if err != nil {
				t.Fatal(err)
			}
			s := g.Shard(0)
			for _, c := range tc.clients {
				ap := netip.MustParseAddrPort(c)
				sock.in = append(sock.in, memDgram{proofDgram(t, s, ap), ap})
			}
			step(s)
			c := s.Counters()
			if got := c.SessionsOpen.Load(); got != int64(tc.wantOpen) {
				t.Errorf("open %d, want %d", got, tc.wantOpen)
			}
			if got := c.Outcomes[tc.want].Load(); got != uint64(tc.refused) {
				t.Errorf("%v %d, want %d", tc.want, got, tc.refused)
			}
			assertOutcomes(t, s)
		})
	}
}

// TestHandoff runs two shards over memory sockets: every request arrives on
// socket 0, and the sessions owned by shard 1 must be created there, their
// buffers returned, and a stale ID refused.
func TestHandoff(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 2, RoleServer, h)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	owners := [2]int{}
	for i := range 200 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1024+rng.IntN(60000)))
		socks[0].in = append(socks[0].in, memDgram{proofDgram(t, g.Shard(0), ap), ap})
		owners[ownerOf(ap, 2)]++
	}
	for range 4 { // receive and hand off; owner processes; buffers return
		step(g.Shard(0))
		step(g.Shard(1))
		step(g.Shard(0))
	}
	for i := range 2 {
		c := g.Shard(i).Counters()
		if got := c.SessionsOpen.Load(); got != int64(owners[i]) {
			t.Errorf("shard %d: %d sessions, want %d", i, got, owners[i])
		}
		assertOutcomes(t, g.Shard(i))
	}
	if got := g.Shard(0).Counters().Outcomes[OutcomeHandoff].Load(); got != uint64(owners[1]) {
		t.Errorf("handoffs %d, want %d", got, owners[1])
	}
	if l := g.Shard(0).lent[1]; l != 0 {
		t.Errorf("%d buffers still lent after the owner drained", l)
	}
	if h.opened != 200 {
		t.Errorf("opened %d", h.opened)
	}
	// A stale ID: slot 0 of shard 1 with a wrong generation.
	stale := MakeID(1, 99, 0)
	if err := g.Shard(1).Send(stale, 0, []byte{1}, true); err != ErrNoSession {
		t.Errorf("stale id: %v", err)
	}
}

func ownerOf(ap netip.AddrPort, n int) int {
	return batchio.Owner(ap, n)
}

func TestIndexAndWheel(t *testing.T) {
	var sm slabMeta
	x := newIndex(4)
	eps := map[int32]endpoint{}
	for i := range 1000 {
		slot, _ := sm.alloc()
		ep := endpointOf(netip.MustParseAddrPort(fmt.Sprintf("10.0.%d.%d:%d", i/250, i%250, 1000+i)))
		m := sm.meta(slot)
		m.ep, m.hash = ep, ep.hash()
		x.insert(m.hash, slot)
		eps[slot] = ep
	}
	for slot, ep := range eps {
		if slot%3 == 0 {
			x.remove(ep.hash(), slot)
		}
	}
	for slot, ep := range eps {
		got := x.find(ep.hash(), &ep, &sm)
		if slot%3 == 0 && got != -1 || slot%3 != 0 && got != slot {
			t.Fatalf("slot %d: find %d", slot, got)
		}
	}
	// Wheel: timers fire once, at or after their deadline, never before.
	w := newWheel(4, 0)
	deadlines := map[int32]int64{}
	for slot := range eps {
		d := int64(slot)*37%70000 + 1
		deadlines[slot] = d
		w.arm(&sm, slot, d)
	}
	fired := map[int32]int64{}
	var due []int32
	for now := int64(0); now <= 80000; now += 13 {
		due = w.expire(&sm, now, due[:0])
		for _, i := range due {
			if _, dup := fired[i]; dup {
				t.Fatalf("slot %d fired twice", i)
			}
			if now < deadlines[i] || now-deadlines[i] > 13+4 {
				t.Fatalf("slot %d due %d fired at %d", i, deadlines[i], now)
			}
			fired[i] = now
		}
		if next, ok := w.next(); ok && next < now-4 {
			t.Fatalf("next %d before now %d", next, now)
		}
	}
	if len(fired) != len(eps) || w.armed != 0 {
		t.Fatalf("fired %d of %d, %d still armed", len(fired), len(eps), w.armed)
	}
}

// TestHandoffPoolDry lends every buffer of shard 0 to shard 1 and checks
// that nothing is lost: shard 0 reads fewer datagrams (the socket keeps the
// rest) until shard 1 returns buffers, and counts the misses.
func TestHandoffPoolDry(t *testing.T) {
	h := &echo{}
	cfg := Config{Role: RoleServer, Proto: proto.DefaultConfig(), Batch: 4, HandoffBuffers: 2}
	g, socks := memGroupCfg(t, 2, cfg, h)
	s0, s1 := g.Shard(0), g.Shard(1)
	if c := s0.bufs.Cap(); c != 6 {
		t.Fatalf("pool of %d buffers, want Batch+HandoffBuffers = 6", c)
	}
	const sessions = 30
	for i := 0; len(socks[0].in) < sessions; i++ {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(2000+i))
		if ownerOf(ap, 2) == 1 {
			socks[0].in = append(socks[0].in, memDgram{proofDgram(t, s0, ap), ap})
		}
	}
	// Shard 0 alone: it lends its 6 buffers, then has none to read into.
	for range 4 {
		step(s0)
	}
	if got := s0.lent[1]; got != 6 {
		t.Fatalf("lent %d buffers, want all 6", got)
	}
	if got := s0.rxN; got != 0 {
		t.Fatalf("%d receive slots with a buffer, want 0", got)
	}
	if left := len(socks[0].in) - socks[0].rd; left != sessions-6 {
		t.Fatalf("%d datagrams left in the socket, want %d", left, sessions-6)
	}
	if s0.Counters().BufferMisses.Load() == 0 {
		t.Error("no buffer miss counted")
	}
	for range 20 {
		step(s1)
		step(s0)
	}
	if got := s1.Counters().SessionsOpen.Load(); got != sessions {
		t.Errorf("shard 1 has %d sessions, want %d", got, sessions)
	}
	if got := s0.Counters().Outcomes[OutcomeDropHandoffFull].Load(); got != 0 {
		t.Errorf("%d handoff drops", got)
	}
	if s0.lent[1] != 0 || s0.bufs.InUse() != s0.rxN || s0.rxN != 4 {
		t.Errorf("after draining: lent %d, in use %d, rx slots %d", s0.lent[1], s0.bufs.InUse(), s0.rxN)
	}
	assertOutcomes(t, s0)
	assertOutcomes(t, s1)
}
