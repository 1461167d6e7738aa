package proto

import (
	"container/heap"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/eqgate/eqgate/pool"
)

// An in-process network between a client and a server Session, in virtual
// time: loss, duplication, reordering, delay and corruption, all from one
// seeded generator, so a failing run replays exactly with -sim.seed.

var simSeed = flag.Uint64("sim.seed", 0, "base seed for the simulated-network tests (0: fixed default)")

type rng struct{ s uint64 }

// next is splitmix64: small, fast, good enough for a network model.
func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) float() float64 { return float64(r.next()>>11) / (1 << 53) }
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

type netModel struct {
	name     string
	loss     float64
	dup      float64
	reorder  float64       // probability of an extra delay
	reorderD time.Duration // extra delay upper bound for reordered datagrams
	delay    time.Duration // one-way base delay
	jitter   time.Duration
	corrupt  float64
	passes   [2]Pass
	variant  Variant
	seqStart Seq // both ends start their stream sequences here (a wrap test)
}

type simEvent struct {
	at   Nanotime
	seq  uint64
	side int // 0 client, 1 server
	tick bool
	d    []byte
}

type eventQ []simEvent

func (q eventQ) Len() int { return len(q) }
func (q eventQ) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQ) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQ) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *eventQ) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// simSide is one end: its session, and the traffic it sends and checks.
type simSide struct {
	sim    *simNet
	id     int
	s      Session
	env    Env
	pool   pool.Sized
	out    [][]byte
	buf    []byte
	tickAt Nanotime
	opened bool
	closed []CloseReason

	sendNext [Streams]int    // next message index to send per stream
	pending  [Streams][]byte // message sendNext, generated once
	recvNext [Streams]int    // next message index expected per stream
	expect   []byte
	failed   string
}

func (x *simSide) Buffer() []byte {
	if x.buf == nil {
		x.buf = make([]byte, 0, MaxDatagram)
	}
	return x.buf[:0]
}
func (x *simSide) Send(d []byte) { x.out = append(x.out, append([]byte(nil), d...)) }
func (x *simSide) Opened(s *Session) {
	x.opened = true
	if q := x.sim.m.seqStart; q != 0 {
		// Nothing sequenced has moved yet on either side (neither sends
		// data before Opened), so both ends agree on the new start.
		st := &s.streams[0]
		st.in, st.out, st.base = q, q, q
		s.vs.peerBase = q
	}
}
func (x *simSide) Closed(s *Session, r CloseReason) { x.closed = append(x.closed, r) }

func (x *simSide) Deliver(s *Session, stream int, app []byte) {
	if x.failed != "" {
		return
	}
	if stream < 0 || stream >= Streams {
		x.failed = fmt.Sprintf("delivery on stream %d", stream)
		return
	}
	i := x.recvNext[stream]
	if i >= x.sim.msgs {
		x.failed = fmt.Sprintf("stream %d: extra message after %d", stream, i)
		return
	}
	x.expect = x.sim.message(x.expect[:0], 1-x.id, stream, i)
	if string(app) != string(x.expect) {
		x.failed = fmt.Sprintf("stream %d message %d: got %d bytes, want %d", stream, i, len(app), len(x.expect))
		return
	}
	x.recvNext[stream]++
}

func (x *simSide) done() bool {
	for st := range x.sim.streams {
		if x.recvNext[st] < x.sim.msgs || x.sendNext[st] < x.sim.msgs {
			return false
		}
	}
	return x.s.Unacked() == 0
}

type simNet struct {
	t                                        testing.TB
	m                                        netModel
	r                                        rng
	seed                                     uint64
	msgs                                     int
	now                                      Nanotime
	q                                        eventQ
	seq                                      uint64
	sides                                    [2]simSide
	cfg                                      *Config
	corrupted, collided, dropped, duplicated int

	lastTickAt [2]Nanotime
	sameTicks  [2]int
	streams    int    // the variant's reliable streams
	seqs       uint64 // sequence numbers the client used
}

// message appends message i of stream st sent by side from: a size skewed
// small but covering 1 B .. 64 KiB (70% ≤ 64 B, 20% ≤ 1 KiB, 9% ≤ 8 KiB,
// 1% ≤ 64 KiB), content derived from the seed; about a quarter start
// with 00 to exercise the zero-escape.
func (n *simNet) message(b []byte, from, st, i int) []byte {
	g := rng{s: n.seed ^ uint64(from)<<62 ^ uint64(st)<<56 ^ uint64(i)*0x9e3779b97f4a7c15}
	var size int
	switch p := g.intn(100); {
	case p < 70:
		size = 1 + g.intn(64)
	case p < 90:
		size = 65 + g.intn(960)
	case p < 99:
		size = 1025 + g.intn(7168)
	default:
		size = 8193 + g.intn(65536-8192)
	}
	if i%97 == 0 {
		size = 65536 // the top of the range, regularly
	}
	if size < variants[n.m.variant].minApp && n.m.passes[0] != PassXOR {
		size = variants[n.m.variant].minApp // LEGACY world peers crash on 1 byte (SPEC §21.4 (b))
	}
	for len(b) < size {
		v := g.next()
		for k := 0; k < 8 && len(b) < size; k++ {
			b = append(b, byte(v>>(8*k)))
		}
	}
	if g.intn(4) == 0 {
		b[0] = 0
	}
	return b
}

