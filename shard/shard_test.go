package shard

import (
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

var sinkInt int

// connect opens a session between p and shard s over their memSocket.
func connect(t testing.TB, s *Shard, sock *memSocket, p *peer) {
	t.Helper()
	rbuf := make([]byte, proto.MaxDatagram)
	sock.onOut = func(b []byte, to netip.AddrPort) {
		if to == p.addr {
			p.recv(rbuf[:copy(rbuf, b)], 0)
		}
	}
	p.sess.Tick(&p.env, 1) // sends the SessionRequest
	step(s)
	if !p.open {
		t.Fatal("session did not open")
	}
	// The server holds nothing until the client proves the key: its
	// keepalive, with the CRC, does.
	opened := s.Counters().SessionsOpened.Load()
	params := p.sess.Params()
	p.Send(p.coder.AppendEncode(&params, p.Buffer(), []byte{0, 6}))
	step(s)
	if s.Counters().SessionsOpened.Load() != opened+1 {
		t.Fatal("the proof did not open a server session")
	}
}

// echoRound sends one 64-byte message from p, runs the shard, and lets p
// take the echo and ack it (flushed with the next round).
func echoRound(s *Shard, p *peer, msg []byte, now proto.Nanotime) {
	_ = p.sess.Send(&p.env, now, 0, msg, true)
	p.sess.Flush(&p.env, now)
	step(s)
}

func TestEchoInMemory(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s := g.Shard(0)
	p := newPeer(t, socks[0], netip.MustParseAddrPort("10.0.0.1:4000"))
	connect(t, s, socks[0], p)
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i + 1)
	}
	const rounds = 100
	for range rounds {
		echoRound(s, p, msg, 0)
	}
	if h.msgs != rounds || p.got != rounds {
		t.Fatalf("server got %d, client got %d echoes; want %d", h.msgs, p.got, rounds)
	}
	c := s.Counters()
	if c.SessionsOpen.Load() != 1 || c.Outcomes[OutcomeOpened].Load() != 1 {
		t.Fatalf("open %d opened %d", c.SessionsOpen.Load(), c.Outcomes[OutcomeOpened].Load())
	}
	assertOutcomes(t, s)
}

func assertOutcomes(t *testing.T, s *Shard) {
	t.Helper()
	c := s.Counters()
	var sum uint64
	for o := range c.Outcomes {
		sum += c.Outcomes[o].Load()
	}
	if in := c.DatagramsIn.Load() + c.HandoffIn.Load(); in != sum {
		t.Fatalf("datagrams in %d, outcomes %d", in, sum)
	}
}

// TestEchoNoAllocs proves the steady-state echo path (receive a data
// datagram, deliver, echo, ack, flush, write) allocates nothing.
func TestEchoNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g, socks := memGroup(t, 1, RoleServer, &echo{})
	s := g.Shard(0)
	p := newPeer(t, socks[0], netip.MustParseAddrPort("10.0.0.1:4000"))
	connect(t, s, socks[0], p)
	// The peer's datagrams are pre-encoded: only the shard is measured.
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i + 1)
	}
	for range 50 { // warm up: rings, hold buffers, pools
		echoRound(s, p, msg, 0)
	}
	sock := socks[0]
	sock.in = sock.in[:0]
	var dgram []byte
	p.env.Sink = sinkFunc(func(b []byte) { dgram = append(dgram[:0], b...) })
	in := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(200, func() {
		_ = p.sess.Send(&p.env, 0, 0, msg, true)
		p.sess.Flush(&p.env, 0)
		in = append(in[:0], dgram...)
		sock.in = append(sock.in[:0], memDgram{in, p.addr})
		step(s)
		sinkInt += s.txN
	})
	if allocs != 0 {
		t.Fatalf("echo path allocates %.1f times per message", allocs)
	}
}

type sinkFunc func([]byte)

var scratch = make([]byte, proto.MaxDatagram)

func (f sinkFunc) Buffer() []byte { return scratch[:0] }
func (f sinkFunc) Send(b []byte)  { f(b) }

