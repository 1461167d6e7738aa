package shard

import (
	"errors"
	"os"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/proto"
)

// A socket error pauses the loop, doubling while errors repeat, up to the
// cap; a read that succeeds (data, a wake-up or the deadline) starts over.
func TestSocketErrorBackoff(t *testing.T) {
	g, _ := memGroup(t, 1, RoleServer, &echo{})
	s := g.Shard(0)
	var pauses []time.Duration
	s.pause = func(d time.Duration) { pauses = append(pauses, d) }
	kernel := errors.New("recvmmsg: cannot allocate memory")
	for range 8 {
		s.iterate(0, kernel)
	}
	want := []time.Duration{errPauseMin, 2 * errPauseMin, 4 * errPauseMin, 8 * errPauseMin, 16 * errPauseMin, 32 * errPauseMin, errPauseMax, errPauseMax}
	if !slices.Equal(pauses, want) || s.counters.LoopFatal.Load() != 8 {
		t.Fatalf("pauses %v (want %v), %d errors counted", pauses, want, s.counters.LoopFatal.Load())
	}
	for _, ok := range []error{os.ErrDeadlineExceeded, batchio.ErrWakeup, nil} {
		pauses = pauses[:0]
		s.iterate(0, ok)
		s.iterate(0, kernel)
		if !slices.Equal(pauses, []time.Duration{errPauseMin}) {
			t.Fatalf("after %v: pauses %v, want one of %v", ok, pauses, errPauseMin)
		}
	}
}

// The starvation pause doubles to its cap and starts over on reset.
func TestBackoff(t *testing.T) {
	b := backoff{min: starvePauseMin, max: starvePauseMax}
	var got []time.Duration
	for range 8 {
		got = append(got, b.next())
	}
	want := []time.Duration{20e3, 40e3, 80e3, 160e3, 320e3, 640e3, 1e6, 1e6}
	if !slices.Equal(got, want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	b.reset()
	if d := b.next(); d != starvePauseMin {
		t.Fatalf("after reset: %v", d)
	}
}

// One iteration runs at most maxInboxRounds batches of inbox work, and the
// loop does not sleep while work is left.
func TestInboxDrainBounded(t *testing.T) {
	g, _ := memGroupCfg(t, 1, Config{Role: RoleServer, Proto: proto.DefaultConfig(), InboxSize: 4096}, &echo{})
	s := g.Shard(0)
	const posted = 1000
	ran := 0
	for range posted {
		if err := s.Post(func() { ran++ }); err != nil {
			t.Fatal(err)
		}
	}
	per := maxInboxRounds * len(s.inboxBuf)
	for it := 1; ran < posted; it++ {
		step(s)
		if want := min(it*per, posted); ran != want {
			t.Fatalf("iteration %d: %d run, want %d", it, ran, want)
		}
		if ran < posted && !s.sleepUntil().Equal(pastDeadline) {
			t.Fatalf("iteration %d: would sleep with %d posts queued", it, posted-ran)
		}
		s.sleeping.Store(false)
	}
}

// Fields other goroutines read sit on cache lines (128-byte blocks) that
// no per-datagram write of the owner touches.
func TestShardLayout(t *testing.T) {
	var s Shard
	line := func(off uintptr) uintptr { return off / 128 }
	if unsafe.Offsetof(s.counters) != 0 {
		t.Error("counters not first: Counter alignment on 32-bit platforms")
	}
	first, last := unsafe.Offsetof(s.idx), unsafe.Offsetof(s.done)
	owner := map[string]uintptr{"cur": unsafe.Offsetof(s.cur), "now": unsafe.Offsetof(s.now),
		"txN": unsafe.Offsetof(s.txN), "rxN": unsafe.Offsetof(s.rxN), "dirty": unsafe.Offsetof(s.dirty)}
	shared := map[string]uintptr{"sleeping": unsafe.Offsetof(s.sleeping), "stop": unsafe.Offsetof(s.stop)}
	for name, off := range owner {
		if line(off) <= line(last) && line(off) >= line(first) || line(off) == line(shared["sleeping"]) {
			t.Errorf("%s (offset %d) shares a line with fields peers read", name, off)
		}
	}
	for name, off := range shared {
		if line(off) >= line(first) && line(off) <= line(last) {
			t.Errorf("%s (offset %d) shares a line with the read-only peer fields", name, off)
		}
	}
	if line(unsafe.Offsetof(s.counters.LoopFatal)) >= line(first) {
		t.Error("counters reach into the peer fields' lines")
	}
}
