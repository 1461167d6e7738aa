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

// memSet is an in-memory Opener: a main socket plus member sockets, all in
// one queue, each datagram tagged with its socket as batchio.Set does. Its
// buffers are reused, so a warm round allocates nothing.
type memSet struct {
	in      []setDgram
	n, rd   int
	members map[uint32]bool
	next    uint32
	onOut   func(b []byte, to netip.AddrPort, sock uint32)
}

type setDgram struct {
	b    []byte
	addr netip.AddrPort
	sock uint32
}

func (m *memSet) push(b []byte, addr netip.AddrPort, sock uint32) {
	if m.n == len(m.in) {
		m.in = append(m.in, setDgram{})
	}
	d := &m.in[m.n]
	d.b, d.addr, d.sock = append(d.b[:0], b...), addr, sock
	m.n++
}

func (m *memSet) ReadBatchUntil(msgs []batchio.Message, _ time.Time) (int, error) {
	k := 0
	for k < len(msgs) && m.rd < m.n {
		d := &m.in[m.rd]
		m.rd++
		msgs[k].N = copy(msgs[k].Buf, d.b)
		msgs[k].Truncated = len(d.b) > len(msgs[k].Buf)
		msgs[k].Addr, msgs[k].Sock = d.addr, d.sock
		k++
	}
	if m.rd == m.n {
		m.n, m.rd = 0, 0
	}
	if k == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return k, nil
}

func (m *memSet) WriteBatch(msgs []batchio.Message) (int, error) {
	for i := range msgs {
		if msgs[i].Sock != 0 && !m.members[msgs[i].Sock] {
			continue // a closed member: nowhere to go
		}
		m.onOut(msgs[i].Buf[:msgs[i].N], msgs[i].Addr, msgs[i].Sock)
	}
	return len(msgs), nil
}

func (m *memSet) Wake() {}

func (m *memSet) Open(local netip.AddrPort) (uint32, netip.AddrPort, error) {
	m.next++
	m.members[m.next] = true
	return m.next, netip.AddrPortFrom(local.Addr(), uint16(40000+m.next)), nil
}

func (m *memSet) CloseMember(sock uint32) { delete(m.members, sock) }
func (m *memSet) Len() int                { return len(m.members) }
func (m *memSet) FDs() int                { return len(m.members) }

var _ Opener = (*memSet)(nil)

// leg is a proto session the test drives on the far side of a memSet: the
// client of a server session, or the server a dialled session talks to.
type leg struct {
	sess  proto.Session
	env   proto.Env
	coder proto.Coder
	alloc pool.Sized
	cfg   proto.Config
	set   *memSet
	addr  netip.AddrPort // its address, as the shard sees it
	sock  uint32         // the shard socket its datagrams arrive on
	buf   []byte
	rbuf  []byte
	open  bool
	echo  bool // send every message back
	got   int
	last  []byte
}

func newLeg(t testing.TB, set *memSet, addr netip.AddrPort) *leg {
	l := &leg{set: set, addr: addr, buf: make([]byte, proto.MaxDatagram), rbuf: make([]byte, proto.MaxDatagram)}
	l.cfg = proto.DefaultConfig()
	if err := l.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	l.env = proto.Env{Coder: &l.coder, Sink: l, Handler: l, Alloc: &l.alloc}
	return l
}

func (l *leg) Buffer() []byte { return l.buf[:0] }
func (l *leg) Send(d []byte)  { l.set.push(d, l.addr, l.sock) }

func (l *leg) Opened(*proto.Session) { l.open = true }
func (l *leg) Deliver(ps *proto.Session, stream int, app []byte) {
	l.got++
	l.last = append(l.last[:0], app...)
	if l.echo {
		_ = ps.Send(&l.env, 0, stream, app, true)
	}
}
func (l *leg) Closed(*proto.Session, proto.CloseReason) { l.open = false }