func BenchmarkShardEcho64(b *testing.B) {
	g, socks := memGroup(b, 1, RoleServer, &echo{})
	s := g.Shard(0)
	p := newPeer(b, socks[0], netip.MustParseAddrPort("10.0.0.1:4000"))
	connect(b, s, socks[0], p)
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i + 1)
	}
	sock := socks[0]
	var dgram []byte
	p.env.Sink = sinkFunc(func(b []byte) { dgram = append(dgram[:0], b...) })
	in := make([]byte, 0, 2048)
	// Each iteration: the peer builds its datagram (data + ack of the last
	// echo), then the shard receives it, acks, echoes, flushes and writes,
	// and the peer takes the echo. ns/op covers both sides; ns/msg is the
	// shard's part alone, timed around step (b.StopTimer per iteration
	// would cost more than what it excludes).
	b.ReportAllocs()
	b.SetBytes(64)
	var shardTime time.Duration
	for b.Loop() {
		_ = p.sess.Send(&p.env, 0, 0, msg, true)
		p.sess.Flush(&p.env, 0)
		in = append(in[:0], dgram...)
		sock.in = append(sock.in[:0], memDgram{in, p.addr})
		t0 := time.Now()
		step(s)
		shardTime += time.Since(t0)
	}
	b.ReportMetric(float64(shardTime.Nanoseconds())/float64(b.N), "ns/msg")
}

// TestStatsFolded checks that the shard's resend and RTT counters follow
// the session's own Stats whatever call moved them: resends from timers
// while the client is deaf, then RTT samples once its acks flow again.
func TestStatsFolded(t *testing.T) {
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s := g.Shard(0)
	p := newPeer(t, socks[0], netip.MustParseAddrPort("10.0.0.1:4000"))
	connect(t, s, socks[0], p)
	deaf := true
	rbuf := make([]byte, proto.MaxDatagram)
	socks[0].onOut = func(b []byte, to netip.AddrPort) {
		if !deaf && to == p.addr {
			p.recv(rbuf[:copy(rbuf, b)], 0)
		}
	}
	msg := make([]byte, 64)
	for range 5 {
		echoRound(s, p, msg, 0)
	}
	// Virtual time: moving the epoch back moves the shard's clock on.
	for range 3 {
		s.epoch = s.epoch.Add(-time.Second)
		step(s)
	}
	deaf = false
	for i := 0; p.got < 5 && i < 20; i++ {
		s.epoch = s.epoch.Add(-time.Second)
		step(s)                 // resends reach the client now
		p.sess.Flush(&p.env, 0) // its acks
		step(s)
	}
	for range 3 {
		echoRound(s, p, msg, 0)
	}
	p.sess.Flush(&p.env, 0)
	step(s)
	var st *proto.Stats
	for i := range s.meta.n {
		if s.meta.meta(i).state == slotLive {
			st = s.session(i).Stats()
		}
	}
	if st == nil {
		t.Fatal("no live session")
	}
	c := s.Counters()
	if st.Resends == 0 || st.RTTSamples == 0 {
		t.Fatalf("scenario did not resend (%d) or sample RTT (%d)", st.Resends, st.RTTSamples)
	}
	if got := c.Resends.Load(); got != st.Resends {
		t.Errorf("shard resends %d, session %d", got, st.Resends)
	}
	if got := c.RTTCount.Load(); got != st.RTTSamples {
		t.Errorf("shard RTT samples %d, session %d", got, st.RTTSamples)
	}
	if want := uint64(st.RTTSum / time.Microsecond); c.RTTSumMicro.Load() > want {
		t.Errorf("shard RTT sum %d µs exceeds the session's %d µs", c.RTTSumMicro.Load(), want)
	}
	if p.got != 8 {
		t.Errorf("client got %d echoes, want 8", p.got)
	}
}

// forward is a Handler that sends every message of one session to another.
type forward struct {
	echo
	to ID
}

func (f *forward) Message(sh *Shard, id ID, stream int, data []byte) {
	if id != f.to {
		if err := sh.Send(f.to, 0, data, true); err != nil {
			panic(err)
		}
	}
}

