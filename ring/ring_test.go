package ring

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// queue is the surface shared by SPSC and MPSC, so behaviour tables run
// against both.
type queue[T any] interface {
	Push(T) bool
	Pop() (T, bool)
	PopN([]T) int
	Len() int
	Empty() bool
	Cap() int
}

var (
	_ queue[int] = (*SPSC[int])(nil)
	_ queue[int] = (*MPSC[int])(nil)
)

type kind struct {
	name string
	make func(capacity int) queue[int]
}

var kinds = []kind{
	{"SPSC", func(n int) queue[int] { return NewSPSC[int](n) }},
	{"MPSC", func(n int) queue[int] { return NewMPSC[int](n) }},
}

func TestRoundCap(t *testing.T) {
	tests := []struct {
		name string
		in   int
		want int
	}{
		{"one", 1, 2}, // a slot's states need two slots to be distinct
		{"two", 2, 2},
		{"three", 3, 4},
		{"five", 5, 8},
		{"pow2", 1024, 1024},
		{"pow2+1", 1025, 2048},
		{"max", maxCap, maxCap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundCap(tc.in); got != tc.want {
				t.Fatalf("roundCap(%d) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
	for _, k := range kinds {
		t.Run(k.name+"/Cap", func(t *testing.T) {
			if got := k.make(100).Cap(); got != 128 {
				t.Fatalf("Cap() = %d, want 128", got)
			}
		})
	}

}

func TestBadCapacityPanics(t *testing.T) {
	for _, n := range []int{0, -1, maxCap + 1} {
		for _, k := range kinds {
			t.Run(k.name, func(t *testing.T) {
				defer func() {
					if recover() == nil {
						t.Fatalf("capacity %d: no panic", n)
					}
				}()
				k.make(n)
			})
		}
	}
}

// step is one operation of a behaviour script. For push, v is pushed and ok
// is the expected result. For pop, v and ok are the expected results. For
// popn, n is len(dst) and want the expected values. wantLen is checked after
// every step.
type step struct {
	op      string
	v       int
	ok      bool
	n       int
	want    []int
	wantLen int
}

func TestBehaviour(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		steps    []step
	}{
		{
			name:     "empty pop",
			capacity: 4,
			steps: []step{
				{op: "pop", v: 0, ok: false, wantLen: 0},
				{op: "popn", n: 3, want: []int{}, wantLen: 0},
			},
		},
		{
			name:     "fifo",
			capacity: 4,
			steps: []step{
				{op: "push", v: 1, ok: true, wantLen: 1},
				{op: "push", v: 2, ok: true, wantLen: 2},
				{op: "push", v: 3, ok: true, wantLen: 3},
				{op: "pop", v: 1, ok: true, wantLen: 2},
				{op: "pop", v: 2, ok: true, wantLen: 1},
				{op: "pop", v: 3, ok: true, wantLen: 0},
				{op: "pop", v: 0, ok: false, wantLen: 0},
			},
		},
		{
			name:     "full rejects and keeps contents",
			capacity: 3, // rounds to 4
			steps: []step{
				{op: "push", v: 1, ok: true, wantLen: 1},
				{op: "push", v: 2, ok: true, wantLen: 2},
				{op: "push", v: 3, ok: true, wantLen: 3},
				{op: "push", v: 4, ok: true, wantLen: 4},
				{op: "push", v: 5, ok: false, wantLen: 4},
				{op: "push", v: 6, ok: false, wantLen: 4},
				{op: "pop", v: 1, ok: true, wantLen: 3},
				{op: "push", v: 7, ok: true, wantLen: 4},
				{op: "push", v: 8, ok: false, wantLen: 4},
				{op: "popn", n: 8, want: []int{2, 3, 4, 7}, wantLen: 0},
			},
		},
		{
			name:     "capacity one rounds to two",
			capacity: 1,
			steps: []step{
				{op: "push", v: 1, ok: true, wantLen: 1},
				{op: "push", v: 2, ok: true, wantLen: 2},
				{op: "push", v: 3, ok: false, wantLen: 2},
				{op: "pop", v: 1, ok: true, wantLen: 1},
				{op: "push", v: 4, ok: true, wantLen: 2},
				{op: "push", v: 5, ok: false, wantLen: 2},
				{op: "popn", n: 4, want: []int{2, 4}, wantLen: 0},
				{op: "pop", v: 0, ok: false, wantLen: 0},
			},
		},
		{
			name:     "popn with empty dst",
			capacity: 2,
			steps: []step{
				{op: "push", v: 1, ok: true, wantLen: 1},
				{op: "popn", n: 0, want: []int{}, wantLen: 1},
				{op: "pop", v: 1, ok: true, wantLen: 0},
			},
		},
	}
	for _, k := range kinds {
		for _, tc := range tests {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				q := k.make(tc.capacity)
				for i, s := range tc.steps {
					switch s.op {
					case "push":
						if ok := q.Push(s.v); ok != s.ok {
							t.Fatalf("step %d: Push(%d) = %v, want %v", i, s.v, ok, s.ok)
						}
					case "pop":
						v, ok := q.Pop()
						if v != s.v || ok != s.ok {
							t.Fatalf("step %d: Pop() = %d, %v, want %d, %v", i, v, ok, s.v, s.ok)
						}
					case "popn":
						dst := make([]int, s.n)
						n := q.PopN(dst)
						if n != len(s.want) {
							t.Fatalf("step %d: PopN(len %d) = %d, want %d", i, s.n, n, len(s.want))
						}
						for j := range s.want {
							if dst[j] != s.want[j] {
								t.Fatalf("step %d: PopN dst = %v, want %v", i, dst[:n], s.want)
							}
						}
					default:
						t.Fatalf("bad op %q", s.op)
					}
					if got := q.Len(); got != s.wantLen {
						t.Fatalf("step %d (%s): Len() = %d, want %d", i, s.op, got, s.wantLen)
					}
				}
			})
		}
	}
}

// TestModel drives each ring with a random single-goroutine operation
// sequence and compares it against a slice-backed FIFO of the same capacity.
// Small capacities make every index wrap many times.
func TestModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, k := range kinds {
		for _, requested := range []int{1, 2, 8, 16} {
			rng := rand.New(rand.NewPCG(seed, uint64(requested)))
			q := k.make(requested)
			capacity := q.Cap()
			var model []int
			next := 0
			dst := make([]int, 2*capacity+1)
			for i := range 20000 {
				switch op := rng.IntN(3); op {
				case 0:
					ok := q.Push(next)
					want := len(model) < capacity
					if ok != want {
						t.Fatalf("%s cap %d op %d: Push = %v, want %v", k.name, capacity, i, ok, want)
					}
					if ok {
						model = append(model, next)
					}
					next++
				case 1:
					v, ok := q.Pop()
					if ok != (len(model) > 0) {
						t.Fatalf("%s cap %d op %d: Pop ok = %v with %d queued", k.name, capacity, i, ok, len(model))
					}
					if ok {
						if v != model[0] {
							t.Fatalf("%s cap %d op %d: Pop = %d, want %d", k.name, capacity, i, v, model[0])
						}
						model = model[1:]
					}
				case 2:
					m := rng.IntN(len(dst) + 1)
					n := q.PopN(dst[:m])
					want := min(m, len(model))
					if n != want {
						t.Fatalf("%s cap %d op %d: PopN(%d) = %d, want %d", k.name, capacity, i, m, n, want)
					}
					for j := range n {
						if dst[j] != model[j] {
							t.Fatalf("%s cap %d op %d: PopN[%d] = %d, want %d", k.name, capacity, i, j, dst[j], model[j])
						}
					}
					model = model[n:]
				}
				if q.Len() != len(model) {
					t.Fatalf("%s cap %d op %d: Len = %d, want %d", k.name, capacity, i, q.Len(), len(model))
				}
				if q.Empty() != (len(model) == 0) {
					t.Fatalf("%s cap %d op %d: Empty = %v with %d queued", k.name, capacity, i, q.Empty(), len(model))
				}
			}
		}
	}
}

