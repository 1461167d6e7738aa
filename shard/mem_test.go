package shard

import (
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/pool"
	"github.com/eqgate/eqgate/proto"
)

// memSocket is an in-memory Socket: tests queue datagrams in, and read what
// the shard wrote from out. It never blocks.
type memSocket struct {
	in    []memDgram
	rd    int // next of in to deliver
	out   []memDgram
	keep  bool // copy written datagrams into out (off in the alloc test path)
	onOut func(b []byte, to netip.AddrPort)
	wakes int
}

type memDgram struct {
	b    []byte
	addr netip.AddrPort
}

func (m *memSocket) ReadBatchUntil(msgs []batchio.Message, _ time.Time) (int, error) {
	n := 0
	for n < len(msgs) && m.rd < len(m.in) {
		d := m.in[m.rd]
		m.rd++
		msgs[n].N = copy(msgs[n].Buf, d.b)
		msgs[n].Truncated = len(d.b) > len(msgs[n].Buf)
		msgs[n].Addr = d.addr
		n++
	}
	if m.rd == len(m.in) {
		m.in, m.rd = m.in[:0], 0 // keep the capacity
	}
	if n == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return n, nil
}

func (m *memSocket) WriteBatch(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		b := msgs[i].Buf[:msgs[i].N]
		if m.onOut != nil {
			m.onOut(b, msgs[i].Addr)
		}
		if m.keep {
			m.out = append(m.out, memDgram{append([]byte(nil), b...), msgs[i].Addr})
		}
	}
	return len(msgs), nil
}

func (m *memSocket) Wake() { m.wakes++ }

// step runs one loop iteration of s over what its memSocket holds.
func step(s *Shard) bool {
	if s.refill() == 0 {
		return s.iterate(0, nil)
	}
	n, err := s.sock.ReadBatchUntil(s.rx[:s.rxN], time.Time{})
	return s.iterate(n, err)
}

// proofDgram is what a client that got ap's SessionResponse from s's group
// sends first when it has nothing else to say: a keepalive, encoded under
// the derived key, whose CRC proves the key.
func proofDgram(t testing.TB, s *Shard, ap netip.AddrPort) []byte {
	t.Helper()
	return encodeFor(t, s, ap, []byte{0, 6})
}

// encodeFor encodes decoded packet x as the client that got ap's
// SessionResponse from s's group sends it.
func encodeFor(t testing.TB, s *Shard, ap netip.AddrPort, x []byte) []byte {
	t.Helper()
	ep := endpointOf(ap)
	a, pc := s.adm.adm, &s.cfg.Proto
	key := a.Key(a.Epoch(s.clock()), &ep.addr, ep.port, pc.MaxPacketSize)
	p, err := proto.NewParams(key, pc.CRCBytes, pc.EncodePasses, pc.MaxPacketSize)
	if err != nil {
		t.Fatal(err)
	}
	var c proto.Coder
	return c.AppendEncode(&p, nil, x)
}

// echo is a Handler that sends every message back.
type echo struct {
	opened, closed int
	reasons        []proto.CloseReason
	msgs           int
}

func (e *echo) Open(*Shard, ID) { e.opened++ }
func (e *echo) Message(sh *Shard, id ID, stream int, data []byte) {
	e.msgs++
	if stream < 0 {
		stream = 0
	}
	if err := sh.Send(id, stream, data, true); err != nil {
		panic(err)
	}
}
func (e *echo) Close(_ *Shard, _ ID, r proto.CloseReason) {
	e.closed++
	e.reasons = append(e.reasons, r)
}

// peer is a client proto.Session driven by the test against a shard over a
// memSocket.
type peer struct {
	sess  proto.Session
	env   proto.Env
	coder proto.Coder
	pool  pool.Sized
	cfg   proto.Config
	addr  netip.AddrPort
	sock  *memSocket
	buf   []byte
	got   int
	open  bool
	h     peerHandler
}

type peerHandler struct{ p *peer }

func (h *peerHandler) Opened(*proto.Session)                     { h.p.open = true }
func (h *peerHandler) Deliver(_ *proto.Session, _ int, _ []byte) { h.p.got++ }
func (h *peerHandler) Closed(*proto.Session, proto.CloseReason)  {}

// Buffer and Send make peer its own Sink: datagrams go into the shard's
// socket queue.
func (p *peer) Buffer() []byte { return p.buf[:0] }
func (p *peer) Send(d []byte) {
	p.sock.in = append(p.sock.in, memDgram{append([]byte(nil), d...), p.addr})
}

func newPeer(t testing.TB, sock *memSocket, addr netip.AddrPort) *peer {
	p := &peer{sock: sock, addr: addr, buf: make([]byte, proto.MaxDatagram)}
	p.cfg = proto.DefaultConfig()
	if err := p.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p.h.p = p
	p.env = proto.Env{Coder: &p.coder, Sink: p, Handler: &p.h, Alloc: &p.pool}
	if err := p.sess.InitClient(&p.cfg, 0x12345678, 0); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *peer) recv(b []byte, now proto.Nanotime) { p.sess.Receive(&p.env, now, b) }

func memGroup(t testing.TB, n int, role Role, h Handler) (*Group, []*memSocket) {
	t.Helper()
	return memGroupCfg(t, n, Config{Role: role, Proto: proto.DefaultConfig()}, h)
}

func memGroupCfg(t testing.TB, n int, cfg Config, h Handler) (*Group, []*memSocket) {
	t.Helper()
	socks := make([]*memSocket, n)
	ss := make([]Socket, n)
	for i := range socks {
		socks[i] = &memSocket{}
		ss[i] = socks[i]
	}
	g, err := NewGroup(cfg, ss, h)
	if err != nil {
		t.Fatal(err)
	}
	// A fixed admission secret: which guessed trailers happen to verify is
	// then the same in every run (the process's random one is for real).
	for i := range g.shards {
		if s := g.shards[i]; s.cfg.Role == RoleServer {
			s.adm.init(s.cfg, []byte("a fixed secret for shard tests.."))
		}
	}
	return g, socks
}
