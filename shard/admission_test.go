package shard

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// advance moves shard s's clock forward by d (virtual time: the clock is
// time since s.epoch).
func advance(s *Shard, d time.Duration) { s.epoch = s.epoch.Add(-d) }

// outTo returns (and forgets) what sock sent to ap.
func outTo(sock *memSocket, ap netip.AddrPort) [][]byte {
	var r [][]byte
	keep := sock.out[:0]
	for _, d := range sock.out {
		if d.addr == ap {
			r = append(r, d.b)
		} else {
			keep = append(keep, d)
		}
	}
	sock.out = keep
	return r
}

// encodeUnder encodes inner packet x the way a client that adopted
// response resp would send it.
func encodeUnder(t *testing.T, resp []byte, x []byte) []byte {
	t.Helper()
	r, err := proto.ParseSessionResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	p, err := proto.NewParams(r.Key, int(r.CRCBytes), r.Passes, int(r.MaxPacketSize))
	if err != nil {
		t.Fatal(err)
	}
	var c proto.Coder
	return c.AppendEncode(&p, nil, x)
}

// TestStatelessHandshake: a SessionRequest leaves nothing behind and gets
// the same answer each time; the first datagram under the offered key
// creates exactly the session the handshake would have made.
func TestStatelessHandshake(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s, sock := g.Shard(0), socks[0]
	sock.keep = true
	from := netip.MustParseAddrPort("10.9.8.7:3000")
	req := proto.SessionRequest{ProtocolVersion: 3, ConnectCode: 0xabcdef01, MaxPacketSize: 400}.AppendTo(nil)
	for range 3 {
		sock.in = append(sock.in, memDgram{bytes.Clone(req), from})
	}
	step(s)
	out := outTo(sock, from)
	if len(out) != 3 || !bytes.Equal(out[0], out[1]) || !bytes.Equal(out[1], out[2]) || len(out[0]) != proto.SessionResponseLen {
		t.Fatalf("responses %x", out)
	}
	if s.live != 0 || s.index.n != 0 || s.meta.n != 0 || h.opened != 0 {
		t.Fatalf("a request left state: live %d index %d slots %d opened %d", s.live, s.index.n, s.meta.n, h.opened)
	}
	r, _ := proto.ParseSessionResponse(out[0])
	if r.ConnectCode != 0xabcdef01 || r.MaxPacketSize != 400 || r.CRCBytes != 2 {
		t.Fatalf("response %+v", r)
	}
	// Silence, then a stat request a whole stale timeout later: accepted.
	advance(s, 60*time.Second)
	sock.in = append(sock.in, memDgram{encodeUnder(t, out[0], proto.SessionStatRequest{Timestamp: 7}.AppendTo(nil)), from})
	step(s)
	if s.live != 1 || h.opened != 1 || s.Counters().Proofs.Load() != 1 {
		t.Fatalf("proof did not open: live %d opened %d", s.live, h.opened)
	}
	ps := s.session(0)
	if p := ps.Params(); p.Key != r.Key || p.MaxPacket != 400 || ps.ConnectCode() != 0xabcdef01 {
		t.Fatalf("session params %+v code %x", p, ps.ConnectCode())
	}
	if ans := outTo(sock, from); len(ans) != 1 {
		t.Fatalf("stat request answered with %d datagrams", len(ans))
	}
	// A repeated request on the session gets the same response as before.
	sock.in = append(sock.in, memDgram{bytes.Clone(req), from})
	step(s)
	if ans := outTo(sock, from); len(ans) != 1 || !bytes.Equal(ans[0], out[0]) {
		t.Fatalf("repeat on the session: %x, want %x", ans, out[0])
	}
	assertOutcomes(t, s)
}

