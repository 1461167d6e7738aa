package shard

import (
	"sync/atomic"

	"github.com/eqgate/eqgate/proto"
)

// Counters are one shard's statistics. The shard goroutine is the only
// writer of every Counter and Gauge, with plain stores (see Counter), so
// counting costs no locked instruction; InboxDrops and Sends.Refused, which
// other goroutines write too, are atomic.Uint64 and take an atomic add off
// the datagram path. Readers (the Prometheus collector, Stats) load them
// atomically from any goroutine at any time and see each field's latest
// value; fields are not read as one snapshot, so two fields may be one
// datagram apart.
type Counters struct {
	DatagramsIn  Counter // read from the socket
	BytesIn      Counter
	DatagramsOut Counter // handed to sendmmsg and accepted
	BytesOut     Counter
	TxDrops      Counter // datagrams the kernel refused (unreachable, too big, ...)

	HandoffIn    Counter // taken from other shards' handoff rings
	BufferMisses Counter // handoffs that left a receive slot bufferless (pool empty; nothing dropped)

	Outcomes [NumOutcomes]Counter // see Outcome

	SessionsOpen Gauge // gauge
	HalfOpen     Gauge // CRC 0 sessions without a valid datagram yet
	// Connecting: dialled sessions waiting for their SessionResponse;
	// Disconnecting: sessions closed and lingering (CloseLinger) or
	// flushing before their SessionDisconnect. Both as of the last
	// iteration that touched them.
	Connecting     Gauge
	Disconnecting  Gauge
	HalfOpenPruned Counter
	Proofs         Counter // datagrams that proved an endpoint's key (stateless handshake)
	// ProofsAfterClose: datagrams that verified for an endpoint whose
	// session had just closed (late or reordered), refused a new session.
	ProofsAfterClose Counter
	UnderAttack      Gauge   // 1 while unproven traffic is at or above Config.AttackRate
	AttackStarts     Counter // times UnderAttack went to 1
	UnprovenRate     Gauge   // unproven datagrams per second over the last window
	SessionsOpened   Counter
	// PeerHeld is the peer data the shard's sessions hold (proto.Budget);
	// refusals count in PacketDrops[proto.ReasonBudget], closes in
	// SessionsClosed[proto.CloseBudget].
	PeerHeld       Gauge
	SessionsClosed [proto.NumCloseReasons]Counter

	PacketDrops [NumPacketDrops]Counter // inside a session, by proto reason
	Resends     Counter                 // reliable packets sent again
	// LenientCRC: datagrams accepted without a matching CRC trailer by an
	// EQ2/LEGACY leniency (proto.Config.LenientZeroCRC, Lenient0019).
	LenientCRC  Counter
	RTTCount    Counter // RTT samples (acked packets)
	RTTSumMicro Counter

	InboxDrops atomic.Uint64 // Post/Send refused: inbox full (any goroutine)
	InboxRuns  Counter       // inbox items run

	Sends SendCounters // send outcomes (sendq.go)

	Batches   [NumBatchBuckets]Counter // receive batch sizes, bucket i: size <= 1<<i
	BatchSum  Counter                  // datagrams over all batches
	Wakeups   Counter                  // loop iterations that slept in the kernel
	LoopFatal Counter                  // socket errors other than close

	Hist Histograms // per-shard distributions (histograms.go)
}

// NumPacketDrops sizes PacketDrops: one bucket per proto.Reason.
const NumPacketDrops = 16

// NumBatchBuckets covers batch sizes 1 to 1024 in powers of two.
const NumBatchBuckets = 11

// add is the owner's increment (see Counter).
func add(c *Counter, n uint64) { c.add(n) }

func (c *Counters) outcome(o Outcome) { add(&c.Outcomes[o], 1) }

func (c *Counters) batch(n int) {
	add(&c.Batches[batchBucket(n)], 1)
	add(&c.BatchSum, uint64(n))
}

// BatchBucketBound is the inclusive upper bound of batch bucket i.
func BatchBucketBound(i int) int { return 1 << i }
