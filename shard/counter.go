package shard

import "sync/atomic"

// Counter is a statistic one goroutine (the shard's) writes and any
// goroutine reads. The owner adds with a plain load, add and store: no
// LOCK prefix and no XCHG, which is what atomic.Uint64.Store compiles to on
// amd64 (a sequentially consistent store), so counting a datagram costs
// ordinary moves. Readers load atomically. The Go memory model defines such
// a race for a location no larger than a machine word: the read observes
// some value that was written, never a torn one ("Implementation
// restrictions for programs containing data races", go.dev/ref/mem), so a
// reader sees a recent total. Where a uint64 is wider than a word (32-bit
// platforms) and under the race detector (which rightly reports the plain
// write), add is an atomic add instead.
//
// 32-bit platforms need 64-bit alignment for that atomic add: Counters is
// the first field of Shard and holds only 8-byte words, which keeps every
// Counter aligned (sync/atomic, "Bugs").
type Counter struct{ v uint64 }

// Load returns the current value; any goroutine.
func (c *Counter) Load() uint64 { return atomic.LoadUint64(&c.v) }

// add adds n; the owner goroutine only.
func (c *Counter) add(n uint64) {
	if plainCounters {
		c.v += n
		return
	}
	atomic.AddUint64(&c.v, n)
}

// Gauge is a Counter that also goes down.
type Gauge struct{ v int64 }

// Load returns the current value; any goroutine.
func (g *Gauge) Load() int64 { return atomic.LoadInt64(&g.v) }

// add adds n (negative to decrease); the owner goroutine only.
func (g *Gauge) add(n int64) {
	if plainCounters {
		g.v += n
		return
	}
	atomic.AddInt64(&g.v, n)
}

// plainCounters: the owner may write with plain stores (see Counter).
const plainCounters = !raceEnabled && ^uint(0)>>63 == 1