// TestSendToOtherSession sends from inside another session's Receive: the
// forwarded message must reach its own peer and the sender's acks its.
func TestSendToOtherSession(t *testing.T) {
	f := &forward{}
	g, socks := memGroup(t, 1, RoleServer, f)
	s := g.Shard(0)
	a := newPeer(t, socks[0], netip.MustParseAddrPort("10.0.0.1:4000"))
	b := newPeer(t, socks[0], netip.MustParseAddrPort("10.0.0.2:4000"))
	connect(t, s, socks[0], b)
	for i := range s.meta.n {
		if s.meta.meta(i).state == slotLive {
			f.to = s.idOf(i)
		}
	}
	connect(t, s, socks[0], a) // connect leaves onOut delivering to a only
	ra, rb := make([]byte, proto.MaxDatagram), make([]byte, proto.MaxDatagram)
	socks[0].onOut = func(d []byte, to netip.AddrPort) {
		switch to {
		case a.addr:
			a.recv(ra[:copy(ra, d)], 0)
		case b.addr:
			b.recv(rb[:copy(rb, d)], 0)
		default:
			t.Errorf("datagram to %v", to)
		}
	}
	msg := make([]byte, 64)
	for range 10 {
		echoRound(s, a, msg, 0)
	}
	if b.got != 10 || a.got != 0 {
		t.Errorf("b got %d (want 10), a got %d (want 0)", b.got, a.got)
	}
	if u := a.sess.Unacked(); u != 0 {
		t.Errorf("a has %d bytes unacked", u)
	}
}

// BenchmarkCounterAdd compares the owner's Counter add with the
// atomic.Uint64 Store(Load()+1) it replaced (an XCHG on amd64).
func BenchmarkCounterAdd(b *testing.B) {
	b.Run("Counter", func(b *testing.B) {
		var c Counter
		for b.Loop() {
			c.add(1)
		}
		sinkU64 = c.Load()
	})
	b.Run("atomicStore", func(b *testing.B) {
		var c atomic.Uint64
		for b.Loop() {
			c.Store(c.Load() + 1)
		}
		sinkU64 = c.Load()
	})
}

var sinkU64 uint64

// TestIdleEchoNoAllocs is TestEchoNoAllocs for a session that idles past
// IdleRelease between messages (a message every few seconds): the server
// hands its rings and hold buffer back while idle and takes them again for
// the next echo, allocating nothing.
func TestIdleEchoNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g, socks := memGroup(t, 1, RoleServer, &echo{})
	s, sock := g.Shard(0), socks[0]
	p := newPeer(t, sock, netip.MustParseAddrPort("10.0.0.1:4000"))
	connect(t, s, sock, p)
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i + 1)
	}
	// What the peer sends goes to the shard through reused buffers, so
	// only the shard's and the peer's sessions are measured.
	var out [4][]byte
	n := 0
	p.env.Sink = sinkFunc(func(b []byte) {
		out[n] = append(out[n][:0], b...)
		n++
	})
	var now proto.Nanotime
	rbuf := make([]byte, proto.MaxDatagram)
	sock.onOut = func(b []byte, to netip.AddrPort) { p.recv(rbuf[:copy(rbuf, b)], now) }
	deliver := func() {
		sock.in = sock.in[:0]
		for k := range n {
			sock.in = append(sock.in, memDgram{out[k], p.addr})
		}
		n = 0
		step(s)
	}
	idle := proto.DefaultConfig().IdleRelease + time.Second
	echoes := p.got
	released := 0 // buffers the server's idle step handed back to its pool
	cycle := func() {
		_ = p.sess.Send(&p.env, now, 0, msg, true)
		p.sess.Flush(&p.env, now)
		deliver() // the message in; the echo out to the peer
		p.sess.Flush(&p.env, now)
		deliver() // the peer's ack of the echo
		now += proto.Nanotime(idle)
		advance(s, idle)
		before, _ := s.alloc.Held()
		step(s) // the server, idle past IdleRelease, hands back
		after, _ := s.alloc.Held()
		released = after - before
		p.sess.Tick(&p.env, now) // and so does the peer
		deliver()
	}
	for range 4 {
		cycle()
	}
	if p.got-echoes != 4 {
		t.Fatalf("%d echoes for 4 messages", p.got-echoes)
	}
	// The hold buffer goes back to the pool only on an idle release:
	// seeing it there proves the cycle covers the release.
	if released <= 0 {
		t.Fatalf("the idle step handed %d buffers back: nothing was released", released)
	}
	if a := testing.AllocsPerRun(200, cycle); a != 0 {
		t.Fatalf("an idle-then-echo cycle allocates %.1f times", a)
	}
}