func newSim(t testing.TB, m netModel, seed uint64, msgs int) *simNet {
	n := &simNet{t: t, m: m, seed: seed, msgs: msgs, r: rng{s: seed}}
	c := ConfigFor(m.variant)
	c.EncodePasses = m.passes
	// The chat filler is application framing (TestChatFiller): the model
	// checks the transport, message for message.
	c.ChatFiller = false
	n.cfg = mustCfg(t, c)
	n.streams = variants[m.variant].streams
	for i := range n.sides {
		x := &n.sides[i]
		x.sim, x.id = n, i
		x.env = Env{Coder: &Coder{}, Sink: x, Handler: x, Alloc: &x.pool}
		kr := rng{s: seed ^ uint64(i+1)<<32} // keys (EQ2 K64) from the seed, so a run replays
		x.env.Rand = func() uint32 { return uint32(kr.next()) }
		x.tickAt = Never
	}
	n.now = Nanotime(time.Second)
	if err := n.sides[0].s.InitClient(n.cfg, uint32(n.r.next()), n.now); err != nil {
		t.Fatal(err)
	}
	n.tick(0)
	return n
}

func (n *simNet) push(e simEvent) {
	n.seq++
	e.seq = n.seq
	heap.Push(&n.q, e)
}

func (n *simNet) schedule(side int) {
	x := &n.sides[side]
	next := max(x.s.Next(), n.now)
	if x.s.State() == StateDisconnected {
		next = Never
	}
	if next != x.tickAt && next != Never {
		x.tickAt = next
		n.push(simEvent{at: next, side: side, tick: true})
	}
}

func (n *simNet) tick(side int) {
	x := &n.sides[side]
	x.tickAt = Never
	x.s.Tick(&x.env, n.now)
}

// route sends side's output across the network model.
func (n *simNet) route(side int) {
	x := &n.sides[side]
	for _, d := range x.out {
		if n.r.float() < n.m.loss {
			n.dropped++
			continue
		}
		copies := 1
		if n.r.float() < n.m.dup {
			copies = 2
			n.duplicated++
		}
		for c := 0; c < copies; c++ {
			dd := d
			if n.r.float() < n.m.corrupt && !Exempt(d) && len(d) > 2 && n.sides[0].opened && n.sides[1].opened {
				dd = append([]byte(nil), d...)
				for k := 1 + n.r.intn(3); k > 0; k-- {
					i := 2 + n.r.intn(len(dd)-2)
					dd[i] ^= 1 << n.r.intn(8)
				}
				if string(dd) == string(d) {
					dd = d // the flips cancelled out: not corrupted
				} else if n.crcHolds(dd) {
					n.collided++ // a true collision would deliver garbage: keep it off the wire
					continue
				} else {
					n.corrupted++
				}
			}
			at := n.now + Nanotime(n.m.delay)
			if n.m.jitter > 0 {
				at += Nanotime(n.r.intn(int(n.m.jitter)))
			}
			if n.r.float() < n.m.reorder {
				at += Nanotime(n.r.intn(int(n.m.reorderD)))
			}
			n.push(simEvent{at: at, side: 1 - side, d: dd})
		}
	}
	x.out = x.out[:0]
}

// crcHolds reports whether a corrupted datagram still passes the session's
// CRC check (keepalives are discarded unchecked, so they count as passing).
func (n *simNet) crcHolds(d []byte) bool {
	p := n.sides[1].s.Params()
	if !n.sides[1].s.established {
		p = n.sides[0].s.Params()
	}
	if d[0] == 0 && (Opcode(d[1]) == OpKeepAlive || Opcode(d[1]) == OpOutboundPing) {
		return true
	}
	k := len(d) - p.CRCBytes
	if k < 1 {
		return false
	}
	return trailerMatches(d[k:], CRC(p.Key, d[:k]))
}

// feed lets each connected side send messages, round robin over streams,
// until its unacked cap stops it.
func (n *simNet) feed(side int) {
	x := &n.sides[side]
	if x.s.State() != StateConnected || !x.opened {
		return
	}
	for progress := true; progress; {
		progress = false
		for st := range n.streams {
			i := x.sendNext[st]
			if i >= n.msgs {
				continue
			}
			if len(x.pending[st]) == 0 {
				x.pending[st] = n.message(x.pending[st][:0], side, st, i)
			}
			before := x.s.streams[st].out
			if err := x.s.Send(&x.env, n.now, st, x.pending[st], true); err != nil {
				if err == ErrSendQueueFull {
					return
				}
				n.t.Fatalf("side %d send: %v", side, err)
			}
			if side == 0 {
				n.seqs += uint64(x.s.streams[st].out - before)
			}
			x.sendNext[st]++
			x.pending[st] = x.pending[st][:0]
			progress = true
		}
	}
}