// TestPopClearsSlots checks that popped slots no longer reference the value,
// so a ring never keeps a consumer's garbage alive.
func TestPopClearsSlots(t *testing.T) {
	vals := make([]*int, 4)
	for i := range vals {
		vals[i] = new(int)
	}
	t.Run("SPSC", func(t *testing.T) {
		r := NewSPSC[*int](4)
		for _, p := range vals {
			r.Push(p)
		}
		r.Pop()
		r.PopN(make([]*int, 3))
		for i := range r.slots {
			if r.slots[i].val != nil {
				t.Fatalf("slot %d still holds a pointer", i)
			}
		}
	})
	t.Run("MPSC", func(t *testing.T) {
		r := NewMPSC[*int](4)
		for _, p := range vals {
			r.Push(p)
		}
		r.Pop()
		r.PopN(make([]*int, 3))
		for i := range r.slots {
			if r.slots[i].val != nil {
				t.Fatalf("slot %d still holds a pointer", i)
			}
		}
	})
}

// TestLayout checks that indices written by different goroutines do not
// share a cache line (or an adjacent-line prefetch pair).
func TestLayout(t *testing.T) {
	var s SPSC[int]
	var m MPSC[int]
	tests := []struct {
		name string
		a, b uintptr
	}{
		{"SPSC tail/head", unsafe.Offsetof(s.tail), unsafe.Offsetof(s.head)},
		{"SPSC head/buf", unsafe.Offsetof(s.head), unsafe.Offsetof(s.slots)},
		{"MPSC tail/head", unsafe.Offsetof(m.tail), unsafe.Offsetof(m.head)},
		{"MPSC head/slots", unsafe.Offsetof(m.head), unsafe.Offsetof(m.slots)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.b-tc.a < cacheLine {
				t.Fatalf("offsets %d and %d are %d bytes apart, want >= %d", tc.a, tc.b, tc.b-tc.a, cacheLine)
			}
		})
	}
	if got := unsafe.Offsetof(s.tail); got < cacheLine {
		t.Fatalf("SPSC tail at offset %d shares a line with whatever precedes the ring", got)
	}
	if got := unsafe.Sizeof(s) - unsafe.Offsetof(s.mask); got < cacheLine {
		t.Fatalf("SPSC trailing pad %d < %d", got, cacheLine)
	}
}

