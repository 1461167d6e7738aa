package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/bench/impair"
)

// wait bounds every wait of these tests: they wait for events, never for
// time, and fail when an event does not come.
const wait = 60 * time.Second

// echoBackend stands in for a game server: it sends every message back on
// the stream it came on, unreliable ones unreliably, and counts closes.
type echoBackend struct {
	mu     sync.Mutex
	opened int
	closed map[eqgate.CloseReason]int
	gone   chan eqgate.CloseReason // every OnClose, buffered
	mute   atomic.Bool             // stop echoing (a backend that stops reading is tested by window caps)
	// seen counts every message received, by content, when not nil (set
	// before the first session): what reached the backend, byte for byte.
	seen map[string]int
}

func newEchoBackend() *echoBackend {
	return &echoBackend{closed: map[eqgate.CloseReason]int{}, gone: make(chan eqgate.CloseReason, 1024)}
}

func (b *echoBackend) OnOpen(eqgate.Session) {
	b.mu.Lock()
	b.opened++
	b.mu.Unlock()
}

func (b *echoBackend) OnMessage(s eqgate.Session, stream int, data []byte) {
	b.mu.Lock()
	if b.seen != nil {
		b.seen[string(data)]++
	}
	b.mu.Unlock()
	if b.mute.Load() {
		return
	}
	var err error
	if stream < 0 {
		err = s.Send(0, data, false)
	} else {
		err = s.Send(stream, data, true)
	}
	if err != nil {
		panic("echo: " + err.Error())
	}
}

func (b *echoBackend) OnClose(_ eqgate.Session, r eqgate.CloseReason) {
	b.mu.Lock()
	b.closed[r]++
	b.mu.Unlock()
	b.gone <- r
}

// player is a client Handler recording what comes back per stream (index
// 4: unreliable).
type player struct {
	mu     sync.Mutex
	got    [5][][]byte
	n      int
	want   int
	done   chan struct{}
	closed chan eqgate.CloseReason
}

func newPlayer(want int) *player {
	return &player{want: want, done: make(chan struct{}), closed: make(chan eqgate.CloseReason, 1)}
}

func (p *player) OnOpen(eqgate.Session) {}

func (p *player) OnMessage(_ eqgate.Session, stream int, data []byte) {
	if stream < 0 {
		stream = 4
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[stream] = append(p.got[stream], bytes.Clone(data))
	if p.n++; p.n == p.want {
		close(p.done)
	}
}

func (p *player) OnClose(_ eqgate.Session, r eqgate.CloseReason) { p.closed <- r }

// message k of session cl on stream st, size bytes: a header naming it,
// then filler, so a misdelivery or reordering shows.
func message(cl, st, k, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + k + st + 1)
	}
	if size >= 12 {
		b[0] = 0x50
		binary.BigEndian.PutUint32(b[1:], uint32(cl))
		binary.BigEndian.PutUint16(b[5:], uint16(st))
		binary.BigEndian.PutUint32(b[7:], uint32(k))
	}
	return b
}

// testConfig is a server or leg Config whose queues hold everything the
// tests send at once.
func testConfig(enc eqgate.Encoding) eqgate.Config {
	return eqgate.Config{Shards: 2, Encoding: enc, MaxQueuedBytes: 64 << 20, MaxSessionsPerIP: 1024}
}

// quick is c with the timeouts of a session that falls silent at half a
// second, kept alive by keepalives while it does not.
func quick(c eqgate.Config) eqgate.Config {
	c.StaleConnection, c.ResendTimeout, c.KeepaliveDelay = 500*time.Millisecond, 500*time.Millisecond, 50*time.Millisecond
	return c
}

type rig struct {
	backend *eqgate.Server
	be      *echoBackend
	relay   *Relay
}

func newRig(t *testing.T, clientEnc, backendEnc eqgate.Encoding, rc Config) *rig {
	t.Helper()
	return newRigConfig(t, testConfig(clientEnc), testConfig(backendEnc), rc)
}

