package pool

import (
	"strings"
	"testing"
)

// mustPanic runs fn and fails unless it panics with a message containing
// want.
func mustPanic(t *testing.T, want string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one containing %q", want)
		}
		msg, _ := r.(string)
		if err, ok := r.(error); ok {
			msg = err.Error()
		}
		if !strings.Contains(msg, want) {
			t.Fatalf("panic %q, want one containing %q", msg, want)
		}
	}()
	fn()
}

var modes = []struct {
	name string
	opts Options
}{
	{"fast", Options{}},
	{"debug", Options{Debug: true}},
}

func TestNewRejectsBadSizes(t *testing.T) {
	tests := []struct {
		name          string
		size, buffers int
	}{
		{"zero size", 0, 4},
		{"negative size", -1, 4},
		{"zero capacity", 512, 0},
		{"too many buffers", 1, MaxCapacity + 1},
		{"slab overflows int", 1 << 62, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mustPanic(t, "pool: New", func() { New(tc.size, tc.buffers, Options{}) })
		})
	}
}

func TestPresets(t *testing.T) {
	tests := []struct {
		name string
		size int
		want int
	}{
		{"datagram", DatagramSize, 512},
		{"gro", GROSize, 65536},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.size, 2, Options{})
			h, ok := p.Get()
			if !ok {
				t.Fatal("Get failed on an empty pool")
			}
			if b := p.Bytes(h); len(b) != tc.want || cap(b) != tc.want {
				t.Fatalf("len %d cap %d, want %d", len(b), cap(b), tc.want)
			}
			if p.BufSize() != tc.want {
				t.Fatalf("BufSize() = %d, want %d", p.BufSize(), tc.want)
			}
		})
	}
}

// TestHardCap takes every buffer, checks the next Get misses and counts it,
// and that a Put makes room again.
func TestHardCap(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			const n = 5
			p := New(16, n, m.opts)
			if p.Cap() != n || p.InUse() != 0 {
				t.Fatalf("Cap %d InUse %d, want %d 0", p.Cap(), p.InUse(), n)
			}
			hs := make([]Handle, 0, n)
			for i := range n {
				h, ok := p.Get()
				if !ok {
					t.Fatalf("Get %d failed below the cap", i)
				}
				if h == 0 {
					t.Fatalf("Get %d returned the zero Handle", i)
				}
				hs = append(hs, h)
			}
			if p.InUse() != n {
				t.Fatalf("InUse %d, want %d", p.InUse(), n)
			}
			for i := range 3 {
				if h, ok := p.Get(); ok || h != 0 {
					t.Fatalf("Get at cap = %#x, %v; want 0, false", h, ok)
				}
				if p.Misses() != uint64(i+1) {
					t.Fatalf("Misses %d, want %d", p.Misses(), i+1)
				}
			}
			if p.Gets() != n {
				t.Fatalf("Gets %d, want %d (misses are not gets)", p.Gets(), n)
			}
			p.Put(hs[2])
			if p.InUse() != n-1 {
				t.Fatalf("InUse after Put %d, want %d", p.InUse(), n-1)
			}
			if _, ok := p.Get(); !ok {
				t.Fatal("Get after Put failed")
			}
			if p.Gets() != n+1 || p.Misses() != 3 {
				t.Fatalf("Gets %d Misses %d, want %d 3", p.Gets(), p.Misses(), n+1)
			}
		})
	}
}

// TestBuffersAreDisjoint fills every buffer with its own pattern and checks
// that no write reached another buffer, and that slices cannot be appended
// into a neighbour.
func TestBuffersAreDisjoint(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			const n, size = 8, 24
			p := New(size, n, m.opts)
			hs := make([]Handle, n)
			for i := range hs {
				hs[i], _ = p.Get()
				b := p.Bytes(hs[i])
				if len(b) != size || cap(b) != size {
					t.Fatalf("buffer %d: len %d cap %d, want %d", i, len(b), cap(b), size)
				}
				for j := range b {
					b[j] = byte(i)
				}
			}
			for i, h := range hs {
				for j, c := range p.Bytes(h) {
					if c != byte(i) {
						t.Fatalf("buffer %d byte %d = %d: buffers overlap", i, j, c)
					}
				}
			}
			seen := map[Handle]bool{}
			for _, h := range hs {
				if seen[h] {
					t.Fatalf("handle %#x handed out twice", h)
				}
				seen[h] = true
			}
			_ = append(p.Bytes(hs[0]), 0xFF) // must reallocate, not spill
			if p.Bytes(hs[1])[0] != 1 {
				t.Fatal("append spilled into the next buffer")
			}
		})
	}
}

// TestReuseIsLIFO checks that the buffer released last is handed out next
// (it is the one most likely still in cache), and that contents survive
// reuse in fast mode (the pool does not clear buffers).
func TestReuseIsLIFO(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := New(8, 4, m.opts)
			a, _ := p.Get()
			b, _ := p.Get()
			c, _ := p.Get()
			p.Put(a)
			p.Put(c)
			if h, _ := p.Get(); h.index() != c.index() {
				t.Fatalf("Get after Put(c) gave slot %d, want c's slot %d", h.index(), c.index())
			}
			if h, _ := p.Get(); h.index() != a.index() {
				t.Fatalf("second Get gave slot %d, want a's slot %d", h.index(), a.index())
			}
			_ = b
		})
	}
}