// stressCount returns how many values each producer sends: enough to wrap a
// small ring thousands of times, fewer under the (slow) race detector.
func stressCount() int {
	if raceEnabled {
		return 20_000
	}
	return 200_000
}

// encode packs a producer id and its sequence number into one value.
func encode(p, i int) uint64 { return uint64(p)<<32 | uint64(i) }

// TestMPSCStress runs several producers against one consumer and checks that
// every value arrives exactly once and in per-producer order, and that Len
// stays within [0, Cap].
func TestMPSCStress(t *testing.T) {
	const producers = 4
	per := stressCount()
	r := NewMPSC[uint64](64) // small: producers hit full often
	var wg sync.WaitGroup
	fulls := make([]int, producers)
	for p := range producers {
		wg.Go(func() {
			for i := 0; i < per; {
				if r.Push(encode(p, i)) {
					i++
					continue
				}
				fulls[p]++
				runtime.Gosched()
			}
		})
	}
	next := make([]int, producers)
	dst := make([]uint64, 16)
	got, empty := 0, 0
	for round := 0; got < producers*per; round++ {
		var n int
		if round%2 == 0 {
			n = r.PopN(dst)
		} else if v, ok := r.Pop(); ok {
			dst[0], n = v, 1
		}
		if n == 0 {
			empty++
			runtime.Gosched()
			continue
		}
		for _, v := range dst[:n] {
			p, i := int(v>>32), int(uint32(v))
			if p >= producers {
				t.Fatalf("value %#x from unknown producer %d", v, p)
			}
			if i != next[p] {
				t.Fatalf("producer %d: got seq %d, want %d (lost, duplicated or reordered)", p, i, next[p])
			}
			next[p]++
		}
		got += n
		if l := r.Len(); l < 0 || l > r.Cap() {
			t.Fatalf("Len() = %d outside [0, %d]", l, r.Cap())
		}
	}
	wg.Wait()
	if v, ok := r.Pop(); ok {
		t.Fatalf("extra value %#x after all %d arrived", v, got)
	}
	t.Logf("%d values, consumer empty polls %d, producer full retries %v", got, empty, fulls)
}

// TestSPSCStress runs one producer against one consumer across goroutines
// and checks order, completeness and Len bounds.
func TestSPSCStress(t *testing.T) {
	total := 4 * stressCount()
	r := NewSPSC[uint64](64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; {
			if r.Push(uint64(i)) {
				i++
				continue
			}
			runtime.Gosched()
		}
	}()
	dst := make([]uint64, 16)
	next := uint64(0)
	for round := 0; next < uint64(total); round++ {
		var n int
		if round%2 == 0 {
			n = r.PopN(dst)
		} else if v, ok := r.Pop(); ok {
			dst[0], n = v, 1
		}
		if n == 0 {
			runtime.Gosched()
			continue
		}
		for _, v := range dst[:n] {
			if v != next {
				t.Fatalf("got %d, want %d", v, next)
			}
			next++
		}
		if l := r.Len(); l < 0 || l > r.Cap() {
			t.Fatalf("Len() = %d outside [0, %d]", l, r.Cap())
		}
	}
	<-done
	if v, ok := r.Pop(); ok {
		t.Fatalf("extra value %d", v)
	}
}