// recv gives the leg a datagram the shard wrote (a copy: proto works in
// place).
func (l *leg) recv(b []byte) {
	l.sess.Receive(&l.env, 0, l.rbuf[:copy(l.rbuf, b)])
	l.sess.Flush(&l.env, 0)
}

// relay is a Handler that, for every server session, dials a backend leg
// from inside OnOpen and forwards messages both ways with synchronous
// sends: the shape of DESIGN.md's relay.
type relay struct {
	t       testing.TB
	backend netip.AddrPort
	front   map[ID]ID // client session -> its backend leg
	back    map[ID]ID // backend leg -> client session
	legOpen int
	closed  []proto.CloseReason
	// closeFront: a leg's Close closes its client session, as package
	// relay does.
	closeFront bool
	sockets    []int // Sockets() seen inside each leg's Close
}

func (r *relay) Open(sh *Shard, id ID) {
	leg, _, err := sh.DialFrom(netip.Addr{}, r.backend, (*relayLeg)(r))
	if err != nil {
		r.t.Errorf("DialFrom inside OnOpen: %v", err)
		return
	}
	r.front[id], r.back[leg] = leg, id
}

func (r *relay) Message(sh *Shard, id ID, stream int, data []byte) {
	if err := sh.Send(r.front[id], stream, data, true); err != nil {
		r.t.Errorf("relay to the backend: %v", err)
	}
}

func (r *relay) Close(sh *Shard, id ID, _ proto.CloseReason) {}

// relayLeg is the backend legs' Handler.
type relayLeg relay

func (r *relayLeg) Open(*Shard, ID) { r.legOpen++ }
func (r *relayLeg) Message(sh *Shard, id ID, stream int, data []byte) {
	if err := sh.Send(r.back[id], stream, data, true); err != nil {
		r.t.Errorf("relay to the client: %v", err)
	}
}
func (r *relayLeg) Close(sh *Shard, id ID, reason proto.CloseReason) {
	r.closed = append(r.closed, reason)
	r.sockets = append(r.sockets, sh.Sockets())
	if r.closeFront {
		_ = sh.CloseSession(r.back[id])
	}
}

// relayRig is a shard whose Handler is relay, with its client session and
// its backend leg open: the client on clientAddr, the backend on
// backendAddr, an echo.
func relayRig(t *testing.T, backendAddr, clientAddr netip.AddrPort) (*Shard, *relay, *memSet, *leg, *leg) {
	t.Helper()
	set := &memSet{members: map[uint32]bool{}}
	r := &relay{t: t, backend: backendAddr, front: map[ID]ID{}, back: map[ID]ID{}}
	g, err := NewGroup(Config{Role: RoleServer, Proto: proto.DefaultConfig()}, []Socket{set}, r)
	if err != nil {
		t.Fatal(err)
	}
	s := g.Shard(0)

	client := newLeg(t, set, clientAddr)
	backend := newLeg(t, set, backendAddr)
	backend.echo = true
	backendUp := false
	set.onOut = func(b []byte, to netip.AddrPort, sock uint32) {
		switch {
		case sock == 0 && to == clientAddr:
			client.recv(b)
		case sock != 0 && to == backendAddr:
			if !backendUp {
				// The backend's server session starts with the request.
				backendUp, backend.sock = true, sock
				if err := backend.sess.InitServer(&backend.cfg, 0x5eed, 0); err != nil {
					t.Fatal(err)
				}
			}
			backend.recv(b)
		default:
			t.Errorf("datagram to %v from socket %d", to, sock)
		}
	}

	if err := client.sess.InitClient(&client.cfg, 0x1234, 0); err != nil {
		t.Fatal(err)
	}
	client.sess.Tick(&client.env, 1) // SessionRequest
	step(s)                          // the stateless response; the client proves with a keepalive
	step(s)                          // the proof opens the session; OnOpen dials; the leg's SessionRequest leaves
	step(s)                          // the backend's SessionResponse
	if !client.open || !backend.open || r.legOpen != 1 {
		t.Fatalf("client open %v, backend open %v, legs opened %d", client.open, backend.open, r.legOpen)
	}
	return s, r, set, client, backend
}

