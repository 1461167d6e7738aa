package proto

import (
	"testing"
	"time"

	"github.com/eqgate/eqgate/pool"
)

// pairSink queues datagrams for the other end of a pair.
type pairSink struct {
	buf []byte
	q   [][]byte
	n   int
}

func (k *pairSink) Buffer() []byte {
	if k.buf == nil {
		k.buf = make([]byte, 0, MaxDatagram)
	}
	return k.buf[:0]
}

func (k *pairSink) Send(d []byte) {
	if k.n == len(k.q) {
		k.q = append(k.q, nil)
	}
	k.q[k.n] = append(k.q[k.n][:0], d...)
	k.n++
}

type pairEnd struct {
	s    Session
	env  Env
	sink pairSink
	pool pool.Sized
	h    echoHandler
	got  int
}

// countHandler counts deliveries (the client end).
type countHandler struct{ n *int }

func (h countHandler) Opened(*Session)               {}
func (h countHandler) Deliver(*Session, int, []byte) { *h.n++ }
func (h countHandler) Closed(*Session, CloseReason)  {}

// pairRig is an eqgate client and server session of one variant joined in
// memory: a step is one 64-byte message from the client, echoed by the
// server, both ends' Receive, Flush and Tick included.
type pairRig struct {
	c, sv pairEnd
	now   Nanotime
	msg   []byte
}

func newPairRig(t testing.TB, cfg Config) *pairRig {
	cfg.EQ2.CombineDelay = -1 // prepare at once: the cost, not the 250 ms wait
	c := mustCfg(t, cfg)
	r := &pairRig{now: Nanotime(time.Second), msg: make([]byte, 64)}
	for i := range r.msg {
		r.msg[i] = byte(i + 1)
	}
	for _, e := range []*pairEnd{&r.c, &r.sv} {
		e.env = Env{Coder: &Coder{}, Sink: &e.sink, Alloc: &e.pool}
	}
	r.c.env.Handler = countHandler{&r.c.got}
	r.sv.env.Handler = &r.sv.h
	r.sv.h.env = &r.sv.env
	if err := r.c.s.InitClient(c, 7, r.now); err != nil {
		t.Fatal(err)
	}
	r.c.s.Tick(&r.c.env, r.now)
	if err := r.sv.s.InitServer(c, 0x12345678, r.now); err != nil {
		t.Fatal(err)
	}
	for range 20 { // handshake, stat request, key exchange
		r.round()
	}
	if r.c.s.State() != StateConnected || r.sv.s.State() != StateConnected {
		t.Fatal("pair did not connect")
	}
	return r
}

// round moves every queued datagram across once and runs both ends' timers.
func (r *pairRig) round() {
	r.now += Nanotime(time.Millisecond)
	r.sv.h.now = r.now
	for _, x := range [][2]*pairEnd{{&r.c, &r.sv}, {&r.sv, &r.c}} {
		from, to := x[0], x[1]
		n := from.sink.n
		from.sink.n = 0
		for _, d := range from.sink.q[:n] {
			to.s.Receive(&to.env, r.now, d)
		}
		to.s.Flush(&to.env, r.now)
		to.s.Tick(&to.env, r.now)
	}
}

func (r *pairRig) step(t testing.TB) {
	if err := r.c.s.Send(&r.c.env, r.now, 0, r.msg, true); err != nil {
		t.Fatal(err)
	}
	r.c.s.Flush(&r.c.env, r.now)
	want := r.c.got + 1
	for i := 0; r.c.got < want; i++ {
		if i > 100 {
			t.Fatal("echo did not arrive")
		}
		r.round()
	}
}

// BenchmarkVariantEchoPair is the CPU of one 64-byte message and its echo
// through both ends of each variant (EQ2 with RC4 and the application
// layer on; its payloads are under the 128-byte deflate threshold).
func BenchmarkVariantEchoPair(b *testing.B) {
	for _, v := range []Variant{VariantRS, VariantLegacy, VariantEQ2} {
		b.Run(v.String(), func(b *testing.B) {
			r := newPairRig(b, ConfigFor(v))
			for range 200 {
				r.step(b)
			}
			b.ReportAllocs()
			b.SetBytes(64)
			for b.Loop() {
				r.step(b)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