// msg is a payload written by the producer before Push and read by the
// consumer after Pop: under -race this checks the rings' happens-before
// edges cover the memory a pushed pointer refers to.
type msg struct {
	p, i int
	data [32]byte
}

func TestPublishesPayload(t *testing.T) {
	const producers = 3
	per := stressCount() / 10
	check := func(t *testing.T, push func(*msg) bool, pop func() (*msg, bool), n int) {
		next := make([]int, producers)
		for got := 0; got < n; {
			m, ok := pop()
			if !ok {
				runtime.Gosched()
				continue
			}
			if m.i != next[m.p] {
				t.Fatalf("producer %d: seq %d, want %d", m.p, m.i, next[m.p])
			}
			for _, b := range m.data {
				if b != byte(m.i) {
					t.Fatalf("payload of %d/%d not visible: %v", m.p, m.i, m.data)
				}
			}
			next[m.p]++
			got++
		}
	}
	produce := func(p int, push func(*msg) bool) {
		for i := 0; i < per; i++ {
			m := &msg{p: p, i: i}
			for j := range m.data {
				m.data[j] = byte(i)
			}
			for !push(m) {
				runtime.Gosched()
			}
		}
	}
	t.Run("MPSC", func(t *testing.T) {
		r := NewMPSC[*msg](16)
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() { produce(p, r.Push) })
		}
		check(t, r.Push, r.Pop, producers*per)
		wg.Wait()
	})
	t.Run("SPSC", func(t *testing.T) {
		r := NewSPSC[*msg](16)
		var wg sync.WaitGroup
		wg.Go(func() { produce(0, r.Push) })
		check(t, r.Push, r.Pop, per)
		wg.Wait()
	})
}

var (
	sinkInt  int
	sinkBool bool
	sinkItem item
)

// item is a realistic inbox element: a handle-sized value plus a pointer.
type item struct {
	h   uint32
	_   int // a length's worth of payload, for a realistic element size
	ptr *[64]byte
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	buf := new([64]byte)
	dst := make([]item, 8)
	s := NewSPSC[item](16)
	m := NewMPSC[item](16)
	tests := []struct {
		name string
		fn   func()
	}{
		{"SPSC Push/Pop", func() {
			sinkBool = s.Push(item{h: 1, ptr: buf})
			sinkItem, sinkBool = s.Pop()
		}},
		{"SPSC Push/PopN", func() {
			s.Push(item{h: 1, ptr: buf})
			s.Push(item{h: 2, ptr: buf})
			sinkInt = s.PopN(dst)
		}},
		{"SPSC Pop empty", func() { sinkItem, sinkBool = s.Pop() }},
		{"MPSC Push/Pop", func() {
			sinkBool = m.Push(item{h: 1, ptr: buf})
			sinkItem, sinkBool = m.Pop()
		}},
		{"MPSC Push/PopN", func() {
			m.Push(item{h: 1, ptr: buf})
			m.Push(item{h: 2, ptr: buf})
			sinkInt = m.PopN(dst)
		}},
		{"MPSC Pop empty", func() { sinkItem, sinkBool = m.Pop() }},
		{"Len", func() { sinkInt = s.Len() + m.Len() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a := testing.AllocsPerRun(1000, tc.fn); a != 0 {
				t.Fatalf("%v allocs per run, want 0", a)
			}
		})
	}
}

// TestMPSCClaimedNotWritten simulates a producer descheduled between claiming
// a slot and writing it: later values stay hidden (no skipping, so
// per-producer order holds) until it publishes.
func TestMPSCClaimedNotWritten(t *testing.T) {
	r := NewMPSC[int](4)
	pos := r.tail.Add(1) - 1 // the slow producer's claim, step one of Push
	if !r.Push(2) {
		t.Fatal("Push after a claim failed")
	}
	if got := r.Len(); got != 2 {
		t.Fatalf("Len() = %d, want 2 (claimed slots count)", got)
	}
	if !r.Empty() {
		t.Fatal("Empty() = false: nothing is poppable before the claimed slot is written")
	}
	if v, ok := r.Pop(); ok {
		t.Fatalf("Pop() = %d before the claimed slot was written", v)
	}
	if n := r.PopN(make([]int, 4)); n != 0 {
		t.Fatalf("PopN = %d before the claimed slot was written", n)
	}
	// Step two of the slow producer's Push.
	slot := &r.slots[pos&r.mask]
	slot.val = 1
	slot.seq.Store(pos + 1)
	dst := make([]int, 4)
	if n := r.PopN(dst); n != 2 || dst[0] != 1 || dst[1] != 2 {
		t.Fatalf("PopN = %d %v, want 2 [1 2]", n, dst)
	}
}