// TestRelayDialFromHandler: a server session's Handler dials a backend
// session on the same shard, synchronously, from inside OnOpen; messages
// cross both legs with synchronous sends; the backend leg has its own
// socket, gets its own Handler's callbacks, needs no handoff, and a warm
// round trip through both legs allocates nothing. Closing the leg closes
// its socket before its Close callback runs.
func TestRelayDialFromHandler(t *testing.T) {
	backendAddr := netip.MustParseAddrPort("10.9.9.9:5998")
	clientAddr := netip.MustParseAddrPort("10.0.0.1:4000")
	s, r, set, client, backend := relayRig(t, backendAddr, clientAddr)
	if set.Len() != 1 || s.Sockets() != 1 {
		t.Fatalf("%d member sockets, want 1", set.Len())
	}

	msg := []byte("through the relay and back")
	round := func() {
		_ = client.sess.Send(&client.env, 0, 1, msg, true)
		client.sess.Flush(&client.env, 0)
		step(s) // client -> front session -> leg -> backend, which echoes
		step(s) // backend -> leg -> front session -> client
	}
	round()
	if client.got != 1 || string(client.last) != string(msg) || backend.got != 1 {
		t.Fatalf("client got %d (%q), backend got %d", client.got, client.last, backend.got)
	}
	for range 50 { // warm up pools and hold buffers
		round()
	}
	if !raceEnabled {
		if a := testing.AllocsPerRun(200, round); a != 0 {
			t.Errorf("a relayed round trip allocates %.1f times", a)
		}
	}
	if c := s.Counters(); c.Outcomes[OutcomeHandoff].Load() != 0 || c.SessionsOpen.Load() != 2 {
		t.Errorf("handoffs %d, sessions open %d", c.Outcomes[OutcomeHandoff].Load(), c.SessionsOpen.Load())
	}
	assertOutcomes(t, s)

	// A datagram on the leg's socket from a stranger is nobody's.
	set.push([]byte{0, 9, 1, 2}, netip.MustParseAddrPort("10.6.6.6:1"), backend.sock)
	step(s)
	if got := s.Counters().Outcomes[OutcomeDropUnknown].Load(); got != 1 {
		t.Errorf("stranger on a dialled socket: %d unknown-endpoint drops, want 1", got)
	}
	// A shared socket's datagram for no member's address names no slot.
	set.push([]byte{0, 9, 1, 2}, backendAddr, batchio.NoMember)
	step(s)
	if got := s.Counters().Outcomes[OutcomeDropUnknown].Load(); got != 2 {
		t.Errorf("datagram for no member: %d unknown-endpoint drops, want 2", got)
	}

	var legID ID
	for id := range r.back {
		legID = id
	}
	if err := s.CloseSession(legID); err != nil {
		t.Fatal(err)
	}
	if len(r.closed) != 1 || r.closed[0] != proto.CloseLocal || r.sockets[0] != 0 || set.Len() != 0 {
		t.Fatalf("leg close: reasons %v, sockets seen in Close %v, members now %d", r.closed, r.sockets, set.Len())
	}
	step(s)
	if backend.open {
		t.Error("the backend did not get the leg's SessionDisconnect")
	}
	assertOutcomes(t, s)
}

// TestHangUpCloseWritten: a backend leg's Close that closes its client
// session (as package relay does when the backend ends or never answers)
// gets the client's SessionDisconnect written in the same iteration, not
// left in the batch until the next wake-up (which, on a quiet shard, was
// the client's next keepalive, 9 s later).
func TestHangUpCloseWritten(t *testing.T) {
	backendAddr := netip.MustParseAddrPort("10.9.9.9:5998")
	s, r, _, client, backend := relayRig(t, backendAddr, netip.MustParseAddrPort("10.0.0.1:4000"))
	r.closeFront = true
	backend.sess.Close(&backend.env, 0) // the backend ends the leg
	step(s)
	if len(r.closed) != 1 || r.closed[0] != proto.ClosePeer {
		t.Fatalf("leg closes %v, want one peer close", r.closed)
	}
	if client.open {
		t.Error("the client's SessionDisconnect is still in the batch after the iteration that closed its session")
	}
}