// run drives the simulation until both sides have sent and received every
// message and have nothing unacked, or the virtual deadline passes.
func (n *simNet) run(limit time.Duration) {
	deadline := n.now + Nanotime(limit)
	for steps := 0; ; steps++ {
		// End of a batch: feed, flush, route, reschedule.
		for i := range n.sides {
			n.feed(i)
			n.sides[i].s.Flush(&n.sides[i].env, n.now)
			n.route(i)
			n.schedule(i)
		}
		for i := range n.sides {
			if f := n.sides[i].failed; f != "" {
				n.t.Fatalf("side %d: %s", i, f)
			}
		}
		if n.sides[0].done() && n.sides[1].done() {
			return
		}
		if len(n.q) == 0 {
			n.t.Fatalf("network idle before completion at %v: states %v/%v closed %v/%v sent %v/%v recv %v/%v",
				time.Duration(n.now), n.sides[0].s.State(), n.sides[1].s.State(), n.sides[0].closed, n.sides[1].closed,
				n.sides[0].sendNext, n.sides[1].sendNext, n.sides[0].recvNext, n.sides[1].recvNext)
		}
		at := n.q[0].at
		if at > deadline {
			n.t.Fatalf("virtual deadline passed: sent %v/%v recv %v/%v unacked %d/%d states %v/%v closed %v/%v",
				n.sides[0].sendNext, n.sides[1].sendNext, n.sides[0].recvNext, n.sides[1].recvNext,
				n.sides[0].s.Unacked(), n.sides[1].s.Unacked(), n.sides[0].s.State(), n.sides[1].s.State(),
				n.sides[0].closed, n.sides[1].closed)
		}
		n.now = at
		for len(n.q) > 0 && n.q[0].at == at {
			e := heap.Pop(&n.q).(simEvent)
			x := &n.sides[e.side]
			if e.tick {
				if e.at == x.tickAt {
					n.tick(e.side)
					if n.lastTickAt[e.side] == n.now {
						if n.sameTicks[e.side]++; n.sameTicks[e.side] > 100 {
							n.t.Fatalf("side %d: Tick keeps asking for %v at %v (busy loop)", e.side, x.s.Next(), time.Duration(n.now))
						}
					} else {
						n.lastTickAt[e.side], n.sameTicks[e.side] = n.now, 0
					}
				}
				continue
			}
			if e.side == 1 && x.s.State() == StateDisconnected && !x.opened {
				if ClassifyNoSession(e.d) != NoSessionCreate {
					continue
				}
				if err := x.s.InitServer(n.cfg, uint32(n.r.next()), n.now); err != nil {
					n.t.Fatal(err)
				}
			}
			x.s.Receive(&x.env, n.now, e.d)
		}
	}
}

func TestSimNetwork(t *testing.T) {
	msgs := 5000
	if testing.Short() {
		msgs = 500
	}
	models := []netModel{
		{name: "loss10_delay50_reorder2", loss: 0.10, delay: 50 * time.Millisecond, jitter: time.Millisecond, reorder: 0.02, reorderD: 40 * time.Millisecond},
		{name: "loss5_dup5_zone", loss: 0.05, dup: 0.05, delay: 10 * time.Millisecond, jitter: time.Millisecond, passes: [2]Pass{PassCompress, PassNone}},
		{name: "loss20_delay100", loss: 0.20, delay: 100 * time.Millisecond, jitter: time.Millisecond},
		{name: "clean", delay: 5 * time.Millisecond},
		{name: "reorder30", reorder: 0.30, reorderD: 30 * time.Millisecond, delay: 5 * time.Millisecond, jitter: time.Millisecond},
		{name: "corrupt1_xor", corrupt: 0.01, delay: 5 * time.Millisecond, jitter: time.Millisecond, passes: [2]Pass{PassNone, PassXOR}},
	}
	base := *simSeed
	if base == 0 {
		base = 0x5eed_0001
	}
	for i, m := range models {
		t.Run(m.name, func(t *testing.T) {
			seed := base + uint64(i)
			t.Logf("seed %#x (rerun with -sim.seed=%#x; this model is base+%d)", seed, base, i)
			n := newSim(t, m, seed, msgs)
			n.run(20 * time.Minute)
			for i := range n.sides {
				x := &n.sides[i]
				if x.s.State() != StateConnected || len(x.closed) != 0 {
					t.Fatalf("side %d ended %v closed %v", i, x.s.State(), x.closed)
				}
			}
			cs, ss := n.sides[0].s.Stats(), n.sides[1].s.Stats()
			if m.corrupt > 0 {
				bad := cs.Drops[ReasonBadCRC] + ss.Drops[ReasonBadCRC]
				if bad != uint64(n.corrupted) {
					t.Fatalf("corrupted %d datagrams, sessions dropped %d for CRC", n.corrupted, bad)
				}
			}
			t.Logf("virtual %v; dropped %d dup %d corrupted %d (collisions kept off %d); client sent %d dgrams resends %d rtt avg %v; server sent %d resends %d",
				time.Duration(n.now), n.dropped, n.duplicated, n.corrupted, n.collided,
				cs.SentPackets, cs.Resends, cs.RTTAvg(), ss.SentPackets, ss.Resends)
		})
	}
}
