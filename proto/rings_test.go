package proto

import (
	"testing"
	"time"
)

func TestSentRings(t *testing.T) {
	var r sentRings
	a := r.get(8)
	if len(a) != 8 {
		t.Fatalf("get(8): %d entries", len(a))
	}
	a[3] = sentEntry{buf: make([]byte, 4), times: 2}
	r.put(a)
	if n, b := r.held(); n != 1 || b != 8*sentSize {
		t.Fatalf("held %d rings, %d bytes after one put", n, b)
	}
	b := r.get(8)
	if &b[0] != &a[0] {
		t.Fatal("get did not reuse the ring put back")
	}
	if e := b[3]; e.buf != nil || e.times != 0 {
		t.Fatalf("reused ring not zeroed: %+v", b[3])
	}
	if c := r.get(16); len(c) != 16 {
		t.Fatalf("get(16): %d entries", len(c))
	}
	r.put(make([]sentEntry, 12))   // not a power of two: not kept
	r.put(make([]sentEntry, 8192)) // past the largest class
	r.put(nil)
	if n, _ := r.held(); n != 0 {
		t.Fatalf("kept %d rings it should have dropped", n)
	}
	keep := ringKeep / (8 * sentSize)
	for range keep + 10 {
		r.put(make([]sentEntry, 8))
	}
	if n, by := r.held(); n != keep || by > ringKeep {
		t.Fatalf("held %d rings (%d bytes), want the cap %d", n, by, keep)
	}
}

// TestIdleCycleNoAllocs: a session that sends a message only after idling
// past IdleRelease (one every few seconds) hands its rings back in between
// and takes them again without allocating, on both ends.
func TestIdleCycleNoAllocs(t *testing.T) {
	r := newPairRig(t, DefaultConfig())
	idle := func() {
		r.step(t)
		for range 2 { // the held acks cross after the first jump; then quiet
			r.now += Nanotime(DefaultConfig().IdleRelease + time.Second)
			r.round()
		}
	}
	for range 4 {
		idle()
	}
	for _, e := range []*pairEnd{&r.c, &r.sv} {
		if e.s.streams[0].sent != nil {
			t.Fatal("an idle session kept its sent ring: the test does not cover the release")
		}
	}
	if n, _ := r.sv.env.rings.held(); n == 0 {
		t.Fatal("the server's Env keeps no ring after an idle release")
	}
	if a := testing.AllocsPerRun(200, idle); a != 0 {
		t.Fatalf("%.1f allocations per idle cycle", a)
	}
}
