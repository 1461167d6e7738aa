package pool

import "testing"

// BenchmarkGetPut measures one buffer's round trip through the pool: Get,
// Bytes, a one-byte write, Put.
func BenchmarkGetPut(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			p := New(DatagramSize, 1024, m.opts)
			// Keep some buffers out, as a shard would mid-batch.
			for range 64 {
				p.Get()
			}
			b.ReportAllocs()
			for b.Loop() {
				h, _ := p.Get()
				buf := p.Bytes(h)
				buf[0] = poison
				p.Put(h)
			}
		})
	}
	b.Run("fast/batch64", func(b *testing.B) {
		// A recvmmsg-sized batch: 64 Gets, then 64 Puts; per buffer.
		p := New(DatagramSize, 1024, Options{})
		var hs [64]Handle
		b.ReportAllocs()
		for b.Loop() {
			for i := range hs {
				hs[i], _ = p.Get()
				p.Bytes(hs[i])[0] = 1
			}
			for _, h := range hs {
				p.Put(h)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(hs)), "ns/buf")
	})
}