// TestStateGauges: a dialled session counts as connecting until its
// SessionResponse, a closed server session as disconnecting while it
// lingers, and both gauges return to 0 when the slots are freed.
func TestStateGauges(t *testing.T) {
	backendAddr := netip.MustParseAddrPort("10.9.9.9:5998")
	s, r, set, _, _ := relayRig(t, backendAddr, netip.MustParseAddrPort("10.0.0.1:4000"))
	c := s.Counters()
	gauges := func() (int64, int64) { return c.Connecting.Load(), c.Disconnecting.Load() }
	if cn, dc := gauges(); cn != 0 || dc != 0 {
		t.Fatalf("both legs up: connecting %d, disconnecting %d", cn, dc)
	}
	// A second leg to a backend that never answers stays connecting.
	set.onOut = func([]byte, netip.AddrPort, uint32) {}
	silent, _, err := s.DialFrom(netip.Addr{}, netip.MustParseAddrPort("10.9.9.8:1"), (*relayLeg)(r))
	if err != nil {
		t.Fatal(err)
	}
	step(s)
	if cn, _ := gauges(); cn != 1 {
		t.Fatalf("a dial waiting for its response: connecting %d, want 1", cn)
	}
	if err := s.CloseSession(silent); err != nil {
		t.Fatal(err)
	}
	step(s)
	if cn, _ := gauges(); cn != 0 {
		t.Fatalf("after the dial closed: connecting %d, want 0", cn)
	}
	var front ID
	for id := range r.front {
		front = id
	}
	if err := s.CloseSession(front); err != nil { // lingers
		t.Fatal(err)
	}
	step(s)
	if _, dc := gauges(); dc != 1 {
		t.Fatalf("a closed server session lingering: disconnecting %d, want 1", dc)
	}
	advance(s, time.Minute) // past the linger, and the silent backend's stale timeout for the leg
	step(s)
	if cn, dc := gauges(); cn != 0 || dc != 0 || c.SessionsOpen.Load() != 0 {
		t.Fatalf("after the linger: connecting %d, disconnecting %d, open %d", cn, dc, c.SessionsOpen.Load())
	}
}

// TestDialFromCaps: DialFrom refuses past the shard's session cap, and a
// shard without an Opener keys dialled sessions by remote (one per remote).
func TestDialFromCaps(t *testing.T) {
	set := &memSet{members: map[uint32]bool{}}
	g, err := NewGroup(Config{Role: RoleClient, Proto: proto.DefaultConfig(), MaxSessionsPerShard: 2}, []Socket{set}, &echo{})
	if err != nil {
		t.Fatal(err)
	}
	s := g.Shard(0)
	remote := netip.MustParseAddrPort("10.1.1.1:5000")
	for i := range 2 {
		if _, _, err := s.DialFrom(netip.Addr{}, remote, nil); err != nil {
			t.Fatalf("dial %d to one remote: %v", i, err)
		}
	}
	if _, _, err := s.DialFrom(netip.Addr{}, remote, nil); err != ErrSessionCap {
		t.Errorf("dial past the cap: %v, want ErrSessionCap", err)
	}

	g2, _ := memGroup(t, 1, RoleClient, &echo{})
	s2 := g2.Shard(0)
	if _, _, err := s2.DialFrom(netip.Addr{}, remote, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.DialFrom(netip.Addr{}, remote, nil); err != ErrDialBusy {
		t.Errorf("second dial to one remote without an Opener: %v, want ErrDialBusy", err)
	}
}
