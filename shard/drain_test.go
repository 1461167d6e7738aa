package shard

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// TestDrainVirtualTime walks a drain on the shard's own clock: refused
// requests, sessions that keep working, a flush that closes an acked
// session at once and an unacked one at the deadline, then Idle.
func TestDrainVirtualTime(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s := g.Shard(0)
	var peers []*peer
	deaf := map[netip.AddrPort]bool{}
	rbuf := make([]byte, proto.MaxDatagram)
	socks[0].onOut = func(b []byte, to netip.AddrPort) {
		for _, p := range peers {
			if to == p.addr && !deaf[to] {
				p.recv(rbuf[:copy(rbuf, b)], 0)
			}
		}
	}
	open := func(addr string) *peer {
		p := newPeer(t, socks[0], netip.MustParseAddrPort(addr))
		peers = append(peers, p)
		p.sess.Tick(&p.env, 1)
		step(s)
		return p
	}
	a, b := open("10.0.0.1:4000"), open("10.0.0.2:4000")
	if !a.open || !b.open {
		t.Fatal("sessions did not open")
	}
	msg := make([]byte, 64)
	// The server's sessions exist once each client's first datagram proves
	// the key (stateless admission): one echo each, acknowledged.
	for _, p := range []*peer{a, b} {
		echoRound(s, p, msg, 0)
		p.sess.Flush(&p.env, 0)
		step(s)
	}
	a.got, b.got = 0, 0

	g.Refuse()
	step(s) // runs the nudge
	if !g.Draining() {
		t.Fatal("not draining")
	}
	c := open("10.0.0.3:4000")
	if c.open || s.live != 2 || s.Counters().Outcomes[OutcomeDropDraining].Load() != 1 {
		t.Fatalf("request while draining: open %v, live %d, refused %d", c.open, s.live, s.Counters().Outcomes[OutcomeDropDraining].Load())
	}
	// Open sessions carry on.
	echoRound(s, a, msg, 0)
	if a.got != 1 {
		t.Fatalf("echo while refusing: got %d", a.got)
	}
	a.sess.Flush(&a.env, 0) // acks the echo
	step(s)
	// b's echo is never acknowledged: its peer stops hearing us.
	deaf[b.addr] = true
	echoRound(s, b, msg, 0)

	g.Flush(10 * time.Second)
	step(s)
	if h.closed != 1 || s.live != 2 { // a lingers (Disconnecting), b is still open
		t.Fatalf("after flush start: closed %d, live %d", h.closed, s.live)
	}
	if a.sess.State() == proto.StateConnected {
		t.Fatal("a got no SessionDisconnect")
	}
	// While flushing, sessions take no new data.
	if err := s.Send(s.liveIDs()[1], 0, msg, true); !errors.Is(err, ErrDraining) {
		t.Fatalf("Send while flushing: %v", err)
	}
	select {
	case <-g.Idle():
		t.Fatal("idle with sessions left")
	default:
	}
	s.epoch = s.epoch.Add(-5 * time.Second) // resends, still within the bound
	step(s)
	if h.closed != 1 {
		t.Fatalf("b closed %v before the flush deadline", h.reasons)
	}
	s.epoch = s.epoch.Add(-6 * time.Second) // past it
	step(s)
	if h.closed != 2 || h.reasons[0] != proto.CloseShutdown || h.reasons[1] != proto.CloseShutdown {
		t.Fatalf("at the deadline: closed %d reasons %v", h.closed, h.reasons)
	}
	// Both linger after their SessionDisconnect: nothing is open for
	// traffic, so the group is idle.
	select {
	case <-g.Idle():
	default:
		t.Fatalf("not idle, live %d", s.live)
	}
	assertOutcomes(t, s)
}

// TestDrainIdleShards: a shard without sessions is idle as soon as it
// sees the drain; Idle waits for every shard.
func TestDrainIdleShards(t *testing.T) {
	g, _ := memGroup(t, 2, RoleServer, &echo{})
	g.Refuse()
	step(g.Shard(0))
	select {
	case <-g.Idle():
		t.Fatal("idle before shard 1 ran")
	default:
	}
	step(g.Shard(1))
	select {
	case <-g.Idle():
	default:
		t.Fatal("not idle")
	}
	step(g.Shard(1)) // reported once only: no double close
}