func TestProofEpochs(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		open  bool
	}{
		{"at once", 0, true},
		{"previous epoch", 70 * time.Second, true},
		{"two epochs later", 125 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, socks := memGroup(t, 1, RoleServer, &echo{})
			s, sock := g.Shard(0), socks[0]
			sock.keep = true
			from := netip.MustParseAddrPort("10.0.0.5:777")
			// Start the clock mid-epoch, as a real one would be.
			advance(s, 30*time.Second)
			sock.in = append(sock.in, memDgram{request(5), from})
			step(s)
			resp := outTo(sock, from)
			advance(s, tc.after)
			sock.in = append(sock.in, memDgram{encodeUnder(t, resp[0], []byte{0, 6}), from})
			step(s)
			if got := s.live == 1; got != tc.open {
				t.Fatalf("session opened %v, want %v", got, tc.open)
			}
			assertOutcomes(t, s)
		})
	}
}

// TestNoProofNoState: datagrams under a wrong key, keepalives without a
// trailer and garbage never make state, and get at most a 6-byte answer
// through the token bucket.
func TestNoProofNoState(t *testing.T) {
	cfg := Config{Role: RoleServer, Proto: proto.DefaultConfig(), OutOfSessionRate: 100}
	g, socks := memGroupCfg(t, 1, cfg, &echo{})
	s, sock := g.Shard(0), socks[0]
	sock.keep = true
	const n = 5000
	var in int
	for i := range n {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), 5000)
		var d []byte
		switch i % 3 {
		case 0:
			d = []byte{0, 9, 0, 0, byte(i), byte(i >> 8), 1} // an OP_Packet with a guessed CRC
		case 1:
			d = []byte{0, 6}
		case 2:
			d = []byte{0, 5, 1, 2, 3, 4, 5, 6}
		}
		in += len(d)
		sock.in = append(sock.in, memDgram{d, ap})
		if len(sock.in) == 64 {
			step(s)
		}
	}
	step(s)
	c := s.Counters()
	if s.live > int(c.Proofs.Load()) || s.meta.n > int32(c.Proofs.Load()) {
		t.Fatalf("%d sessions, %d slots from unproven datagrams", s.live, s.meta.n)
	}
	var outBytes int
	for _, d := range sock.out {
		outBytes += len(d.b)
	}
	answered := c.Outcomes[OutcomeOutOfSession].Load()
	// The bucket holds a tenth of a second (10 answers) and this run takes
	// far less than a second of clock: at most a few dozen answers.
	if answered == 0 || answered > 100 || c.Outcomes[OutcomeDropReplyRate].Load() == 0 {
		t.Fatalf("answered %d, rate drops %d", answered, c.Outcomes[OutcomeDropReplyRate].Load())
	}
	// A 2-byte CRC matches a guess with probability 2/65536 (two epochs):
	// such a datagram is a proof, however unlikely, and not a no-reply.
	if want := uint64(2*n/3) - c.Proofs.Load(); c.Outcomes[OutcomeDropNoReply].Load() < want {
		t.Fatalf("no-reply %d, want at least %d (keepalives and disconnects)", c.Outcomes[OutcomeDropNoReply].Load(), want)
	}
	if outBytes*10 > in*13 {
		t.Fatalf("sent %d bytes for %d received", outBytes, in)
	}
	assertOutcomes(t, s)
}