func TestFirstGetsWalkTheSlabInOrder(t *testing.T) {
	p := New(8, 4, Options{})
	for want := range 4 {
		h, _ := p.Get()
		if h.index() != want {
			t.Fatalf("Get %d gave slot %d", want, h.index())
		}
	}
}

// TestDebugCatchesMisuse checks every programmer error debug mode promises
// to catch.
func TestDebugCatchesMisuse(t *testing.T) {
	tests := []struct {
		name string
		want string
		fn   func(p *Pool)
	}{
		{"double Put", "after Put", func(p *Pool) {
			h, _ := p.Get()
			p.Put(h)
			p.Put(h)
		}},
		{"Bytes after Put", "after Put", func(p *Pool) {
			h, _ := p.Get()
			p.Put(h)
			p.Bytes(h)
		}},
		{"stale handle after reuse, Bytes", "stale handle", func(p *Pool) {
			h, _ := p.Get()
			p.Put(h)
			h2, _ := p.Get() // same slot, next generation
			if h2.index() != h.index() {
				panic("test setup: expected slot reuse")
			}
			p.Bytes(h)
		}},
		{"stale handle after reuse, Put", "stale handle", func(p *Pool) {
			h, _ := p.Get()
			p.Put(h)
			p.Get()
			p.Put(h)
		}},
		{"write after Put", "written after Put", func(p *Pool) {
			h, _ := p.Get()
			b := p.Bytes(h)
			p.Put(h)
			b[3] = 1 // through a slice kept past Put
			p.Get()  // hands the same slot out again and checks it
		}},
		{"zero Handle Bytes", "invalid handle", func(p *Pool) { p.Bytes(0) }},
		{"zero Handle Put", "invalid handle", func(p *Pool) { p.Put(0) }},
		{"out of range", "invalid handle", func(p *Pool) { p.Bytes(tag | 99) }},
		{"foreign handle", "stale handle", func(p *Pool) {
			q := New(8, 4, Options{Debug: true})
			h, _ := q.Get()
			q.Put(h)
			h, _ = q.Get() // generation 1 in q
			p.Get()        // generation 0 in p
			p.Bytes(h)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(8, 4, Options{Debug: true})
			mustPanic(t, tc.want, func() { tc.fn(p) })
		})
	}
}

// TestDebugGenerationsWrap checks that a slot survives many reuse cycles in
// debug mode (the generation wraps without tripping the checks) and that
// each cycle's handle is distinct from the previous one.
func TestDebugGenerationsWrap(t *testing.T) {
	p := New(8, 1, Options{Debug: true})
	prev := Handle(0)
	for i := range 3 * (genMask + 1) {
		h, ok := p.Get()
		if !ok {
			t.Fatalf("cycle %d: Get failed", i)
		}
		if h == prev {
			t.Fatalf("cycle %d: handle %#x repeats the previous cycle's", i, h)
		}
		p.Bytes(h)[0] = byte(i)
		p.Put(h)
		prev = h
	}
}

// TestFastModeCheapChecks: without debug mode, Put still refuses handles it
// cannot have issued and a Put when nothing is out.
func TestFastModeCheapChecks(t *testing.T) {
	tests := []struct {
		name string
		want string
		fn   func(p *Pool)
	}{
		{"Put with nothing out", "double Put", func(p *Pool) {
			h, _ := p.Get()
			p.Put(h)
			p.Put(h)
		}},
		{"zero Handle Put", "invalid handle", func(p *Pool) { p.Put(0) }},
		{"out of range Put", "invalid handle", func(p *Pool) {
			p.Get()
			p.Put(tag | 99)
		}},
		{"zero Handle Bytes", "out of range", func(p *Pool) { p.Bytes(0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := New(8, 4, Options{})
			mustPanic(t, tc.want, func() { tc.fn(p) })
			if tc.name != "zero Handle Bytes" && p.InUse() < 0 {
				t.Fatalf("InUse %d after a refused Put", p.InUse())
			}
		})
	}
}

var (
	sinkBytes  []byte
	sinkHandle Handle
	sinkOK     bool
)

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := New(DatagramSize, 4, m.opts)
			held, _ := p.Get() // keep one out so the stack is not at either end
			a := testing.AllocsPerRun(1000, func() {
				h, ok := p.Get()
				b := p.Bytes(h)
				b[0] = 1
				b[0] = poison // debug mode checks for poison on the next Get
				p.Put(h)
				sinkHandle, sinkOK, sinkBytes = h, ok, b
			})
			if a != 0 {
				t.Fatalf("Get/Bytes/Put: %v allocs per run, want 0", a)
			}
			a = testing.AllocsPerRun(1000, func() {
				for {
					if _, ok := p.Get(); !ok {
						break
					}
				}
				sinkHandle, sinkOK = p.Get() // miss
			})
			if a != 0 {
				t.Fatalf("Get at cap: %v allocs per run, want 0", a)
			}
			_ = held
		})
	}
}
