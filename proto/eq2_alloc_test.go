package proto

import (
	"math/rand/v2"
	"testing"
)

// eq2Pipe keeps the payloads one side hands out, in reused buffers, so a
// test can feed them to the other side without allocating.
type eq2Pipe struct {
	bufs [][]byte
	n    int
	frag []bool
	max  int // max_packet_size, to tell fragmented payloads
}

func (p *eq2Pipe) EQ2Send(b []byte) {
	if p.n == len(p.bufs) {
		p.bufs = append(p.bufs, nil)
		p.frag = append(p.frag, false)
	}
	p.bufs[p.n] = append(p.bufs[p.n][:0], b...)
	p.frag[p.n] = EQ2Fragmented(len(b), p.max)
	p.n++
}

// EQ2SendFragmented keeps a forced fragment set as the receiver sees it
// once reassembled (as eqgate's EQ2 session sends it): one payload, marked
// fragmented. Without it a clear stream (K64 0) could not send a message
// EQ2EMu would misread, since fillers do not change clear bytes.
func (p *eq2Pipe) EQ2SendFragmented(b []byte) {
	p.EQ2Send(b)
	p.frag[p.n-1] = true
}

func (p *eq2Pipe) EQ2Deliver([]byte) {}

// drain hands every kept payload to a and empties the pipe.
func (p *eq2Pipe) drain(t testing.TB, a *EQ2App, c *EQ2Coder, ev EQ2Events) {
	for i := range p.n {
		if err := a.Receive(c, p.bufs[i], p.frag[i], ev); err != nil {
			t.Fatal(err)
		}
	}
	p.n = 0
}

// eq2Messages returns application packets of the given sizes: a small one,
// a deflated text one, and random ones that deflate to stored blocks.
func eq2Messages(sizes ...int) [][]byte {
	r := rand.New(rand.NewPCG(9, 10))
	var out [][]byte
	for i, n := range sizes {
		m := eq2Random(r, n)
		if i%2 == 1 {
			for j := range m {
				m[j] = "<eq2 s0 i1>"[j%11]
			}
		}
		m[0] = 0x12
		out = append(out, m)
	}
	return out
}

// TestEQ2NoAllocs: in steady state, preparing, combining, encrypting,
// deflating, sending, decrypting, inflating and delivering allocate
// nothing, in both directions.
func TestEQ2NoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cfg := DefaultEQ2Config()
	var sc, cc EQ2Coder
	srv := eq2KeyedServer(t, &cfg, &sc, eq2CaptureK64)
	cl := eq2KeyedClient(t, &cfg, &cc, eq2CaptureK64)
	cl.SetMaxPacket(512)
	msgs := eq2Messages(3, 300, 40, 1200, 600, 5, 5000)
	down := &eq2Pipe{max: 512}
	up := &eq2Pipe{max: 512}
	var sink eq2Sink
	now := Nanotime(0)
	round := func() {
		for _, m := range msgs {
			if err := srv.Send(&sc, now, m, down); err != nil {
				t.Fatal(err)
			}
			if err := cl.Send(&cc, now, m, up); err != nil {
				t.Fatal(err)
			}
		}
		now = srv.Next()
		for srv.Next() != Never {
			now = srv.Tick(&sc, srv.Next(), down)
		}
		down.drain(t, cl, &cc, &sink)
		up.drain(t, srv, &sc, &sink)
	}
	for range 10 {
		round() // grow every buffer to its steady size
	}
	before := sink.delivered
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Fatalf("%.1f allocations per round of %d messages each way", n, len(msgs))
	}
	if got := sink.delivered - before; got != 101*2*len(msgs) {
		t.Fatalf("delivered %d, want %d", got, 101*2*len(msgs))
	}
}