// TestAmplification: per trigger kind from an unproven endpoint, the
// bytes sent back are at most 1.3 times the trigger's (a SessionRequest
// may add the 17-byte response).
func TestAmplification(t *testing.T) {
	stat := proto.SessionStatRequest{}.AppendTo(nil)
	tests := []struct {
		name  string
		dgram []byte
	}{
		{"request", request(9)},
		{"garbage", []byte{0xde, 0xad, 0xbe, 0xef, 0x01}},
		{"keepalive", []byte{0, 6, 0x12, 0x34}},
		{"stat request", append(stat, 0x12, 0x34)},
		{"ack", []byte{0, 0x15, 0, 1, 0x12, 0x34}},
		{"disconnect", []byte{0, 5, 1, 2, 3, 4, 0x12, 0x34}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, socks := memGroup(t, 1, RoleServer, &echo{})
			s, sock := g.Shard(0), socks[0]
			sock.keep = true
			from := netip.MustParseAddrPort("10.3.3.3:3333")
			const rounds = 50
			for range rounds {
				sock.in = append(sock.in, memDgram{bytes.Clone(tc.dgram), from})
			}
			step(s)
			// Then a minute of timers: nothing more may go out.
			for range 30 {
				advance(s, 2*time.Second)
				step(s)
			}
			var out int
			for _, d := range sock.out {
				out += len(d.b)
			}
			if in := rounds * len(tc.dgram); out*10 > in*13 {
				t.Fatalf("%d bytes out for %d in (%.2f)", out, in, float64(out)/float64(in))
			}
			if s.live != 0 {
				t.Fatalf("%d sessions", s.live)
			}
		})
	}
}

// TestHalfOpenCRC0: with CRC 0 there is no proof; half-open sessions are
// capped, and under pressure the ones silent for HalfOpenTimeout go.
func TestHalfOpenCRC0(t *testing.T) {
	pc := proto.DefaultConfig()
	pc.CRCBytes = 0
	h := &echo{}
	cfg := Config{Role: RoleServer, Proto: pc, HalfOpenMax: 8, MaxSessionsPerIP: 1000}
	g, socks := memGroupCfg(t, 1, cfg, h)
	s, sock := g.Shard(0), socks[0]
	addr := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 4, 0, byte(i)}), 4000)
	}
	for i := range 12 {
		sock.in = append(sock.in, memDgram{request(uint32(i + 1)), addr(i)})
	}
	step(s)
	c := s.Counters()
	if s.live != 8 || c.Outcomes[OutcomeDropHalfOpen].Load() != 4 || c.HalfOpen.Load() != 8 {
		t.Fatalf("live %d refused %d half-open %d", s.live, c.Outcomes[OutcomeDropHalfOpen].Load(), c.HalfOpen.Load())
	}
	// Session 0 proves itself (any decodable datagram under CRC 0).
	sock.in = append(sock.in, memDgram{[]byte{0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, addr(0)})
	step(s)
	if c.HalfOpen.Load() != 7 {
		t.Fatalf("half-open %d after a proof", c.HalfOpen.Load())
	}
	// Under pressure (7 of 8), the rest go once HalfOpenTimeout passes.
	advance(s, 4*time.Second)
	step(s)
	if s.live != 8 {
		t.Fatalf("pruned early: live %d", s.live)
	}
	advance(s, 2*time.Second)
	step(s)
	step(s) // frees the dead slots
	if s.live != 1 || c.HalfOpen.Load() != 0 || c.HalfOpenPruned.Load() != 7 {
		t.Fatalf("after the timeout: live %d half-open %d pruned %d", s.live, c.HalfOpen.Load(), c.HalfOpenPruned.Load())
	}
	// Room again.
	sock.in = append(sock.in, memDgram{request(99), addr(99)})
	step(s)
	if s.live != 2 {
		t.Fatalf("live %d after room was made", s.live)
	}
	assertOutcomes(t, s)
}

// TestAdmitNoAllocs: answering a request and verifying a bad proof
// allocate nothing.
func TestAdmitNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g, socks := memGroup(t, 1, RoleServer, &echo{})
	s, sock := g.Shard(0), socks[0]
	from := netip.MustParseAddrPort("10.0.0.1:1")
	req, bad := request(1), []byte{0, 9, 0, 0, 1, 2, 3}
	in := make([]memDgram, 0, 2)
	allocs := testing.AllocsPerRun(200, func() {
		sock.in = append(in[:0], memDgram{req, from}, memDgram{bad, from})
		step(s)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request + bad proof", allocs)
	}
}

