package proto

import (
	"testing"

	"github.com/eqgate/eqgate/pool"
)

// nullSink counts datagrams and drops them.
type nullSink struct {
	buf   []byte
	n     int
	bytes int
}

func (k *nullSink) Buffer() []byte {
	if k.buf == nil {
		k.buf = make([]byte, 0, MaxDatagram)
	}
	return k.buf[:0]
}
func (k *nullSink) Send(d []byte) { k.n++; k.bytes += len(d) }

// echoHandler sends every delivered packet back reliably on stream 0.
type echoHandler struct {
	env *Env
	now Nanotime
	err error
}

func (h *echoHandler) Opened(*Session) {}
func (h *echoHandler) Deliver(s *Session, stream int, app []byte) {
	if err := s.Send(h.env, h.now, max(stream, 0), app, true); err != nil {
		h.err = err
	}
}
func (h *echoHandler) Closed(*Session, CloseReason) {}

// echoRig is a server session fed pre-built client datagrams: datagram i is
// OP_Combined[Ack(i−1), Packet(seq i, 64-byte app)], what a client sends
// when it acks the previous echo and sends the next message.
type echoRig struct {
	s      Session
	env    Env
	sink   nullSink
	h      echoHandler
	pool   pool.Sized
	dgrams [][]byte
	buf    []byte
	i      int
	now    Nanotime
}

func newEchoRig(t testing.TB, cfg Config, n int) *echoRig {
	c := mustCfg(t, cfg)
	r := &echoRig{}
	r.env = Env{Coder: &Coder{}, Sink: &r.sink, Handler: &r.h, Alloc: &r.pool}
	r.h.env = &r.env
	const key = 0x12345678
	if err := r.s.InitServer(c, key, 0); err != nil {
		t.Fatal(err)
	}
	r.s.Receive(&r.env, 0, SessionRequest{ProtocolVersion: 3, ConnectCode: 7, MaxPacketSize: 512}.AppendTo(nil))
	if r.s.State() != StateConnected || r.sink.n != 1 {
		t.Fatal("handshake failed")
	}
	p := r.s.Params()
	app := make([]byte, 64)
	for i := range app {
		app[i] = byte(i + 1)
	}
	var coder Coder
	n = min(n, 1<<16)
	r.dgrams = make([][]byte, n)
	for i := range n {
		var in []byte
		in = AppendCombinedHeader(in)
		in = AppendCombinedElement(in, AppendAck(nil, 0, Seq(i-1)))
		in = AppendCombinedElement(in, AppendPacket(nil, 0, Seq(i), app))
		r.dgrams[i] = coder.AppendEncode(&p, nil, in)
	}
	r.buf = make([]byte, MaxDatagram)
	return r
}

// step receives the next client datagram, echoes, acks and flushes.
func (r *echoRig) step() {
	d := r.dgrams[r.i&(len(r.dgrams)-1)]
	r.i++
	r.now += 1000
	r.h.now = r.now
	b := r.buf[:copy(r.buf, d)]
	r.s.Receive(&r.env, r.now, b)
	r.s.Flush(&r.env, r.now)
}

func TestSessionEchoNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"plain", DefaultConfig()}, {"zone_compress", ZoneConfig()}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEchoRig(t, tc.cfg, 1<<12)
			for range 2000 { // warm the pool and the rings
				r.step()
			}
			sent := r.sink.n
			allocs := testing.AllocsPerRun(1000, r.step)
			if allocs != 0 {
				t.Fatalf("%v allocations per echo", allocs)
			}
			if r.h.err != nil || r.sink.n-sent != 1001 || r.s.Stats().Delivered < 3001 {
				t.Fatalf("err %v, sent %d datagrams for 1001 echoes, delivered %d", r.h.err, r.sink.n-sent, r.s.Stats().Delivered)
			}
			if u := r.s.Unacked(); u > 2*(SeqHeaderLen+64) {
				t.Fatalf("unacked %d: acks not processed", u)
			}
		})
	}
}

func benchEcho(b *testing.B, cfg Config) {
	r := newEchoRig(b, cfg, 1<<16)
	for range 2000 {
		r.step()
	}
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		r.step()
	}
	if r.h.err != nil {
		b.Fatal(r.h.err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSessionEcho64 is one server-side cycle: receive a datagram with
// a 64-byte reliable message (and the client's ack of the previous echo),
// deliver it, echo it back reliably, ack, flush one Combined datagram.
func BenchmarkSessionEcho64(b *testing.B) { benchEcho(b, DefaultConfig()) }

// BenchmarkSessionEcho64Zone is the same with the zone compression pass.
func BenchmarkSessionEcho64Zone(b *testing.B) { benchEcho(b, ZoneConfig()) }
