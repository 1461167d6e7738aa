package ring

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Every benchmark op is one element: pushed by a producer, popped by the
// consumer. ns/op is therefore ns per element.

var sinkU64 uint64

// spinPush pushes v, yielding while the ring is full, until it succeeds or
// stop is set. It reports whether v went in.
func spinPush(push func(uint64) bool, v uint64, stop *atomic.Bool, fulls *int) bool {
	for spins := 0; !push(v); spins++ {
		*fulls++
		if stop.Load() {
			return false
		}
		if spins&1023 == 1023 {
			runtime.Gosched()
		}
	}
	return true
}

// runCross times the consumer side: each b.Loop iteration takes one element
// (through pop, or through popN into a local batch) while producers push
// continuously from their own goroutines.
func runCross(b *testing.B, producers int, push func(uint64) bool, pop func() (uint64, bool), popN func([]uint64) int) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	fulls := make([]int, producers)
	for p := range producers {
		wg.Go(func() {
			n := 0
			for i := uint64(0); ; i++ {
				if !spinPush(push, i, &stop, &n) {
					fulls[p] = n
					return
				}
			}
		})
	}
	empties := 0
	b.ReportAllocs()
	var sum uint64
	batch := make([]uint64, 64)
	have, next := 0, 0
	for b.Loop() {
		if popN != nil {
			for spins := 0; next == have; spins++ {
				have, next = popN(batch), 0
				if have == 0 {
					empties++
				}
				if have == 0 && spins&1023 == 1023 {
					runtime.Gosched()
				}
			}
			sum += batch[next]
			next++
			continue
		}
		for spins := 0; ; spins++ {
			v, ok := pop()
			if ok {
				sum += v
				break
			}
			empties++
			if spins&1023 == 1023 {
				runtime.Gosched()
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	sinkU64 = sum
	full := 0
	for _, n := range fulls {
		full += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Melem/s")
	// How often each side found the ring full or empty shows which side
	// limits the pair.
	b.ReportMetric(float64(full)/float64(b.N), "fulls/elem")
	b.ReportMetric(float64(empties)/float64(b.N), "empties/elem")
}

func BenchmarkSPSC(b *testing.B) {
	b.Run("same", func(b *testing.B) {
		r := NewSPSC[uint64](1024)
		b.ReportAllocs()
		var sum uint64
		for i := uint64(0); b.Loop(); i++ {
			r.Push(i)
			v, _ := r.Pop()
			sum += v
		}
		sinkU64 = sum
	})
	b.Run("cross", func(b *testing.B) {
		r := NewSPSC[uint64](1024)
		runCross(b, 1, r.Push, r.Pop, nil)
	})
	b.Run("cross-batch", func(b *testing.B) {
		r := NewSPSC[uint64](1024)
		runCross(b, 1, r.Push, nil, r.PopN)
	})
}

func BenchmarkMPSC(b *testing.B) {
	b.Run("same", func(b *testing.B) {
		r := NewMPSC[uint64](1024)
		b.ReportAllocs()
		var sum uint64
		for i := uint64(0); b.Loop(); i++ {
			r.Push(i)
			v, _ := r.Pop()
			sum += v
		}
		sinkU64 = sum
	})
	for _, p := range []int{1, 2} {
		b.Run("cross/producers="+strconv.Itoa(p), func(b *testing.B) {
			r := NewMPSC[uint64](1024)
			runCross(b, p, r.Push, r.Pop, nil)
		})
		b.Run("cross-batch/producers="+strconv.Itoa(p), func(b *testing.B) {
			r := NewMPSC[uint64](1024)
			runCross(b, p, r.Push, nil, r.PopN)
		})
	}
}