// newRigConfig is newRig with the relay's and the backend's whole Configs.
func newRigConfig(t *testing.T, relayCfg, backendCfg eqgate.Config, rc Config) *rig {
	t.Helper()
	be := newEchoBackend()
	bsrv, err := eqgate.Listen("127.0.0.1:0", backendCfg, be)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Backend == "" {
		rc.Backend = bsrv.Addr().String()
	}
	// The tests send everything at once, before the backend answers.
	if rc.MaxPending == 0 {
		rc.MaxPending, rc.ShardBudget = 64<<20, 256<<20
	}
	r, err := Listen("127.0.0.1:0", relayCfg, rc)
	if err != nil {
		_ = bsrv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("relay close: %v", err)
		}
		_ = bsrv.Close()
	})
	return &rig{backend: bsrv, be: be, relay: r}
}

func dial(t *testing.T, addr string, h eqgate.Handler) *eqgate.Conn {
	t.Helper()
	return dialConfig(t, addr, eqgate.Config{MaxQueuedBytes: 64 << 20}, h)
}

func dialConfig(t *testing.T, addr string, cfg eqgate.Config, h eqgate.Handler) *eqgate.Conn {
	t.Helper()
	c, err := eqgate.Dial(addr, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// echoThrough sends every size on each of the 4 streams from every session
// and checks that each stream comes back byte-exact and in order.
func echoThrough(t *testing.T, addr string, sessions int, sizes []int) {
	t.Helper()
	echoThroughConfig(t, addr, sessions, sizes, eqgate.Config{MaxQueuedBytes: 64 << 20})
}

// echoThroughConfig is echoThrough with the players' Config.
func echoThroughConfig(t *testing.T, addr string, sessions int, sizes []int, cfg eqgate.Config) {
	t.Helper()
	type sess struct {
		c    *eqgate.Conn
		p    *player
		sent [4][][]byte
	}
	streams := 4
	if cfg.Variant != eqgate.VariantRS {
		streams = 1 // LEGACY and EQ2 have stream 0 only (SPEC §4)
	}
	ss := make([]*sess, sessions)
	for i := range ss {
		p := newPlayer(streams * len(sizes))
		ss[i] = &sess{c: dialConfig(t, addr, cfg, p), p: p}
	}
	for i, s := range ss {
		for k, size := range sizes {
			for st := range streams {
				m := message(i, st, k, size)
				if err := s.c.Send(st, m, true); err != nil {
					t.Fatalf("session %d send: %v", i, err)
				}
				s.sent[st] = append(s.sent[st], m)
			}
		}
	}
	for i, s := range ss {
		await(t, s.p.done, "echoes")
		s.p.mu.Lock()
		for st := range streams {
			if len(s.p.got[st]) != len(s.sent[st]) {
				t.Fatalf("session %d stream %d: %d messages back, want %d", i, st, len(s.p.got[st]), len(s.sent[st]))
			}
			for k := range s.sent[st] {
				if !bytes.Equal(s.p.got[st][k], s.sent[st][k]) {
					t.Fatalf("session %d stream %d message %d (%d B): not the one sent", i, st, k, len(s.sent[st][k]))
				}
			}
		}
		s.p.mu.Unlock()
	}
}

var encodings = []eqgate.Encoding{eqgate.EncodeNone, eqgate.EncodeXOR, eqgate.EncodeCompress, eqgate.EncodeCompressXOR, eqgate.EncodeXORCompress}

// TestRelayEncodingPairs: every pair of encodings on the two legs carries
// messages from 1 B to 64 KiB on 4 streams unchanged and in order.
func TestRelayEncodingPairs(t *testing.T) {
	sizes := []int{1, 12, 200, 511, 512, 1400, 4000, 16 << 10, 64 << 10}
	for _, ce := range encodings {
		for _, be := range encodings {
			t.Run(ce.String()+"/"+be.String(), func(t *testing.T) {
				g := newRig(t, ce, be, Config{})
				echoThrough(t, g.relay.Server().Addr().String(), 2, sizes)
				st := g.relay.Stats()
				if want := uint64(2 * 4 * len(sizes)); st.MsgsToBackend != want || st.MsgsToClient != want {
					t.Errorf("relayed %d to the backend and %d back, want %d each", st.MsgsToBackend, st.MsgsToClient, want)
				}
			})
		}
	}
}

// TestRelayTwentySessions: 20 sessions at once, 1 B to 64 KiB on 4
// streams, through a compressing client leg and an XOR backend leg.
func TestRelayTwentySessions(t *testing.T) {
	g := newRig(t, eqgate.EncodeCompress, eqgate.EncodeXOR, Config{})
	sizes := []int{1, 2, 12, 100, 255, 256, 511, 512, 513, 1400, 4000, 8192, 16 << 10, 32 << 10, 64 << 10}
	echoThrough(t, g.relay.Server().Addr().String(), 20, sizes)
	st := g.relay.Stats()
	if st.Sessions != 20 || st.LegsUp != 20 || st.DialFailures != 0 {
		t.Errorf("stats %+v: want 20 sessions, 20 legs up, no dial failure", st)
	}
}

// TestRelayUnreliable: an unreliable message reaches the backend
// unreliably and comes back the same way (stream -1 at the player).
func TestRelayUnreliable(t *testing.T) {
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{})
	p := newPlayer(3)
	c := dial(t, g.relay.Server().Addr().String(), p)
	// One at a time on loopback, so none is lost to a full socket buffer.
	for k := range 3 {
		m := message(0, 0, k, 20+k)
		if err := c.Send(0, m, false); err != nil {
			t.Fatal(err)
		}
		for {
			p.mu.Lock()
			n := len(p.got[4]) + len(p.got[0])
			p.mu.Unlock()
			if n > k {
				break
			}
			select {
			case <-time.After(time.Millisecond):
			case <-time.After(wait):
				t.Fatal("no echo")
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got[0]) != 0 || len(p.got[4]) != 3 {
		t.Fatalf("%d reliable and %d unreliable echoes, want 0 and 3", len(p.got[0]), len(p.got[4]))
	}
}

// TestRelayBackendDown: a backend that never answers closes the client
// session after ConnectTimeout, counted, and Healthy says so after
// UnhealthyAfter dials.
func TestRelayBackendDown(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{
		Backend: hole.LocalAddr().String(), ConnectTimeout: 200 * time.Millisecond, UnhealthyAfter: 2,
	})
	addr := g.relay.Server().Addr().String()
	for i := range 2 {
		if err := g.relay.Healthy(); err != nil {
			t.Fatalf("healthy before dial %d failed: %v", i, err)
		}
		p := newPlayer(1)
		c := dial(t, addr, p)
		// Sent before the backend leg is up: held, then dropped with it.
		if err := c.Send(0, []byte("hello"), true); err != nil {
			t.Fatal(err)
		}
		if r := await(t, p.closed, "the client's close"); r != eqgate.ClosePeer {
			t.Fatalf("client closed with %v, want a SessionDisconnect (peer)", r)
		}
	}
	st := g.relay.Stats()
	if st.DialFailures != 2 || st.Ends[ReasonBackendNoAnswer] != 2 || st.Active != 0 {
		t.Fatalf("stats %+v: want 2 dial failures ended backend_no_answer, none active", st)
	}
	if err := g.relay.Healthy(); !errors.Is(err, ErrBackendDown) {
		t.Fatalf("Healthy = %v, want ErrBackendDown", err)
	}
}

// TestRelayBackendCloses: a backend that ends its sessions (shuts down)
// ends each client session with a SessionDisconnect.
func TestRelayBackendCloses(t *testing.T) {
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{})
	p := newPlayer(1)
	c := dial(t, g.relay.Server().Addr().String(), p)
	if err := c.Send(1, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	await(t, p.done, "the echo")
	if err := g.backend.Close(); err != nil {
		t.Fatal(err)
	}
	if r := await(t, p.closed, "the client's close"); r != eqgate.ClosePeer {
		t.Fatalf("client closed with %v, want peer", r)
	}
	if g.relay.Stats().Ends[ReasonBackendClosed] != 1 {
		t.Fatalf("ends %v: want backend_closed", g.relay.Stats().Ends)
	}
}

// TestRelayClientCloses: a client's SessionDisconnect closes the backend
// leg with one.
func TestRelayClientCloses(t *testing.T) {
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{})
	p := newPlayer(1)
	c := dial(t, g.relay.Server().Addr().String(), p)
	if err := c.Send(2, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	await(t, p.done, "the echo")
	_ = c.Close()
	if r := await(t, g.be.gone, "the backend leg's close"); r != eqgate.ClosePeer {
		t.Fatalf("backend saw %v, want peer", r)
	}
	if st := g.relay.Stats(); st.Ends[ReasonClientClosed] != 1 || st.Active != 0 {
		t.Fatalf("stats %+v: want one client_closed, none active", st)
	}
}

// cutter forwards UDP between client-facing peers and an upstream
// address, each peer over an upstream socket of its own, until cut (all
// of them) or cutPeer (one), then drops everything both ways: a peer that
// vanishes without a word.
type cutter struct {
	t        *testing.T
	down     *net.UDPConn
	upstream *net.UDPAddr
	cut      atomic.Bool
	mu       sync.Mutex
	flows    []*cutPath // in the order their peers first sent
	byPeer   map[netip.AddrPort]*cutPath
	wg       sync.WaitGroup
}

// cutPath is one peer's path through a cutter.
type cutPath struct {
	up  *net.UDPConn
	cut atomic.Bool
}

func newCutter(t *testing.T, upstream netip.AddrPort) *cutter {
	t.Helper()
	down, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{t: t, down: down, upstream: net.UDPAddrFromAddrPort(upstream), byPeer: map[netip.AddrPort]*cutPath{}}
	c.wg.Go(func() {
		b := make([]byte, 4096)
		for {
			n, from, err := down.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			f := c.flowOf(from)
			if f != nil && !c.cut.Load() && !f.cut.Load() {
				_, _ = f.up.Write(b[:n]) // a lost datagram is the protocol's to recover
			}
		}
	})
	t.Cleanup(func() {
		_ = down.Close()
		c.mu.Lock()
		for _, f := range c.flows {
			_ = f.up.Close()
		}
		c.mu.Unlock()
		c.wg.Wait()
	})
	return c
}

// flowOf is peer's flow, opened on its first datagram (nil if it cannot be).
func (c *cutter) flowOf(peer netip.AddrPort) *cutPath {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.byPeer[peer]; f != nil {
		return f
	}
	up, err := net.DialUDP("udp", nil, c.upstream)
	if err != nil {
		c.t.Errorf("cutter: %v", err)
		return nil
	}
	f := &cutPath{up: up}
	c.flows = append(c.flows, f)
	c.byPeer[peer] = f
	c.wg.Go(func() {
		b := make([]byte, 4096)
		for {
			n, err := up.Read(b)
			if err != nil {
				return
			}
			if !c.cut.Load() && !f.cut.Load() {
				_, _ = c.down.WriteToUDPAddrPort(b[:n], peer)
			}
		}
	})
	return f
}

// cutPeer cuts the path of the i-th peer that sent through c.
func (c *cutter) cutPeer(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flows[i].cut.Store(true)
}

func (c *cutter) addr() string { return c.down.LocalAddr().String() }

// TestRelayClientVanishes: a client that goes silent is timed out on the
// client leg (stale/resend timeouts), and the backend leg is closed with a
// SessionDisconnect.
func TestRelayClientVanishes(t *testing.T) {
	be := newEchoBackend()
	bcfg := testConfig(eqgate.EncodeNone)
	bcfg.KeepaliveDelay = 50 * time.Millisecond // the backend leg is never the silent one
	bsrv, err := eqgate.Listen("127.0.0.1:0", bcfg, be)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	r, err := Listen("127.0.0.1:0", quick(testConfig(eqgate.EncodeNone)), Config{Backend: bsrv.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cut := newCutter(t, r.Server().Addr())
	p := newPlayer(1)
	c := dial(t, cut.addr(), p)
	if err := c.Send(0, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	await(t, p.done, "the echo") // both legs are up
	cut.cut.Store(true)
	if r := await(t, be.gone, "the backend leg's close"); r != eqgate.ClosePeer {
		t.Fatalf("backend saw %v, want peer", r)
	}
	if st := r.Stats(); st.Ends[ReasonClientTimeout] != 1 || st.Active != 0 {
		t.Fatalf("stats %+v: want one client_timeout", st)
	}
}

// TestRelayBackendVanishes: a backend that goes silent mid-session is
// timed out on the backend leg, and the client gets a SessionDisconnect.
func TestRelayBackendVanishes(t *testing.T) {
	be := newEchoBackend()
	bsrv, err := eqgate.Listen("127.0.0.1:0", testConfig(eqgate.EncodeNone), be)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	cut := newCutter(t, bsrv.Addr())
	r, err := Listen("127.0.0.1:0", quick(testConfig(eqgate.EncodeNone)), Config{Backend: cut.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := newPlayer(1)
	// The player keeps its leg alive: only the backend falls silent.
	c := dialConfig(t, r.Server().Addr().String(), eqgate.Config{KeepaliveDelay: 50 * time.Millisecond}, p)
	if err := c.Send(0, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	await(t, p.done, "the echo")
	cut.cut.Store(true)
	if r := await(t, p.closed, "the client's close"); r != eqgate.ClosePeer {
		t.Fatalf("client closed with %v, want peer", r)
	}
	if st := r.Stats(); st.Ends[ReasonBackendTimeout] != 1 || st.Active != 0 {
		t.Fatalf("stats %+v: want one backend_timeout", st)
	}
}

// stopReading runs a relay with relayCfg and rc in front of an echo
// backend through a cutter, opens two sessions, cuts the first one's
// backend leg (a backend that stops reading and acknowledging) and sends
// it 256 KiB: the pair must end with want, counted, while the second
// session keeps echoing.
func stopReading(t *testing.T, relayCfg eqgate.Config, rc Config, want Reason) {
	t.Helper()
	be := newEchoBackend()
	bsrv, err := eqgate.Listen("127.0.0.1:0", testConfig(eqgate.EncodeNone), be)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	cut := newCutter(t, bsrv.Addr())
	rc.Backend = cut.addr()
	r, err := Listen("127.0.0.1:0", relayCfg, rc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ps [2]*player
	var cs [2]*eqgate.Conn
	for i := range ps {
		ps[i] = newPlayer(1)
		cs[i] = dial(t, r.Server().Addr().String(), ps[i])
		if err := cs[i].Send(0, []byte("ping"), true); err != nil {
			t.Fatal(err)
		}
		await(t, ps[i].done, "the echo") // its backend leg is the cutter's peer i
	}
	cut.cutPeer(0)
	for k := range 64 {
		if err := cs[0].Send(k%4, message(0, k%4, k, 4096), true); err != nil {
			break // the session closed under us: what the test wants
		}
	}
	if r := await(t, ps[0].closed, "the client's close"); r != eqgate.ClosePeer {
		t.Fatalf("client closed with %v, want peer", r)
	}
	if st := r.Stats(); st.Ends[want] != 1 || st.Active != 1 {
		t.Fatalf("stats %+v: want one %v, the other pair running", st, want)
	}
	// The other session is unaffected: 16 KiB more through it (within
	// the smallest window here), all back.
	p := newPlayer(16)
	ps[1].mu.Lock()
	ps[1].n, ps[1].want, ps[1].done = 0, 16, p.done
	ps[1].mu.Unlock()
	for k := range 16 {
		if err := cs[1].Send(k%4, message(1, k%4, k, 1024), true); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-p.done:
	case <-time.After(wait):
		ps[1].mu.Lock()
		n := ps[1].n
		ps[1].mu.Unlock()
		t.Fatalf("the other session: %d of 16 echoes; relay %+v", n, r.Stats())
	}
	if st := r.Stats(); st.Active != 1 || st.Queued < 0 {
		t.Fatalf("stats %+v: the other pair ended", st)
	}
}

// TestRelayBackendStopsReading: a backend that stops reading (nothing it
// acknowledges) fills the backend leg's window and queue; the next
// message ends the pair with backend_full instead of buffering more.
func TestRelayBackendStopsReading(t *testing.T) {
	cfg := testConfig(eqgate.EncodeNone)
	cfg.MaxUnackedBytes, cfg.MaxQueuedBytes = 16<<10, 32<<10
	stopReading(t, cfg, Config{}, ReasonBackendFull)
}

// TestRelayMaxQueued: the relay's own per-leg cap ends the pair with
// backend_full before the leg's window and queue are full.
func TestRelayMaxQueued(t *testing.T) {
	stopReading(t, testConfig(eqgate.EncodeNone), Config{MaxQueued: 64 << 10}, ReasonBackendFull)
}

// TestRelayQueueBudget: with room in every leg, the shard's budget over
// what all legs hold ends the pair holding the most (the one whose
// backend stopped reading), counted as queue_budget; the other goes on.
func TestRelayQueueBudget(t *testing.T) {
	cfg := testConfig(eqgate.EncodeNone)
	cfg.Shards = 1 // both pairs on one shard's budget
	stopReading(t, cfg, Config{QueueBudget: 96 << 10}, ReasonQueueBudget)
}

// TestRelayPendingCap: what a client sends before its backend leg exists
// is capped; past MaxPending the session is closed, counted.
func TestRelayPendingCap(t *testing.T) {
	hole, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{Backend: hole.LocalAddr().String(), MaxPending: 8 << 10})
	p := newPlayer(1)
	c := dial(t, g.relay.Server().Addr().String(), p)
	// 16 KiB against an 8 KiB cap: the relay closes the session part way,
	// and its SessionDisconnect may be in before the last sends, which are
	// then refused as a closed session's.
	for k := range 4 {
		if err := c.Send(0, message(0, 0, k, 4096), true); err != nil {
			if k < 2 || !errors.Is(err, eqgate.ErrNoSession) {
				t.Fatalf("send %d: %v", k, err)
			}
			break
		}
	}
	if r := await(t, p.closed, "the client's close"); r != eqgate.ClosePeer {
		t.Fatalf("client closed with %v, want peer", r)
	}
	if st := g.relay.Stats(); st.Ends[ReasonPendingFull] != 1 || st.PendingDrops != 1 {
		t.Fatalf("stats %+v: want one pending_full", st)
	}
}

// TestRelayImpairedClientLeg: with loss, duplication, reordering and
// corruption on the client leg (bench/impair between the players and the
// relay), every message comes back byte-exact and in order: 0 lost.
func TestRelayImpairedClientLeg(t *testing.T) {
	matrix := []struct {
		name string
		im   impair.Impairment
	}{
		{"loss", impair.Impairment{Loss: 0.05}},
		{"dup", impair.Impairment{Dup: 0.05}},
		{"reorder", impair.Impairment{Reorder: 0.1}},
		{"all", impair.Impairment{Loss: 0.03, Dup: 0.03, Reorder: 0.03, Corrupt: 0.01, Delay: time.Millisecond, Jitter: time.Millisecond}},
	}
	for i, m := range matrix {
		t.Run(m.name, func(t *testing.T) {
			fast := func(c eqgate.Config) eqgate.Config {
				c.ResendDelayMin, c.ResendDelayBase = 20*time.Millisecond, 10*time.Millisecond
				return c
			}
			be := newEchoBackend()
			bsrv, err := eqgate.Listen("127.0.0.1:0", testConfig(eqgate.EncodeNone), be)
			if err != nil {
				t.Fatal(err)
			}
			defer bsrv.Close()
			r, err := Listen("127.0.0.1:0", fast(testConfig(eqgate.EncodeCompress)), Config{
				Backend: bsrv.Addr().String(), MaxPending: 64 << 20, ShardBudget: 256 << 20,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			px, err := impair.StartProxy(impair.ProxyConfig{
				Listen: netip.MustParseAddrPort("127.0.0.1:0"), Upstream: r.Server().Addr(),
				Impair: m.im, Seed: int64(i + 1),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer px.Close()
			t.Logf("impairment %v, proxy seed %d", m.im, i+1)
			echoThroughConfig(t, px.Addr().String(), 4, []int{1, 12, 200, 512, 1400, 4000, 16 << 10}, fast(eqgate.Config{MaxQueuedBytes: 64 << 20}))
			st := px.Stats()
			if st.Up.Dropped+st.Down.Dropped+st.Up.Duplicated+st.Down.Duplicated+st.Up.Corrupted+st.Down.Corrupted == 0 && m.im.Reorder == 0 {
				t.Errorf("proxy %v impaired nothing", st)
			}
		})
	}
}

// TestRelayNoAllocs: relaying a message, either way and reliable or not,
// allocates nothing in steady state: the handler's lookup and the leg's
// synchronous send, measured on the shard goroutine with both legs up.
// Each round sends a few messages each way and lets their acks come back,
// so that the buffers in flight are the pools' own (a send window growing
// inside one callback would be growth, not steady state).
func TestRelayNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g := newRig(t, eqgate.EncodeNone, eqgate.EncodeNone, Config{})
	p := newPlayer(1)
	c := dial(t, g.relay.Server().Addr().String(), p)
	if err := c.Send(0, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	await(t, p.done, "the echo")
	msg := message(0, 0, 0, 64)
	srv := g.relay.Server()
	var pr *pair
	shardOf := -1
	for i := range srv.Shards() {
		got := make(chan *pair, 1)
		if err := srv.Post(i, func() {
			for _, x := range g.relay.shards[i].pairs {
				got <- x
				return
			}
			got <- nil
		}); err != nil {
			t.Fatal(err)
		}
		if x := await(t, got, "the shard"); x != nil {
			pr, shardOf = x, i
		}
	}
	if pr == nil {
		t.Fatal("no pair")
	}
	const runs = 8 // +1: AllocsPerRun's warm-up call
	var up, down float64
	for round := range 4 {
		res := make(chan [2]float64, 1)
		if err := srv.Post(shardOf, func() {
			// AllocsPerRun divides by runs: stray allocations of other
			// goroutines stay under 1; one per message does not.
			u := testing.AllocsPerRun(runs, func() {
				g.relay.OnMessage(pr.client, 1, msg)
				g.relay.OnMessage(pr.client, -1, msg[:20])
			})
			d := testing.AllocsPerRun(runs, func() {
				(*backendLeg)(pr).OnMessage(pr.leg, 2, msg)
				(*backendLeg)(pr).OnMessage(pr.leg, -1, msg[:20])
			})
			res <- [2]float64{u, d}
		}); err != nil {
			t.Fatal(err)
		}
		r := await(t, res, "the measurement")
		up, down = r[0], r[1]
		// Every reliable message reaches the player (stream 1 through the
		// backend's echo, stream 2 straight), so every ack has come back.
		want := (round + 1) * (runs + 1)
		for deadline := time.Now().Add(wait); ; {
			p.mu.Lock()
			n1, n2 := len(p.got[1]), len(p.got[2])
			p.mu.Unlock()
			if n1 >= want && n2 >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d and %d messages back on streams 1 and 2, want %d", round, n1, n2, want)
			}
			time.Sleep(time.Millisecond) // polling a condition, bounded above
		}
	}
	if up != 0 || down != 0 {
		t.Errorf("allocations per relayed pair of messages (steady state): %v to the backend, %v to the client; want 0", up, down)
	}
	if st := g.relay.Stats(); st.Active != 1 {
		t.Errorf("the pair ended: %+v", st)
	}
}

// TestRelayBackendRTT: the backend legs' steady-state RTT is sampled from
// their sessions: with 25 ms added each way between the relay and the
// backend the samples sit above 50 ms, and once the delay goes they fall
// under 20 ms.
func TestRelayBackendRTT(t *testing.T) {
	be := newEchoBackend()
	bsrv, err := eqgate.Listen("127.0.0.1:0", testConfig(eqgate.EncodeNone), be)
	if err != nil {
		t.Fatal(err)
	}
	defer bsrv.Close()
	px, err := impair.StartProxy(impair.ProxyConfig{
		Listen: netip.MustParseAddrPort("127.0.0.1:0"), Upstream: bsrv.Addr(),
		Impair: impair.Impairment{Delay: 25 * time.Millisecond}, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	r, err := Listen("127.0.0.1:0", testConfig(eqgate.EncodeNone), Config{Backend: px.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := newPlayer(1 << 30)
	c := dial(t, r.Server().Addr().String(), p)
	// One message at a time, each echoed before the next: every ack of
	// the backend leg is an RTT sample.
	sent := 0
	rounds := func(n int) {
		for range n {
			if err := c.Send(0, message(0, 0, sent, 100), true); err != nil {
				t.Fatal(err)
			}
			sent++
			for deadline := time.Now().Add(wait); ; {
				p.mu.Lock()
				got := len(p.got[0])
				p.mu.Unlock()
				if got == sent {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("echo %d did not come back", sent)
				}
				time.Sleep(time.Millisecond) // polling a condition, bounded above
			}
		}
	}
	// below counts samples at or under d.
	below := func(h RTTHistogram, d time.Duration) uint64 {
		var n uint64
		for i, b := range h.Bounds {
			if b <= d {
				n += h.Counts[i]
			}
		}
		return n
	}
	rounds(8)
	h1 := r.Stats().BackendRTT
	if h1.Count == 0 || below(h1, 20*time.Millisecond) != 0 || h1.Mean() < 50*time.Millisecond {
		t.Fatalf("delayed: %d samples, %d at or under 20 ms, mean %v; want samples, all above 50 ms", h1.Count, below(h1, 20*time.Millisecond), h1.Mean())
	}
	px.Calm()
	rounds(8)
	h2 := r.Stats().BackendRTT
	if h2.Count <= h1.Count || below(h2, 20*time.Millisecond) == 0 {
		t.Fatalf("calm: %d samples (%d before), %d at or under 20 ms; want new ones under 20 ms", h2.Count, h1.Count, below(h2, 20*time.Millisecond))
	}
	t.Logf("delayed: %d samples, mean %v; then %d more", h1.Count, h1.Mean(), h2.Count-h1.Count)
}

// TestRelayLegParams: each leg negotiates its own CRC and maximum packet:
// a client leg with a 4-byte CRC and 1400-byte packets, a backend leg with
// no CRC and the 512 the backend allows, and messages still come back
// byte-exact.
func TestRelayLegParams(t *testing.T) {
	rcfg, bcfg := testConfig(eqgate.EncodeXOR), testConfig(eqgate.EncodeCompress)
	rcfg.CRCBytes, rcfg.MaxPacketSize = 4, 1400
	bcfg.CRCBytes, bcfg.MaxPacketSize = -1, 512
	g := newRigConfig(t, rcfg, bcfg, Config{})
	pc := eqgate.Config{MaxQueuedBytes: 64 << 20, CRCBytes: 4, MaxPacketSize: 1400}
	echoThroughConfig(t, g.relay.Server().Addr().String(), 2, []int{1, 500, 1400, 4000}, pc)
	ss, err := g.relay.Server().Sessions(t.Context(), eqgate.SessionQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type legParams struct{ crc, maxPacket int }
	got := map[legParams]int{}
	for _, s := range ss {
		got[legParams{s.Wire.CRCBytes, s.Wire.MaxPacket}]++
	}
	if got[legParams{4, 1400}] != 2 || got[legParams{0, 512}] != 2 {
		t.Fatalf("relay sessions by (CRC bytes, max packet) %v: want 2 client legs (4, 1400) and 2 backend legs (0, 512)", got)
	}
}