// TestUnderAttack: unproven traffic at AttackRate per second raises the
// gauge once; a quiet second lowers it, even with nothing else to wake the
// shard (sleepUntil keeps a deadline while under attack).
func TestUnderAttack(t *testing.T) {
	cfg := Config{Role: RoleServer, Proto: proto.DefaultConfig(), AttackRate: 1000}
	g, socks := memGroupCfg(t, 1, cfg, &echo{})
	s, sock := g.Shard(0), socks[0]
	c := s.Counters()
	send := func(n int) {
		for i := range n {
			ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), 1234)
			sock.in = append(sock.in, memDgram{request(uint32(i)), ap})
			if len(sock.in) == 64 {
				step(s)
			}
		}
		step(s)
	}
	send(400) // 400/s: not an attack
	advance(s, time.Second)
	step(s)
	if c.UnderAttack.Load() != 0 {
		t.Fatal("under attack at 400/s")
	}
	send(1500)
	advance(s, time.Second)
	step(s)
	if c.UnderAttack.Load() != 1 || c.AttackStarts.Load() != 1 || c.UnprovenRate.Load() < 1000 {
		t.Fatalf("under attack %d, starts %d, rate %d", c.UnderAttack.Load(), c.AttackStarts.Load(), c.UnprovenRate.Load())
	}
	if s.sleepUntil().IsZero() {
		t.Fatal("no wake-up deadline while under attack")
	}
	s.sleeping.Store(false)
	send(600) // more than half the rate: still on
	advance(s, time.Second)
	step(s)
	if c.UnderAttack.Load() != 1 {
		t.Fatal("attack ended at 600/s")
	}
	advance(s, time.Second)
	step(s)
	if c.UnderAttack.Load() != 0 || c.AttackStarts.Load() != 1 {
		t.Fatalf("after a quiet second: under attack %d, starts %d", c.UnderAttack.Load(), c.AttackStarts.Load())
	}
}

// TestNoSessionAfterClose: a late datagram of a session that has closed
// still verifies under the epoch's key, but opens no zombie session; a new
// SessionRequest from the endpoint clears the mark and its proof opens one.
func TestNoSessionAfterClose(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s, sock := g.Shard(0), socks[0]
	sock.keep = true
	from := netip.MustParseAddrPort("10.9.8.7:3001")
	req := proto.SessionRequest{ProtocolVersion: 3, ConnectCode: 77, MaxPacketSize: 512}.AppendTo(nil)
	sock.in = append(sock.in, memDgram{bytes.Clone(req), from})
	step(s)
	resp := outTo(sock, from)[0]
	late := encodeUnder(t, resp, proto.SessionStatRequest{Timestamp: 9}.AppendTo(nil))
	sock.in = append(sock.in, memDgram{bytes.Clone(late), from})
	step(s)
	if s.live != 1 {
		t.Fatalf("proof did not open: live %d", s.live)
	}
	sock.in = append(sock.in, memDgram{encodeUnder(t, resp, proto.AppendSessionDisconnect(nil, 77)), from})
	step(s)
	for range 10 {
		advance(s, time.Second)
		step(s)
	}
	if s.live != 0 {
		t.Fatalf("session still live after the peer's disconnect: %d", s.live)
	}
	outTo(sock, from)

	sock.in = append(sock.in, memDgram{bytes.Clone(late), from})
	step(s)
	if s.live != 0 || h.opened != 1 || s.Counters().ProofsAfterClose.Load() != 1 {
		t.Fatalf("late datagram: live %d opened %d after-close %d", s.live, h.opened, s.Counters().ProofsAfterClose.Load())
	}

	sock.in = append(sock.in, memDgram{bytes.Clone(req), from}, memDgram{bytes.Clone(late), from})
	step(s)
	if s.live != 1 || h.opened != 2 {
		t.Fatalf("reconnect: live %d opened %d", s.live, h.opened)
	}
	assertOutcomes(t, s)
}
