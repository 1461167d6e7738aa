package proto

import (
	"testing"
	"time"
)

func TestRings(t *testing.T) {
	var r rings[sentEntry]
	size := r.entry()
	a := r.get(8)
	if len(a) != 8 {
		t.Fatalf("get(8): %d entries", len(a))
	}
	a[3] = sentEntry{buf: make([]byte, 4), times: 2}
	r.put(a)
	if n, b := r.held(); n != 1 || b != 8*size {
		t.Fatalf("held %d rings, %d bytes after one put", n, b)
	}
	b := r.get(8)
	if &b[0] != &a[0] {
		t.Fatal("get did not reuse the ring put back")
	}
	if e := b[3]; e.buf != nil || e.times != 0 {
		t.Fatalf("reused ring not zeroed: %+v", e)
	}
	if c := r.get(16); len(c) != 16 {
		t.Fatalf("get(16): %d entries", len(c))
	}
	r.put(make([]sentEntry, 12))        // not a power of two: not kept
	r.put(make([]sentEntry, 2*maxRing)) // past the largest class
	r.put(nil)
	r.put(make([]sentEntry, maxRing)) // the largest class
	if n, _ := r.held(); n != 1 {
		t.Fatalf("kept %d rings, want only the maxRing one", n)
	}
	r.get(maxRing)
	if n, by := r.held(); n != 0 || by != 0 || r.bytes != 0 {
		t.Fatalf("held %d rings, %d bytes (counted %d) after taking all back", n, by, r.bytes)
	}
	// The cap is on all lengths together: 16-entry rings fill it, and then
	// not even an 8-entry one is kept.
	keep := ringKeep / (16 * size)
	for range keep + 10 {
		r.put(make([]sentEntry, 16))
	}
	r.put(make([]sentEntry, 8))
	if n, by := r.held(); n != keep || by > ringKeep || by != r.bytes {
		t.Fatalf("held %d rings (%d bytes, counted %d), want the cap's %d", n, by, r.bytes, keep)
	}
}

// TestIdleCycleNoAllocs: a session that sends only after idling past
// IdleRelease (a message every few seconds) hands its rings back in
// between and takes them again without allocating, on both ends: the sent
// rings, and with reorder the server's reorder ring (two datagrams that
// arrive swapped).
func TestIdleCycleNoAllocs(t *testing.T) {
	for _, reorder := range []bool{false, true} {
		name := map[bool]string{false: "in-order", true: "reordered"}[reorder]
		t.Run(name, func(t *testing.T) {
			r := newPairRig(t, DefaultConfig())
			idle := func() {
				if reorder {
					for range 2 {
						if err := r.c.s.Send(&r.c.env, r.now, 0, r.msg, true); err != nil {
							t.Fatal(err)
						}
						r.c.s.Flush(&r.c.env, r.now)
					}
					if r.c.sink.n != 2 {
						t.Fatalf("client sent %d datagrams, want 2", r.c.sink.n)
					}
					q := r.c.sink.q
					q[0], q[1] = q[1], q[0]
					want := r.c.got + 2
					for i := 0; r.c.got < want; i++ {
						if i > 100 {
							t.Fatal("echoes did not arrive")
						}
						r.round()
					}
				} else {
					r.step(t)
				}
				for range 2 { // the held acks cross after the first jump; then quiet
					r.now += Nanotime(DefaultConfig().IdleRelease + time.Second)
					r.round()
				}
			}
			for range 4 {
				idle()
			}
			for _, e := range []*pairEnd{&r.c, &r.sv} {
				if st := &e.s.streams[0]; st.sent != nil || st.reorder != nil {
					t.Fatal("an idle session kept a ring: the test does not cover the release")
				}
			}
			if n, _ := r.sv.env.sent.held(); n == 0 {
				t.Fatal("the server's Env keeps no sent ring after an idle release")
			}
			if n, _ := r.sv.env.reorder.held(); reorder && n == 0 {
				t.Fatal("the server's Env keeps no reorder ring: nothing arrived out of order")
			}
			if a := testing.AllocsPerRun(200, idle); a != 0 {
				t.Fatalf("%.1f allocations per idle cycle", a)
			}
		})
	}
}
