package shard

import (
	"math/bits"
	"sync/atomic"

	"github.com/eqgate/eqgate/proto"
)

// Counters are one shard's statistics. The shard goroutine is the only
// writer of every field except InboxDrops (written by whoever failed to push
// into the inbox); it updates them with a plain load and store, which on
// every platform Go supports compiles to ordinary moves, so counting costs
// no locked instruction. Readers (the Prometheus collector, Stats) load them
// atomically from any goroutine at any time and see each field's latest
// value; fields are not read as one snapshot, so two fields may be one
// datagram apart.
type Counters struct {
	DatagramsIn  atomic.Uint64 // read from the socket
	BytesIn      atomic.Uint64
	DatagramsOut atomic.Uint64 // handed to sendmmsg and accepted
	BytesOut     atomic.Uint64
	TxDrops      atomic.Uint64 // datagrams the kernel refused (unreachable, too big, ...)

	HandoffIn    atomic.Uint64 // taken from other shards' handoff rings
	BufferMisses atomic.Uint64 // handoffs that left a receive slot bufferless (pool empty; nothing dropped)

	Outcomes [NumOutcomes]atomic.Uint64 // see Outcome

	SessionsOpen   atomic.Int64 // gauge
	HalfOpen       atomic.Int64 // gauge: CRC 0 sessions without a valid datagram yet
	HalfOpenPruned atomic.Uint64
	Proofs         atomic.Uint64 // datagrams that proved an endpoint's key (stateless handshake)
	SessionsOpened atomic.Uint64
	SessionsClosed [proto.NumCloseReasons]atomic.Uint64

	PacketDrops [NumPacketDrops]atomic.Uint64 // inside a session, by proto reason
	Resends     atomic.Uint64                 // reliable packets sent again
	RTTCount    atomic.Uint64                 // RTT samples (acked packets)
	RTTSumMicro atomic.Uint64

	InboxDrops atomic.Uint64 // Post/Send refused: inbox full (any goroutine)
	InboxRuns  atomic.Uint64 // inbox items run

	Batches   [NumBatchBuckets]atomic.Uint64 // receive batch sizes, bucket i: size <= 1<<i
	BatchSum  atomic.Uint64                  // datagrams over all batches
	Wakeups   atomic.Uint64                  // loop iterations that slept in the kernel
	LoopFatal atomic.Uint64                  // socket errors other than close
}

// NumPacketDrops sizes PacketDrops: one bucket per proto.Reason.
const NumPacketDrops = 16

// NumBatchBuckets covers batch sizes 1 to 1024 in powers of two.
const NumBatchBuckets = 11

// add is the single-writer increment: load, add, store. Not safe for
// concurrent writers; the shard goroutine is the only one.
func add(c *atomic.Uint64, n uint64) { c.Store(c.Load() + n) }

func (c *Counters) outcome(o Outcome) { add(&c.Outcomes[o], 1) }

func (c *Counters) batch(n int) {
	b := 0
	if n > 1 {
		b = bits.Len(uint(n - 1))
	}
	if b >= NumBatchBuckets {
		b = NumBatchBuckets - 1
	}
	add(&c.Batches[b], 1)
	add(&c.BatchSum, uint64(n))
}

// BatchBucketBound is the inclusive upper bound of batch bucket i.
func BatchBucketBound(i int) int { return 1 << i }
