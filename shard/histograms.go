package shard

import (
	"math/bits"
	"time"
)

// Histograms are one shard's distributions, for Prometheus histograms:
// bucket counts (not cumulative) and sums, single writer (the shard
// goroutine), read atomically at scrape time like Counters.
type Histograms struct {
	RTT        [NumRTTBuckets]Counter // RTT samples; bucket i: <= RTTBucketBound(i), the last unbounded
	RTTSumNano Counter

	SendBatches  [NumBatchBuckets]Counter // datagrams per sendmmsg batch, bounds as Batches
	SendBatchSum Counter

	// Application packets, both directions: delivered to the Handler and
	// accepted by Send. Bucket i: <= MsgBucketBound(i), the last unbounded.
	MsgSizes [NumMsgBuckets]Counter
	MsgBytes Counter
}

// NumRTTBuckets is the number of RTT buckets, the last one unbounded.
const NumRTTBuckets = 13

// rttBounds are the RTT bucket upper bounds: a LAN's sub-millisecond up to
// a ResendTimeout-scale five seconds.
var rttBounds = [NumRTTBuckets - 1]time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second,
}

// RTTBucketBound is the inclusive upper bound of RTT bucket i; the last
// bucket has none (ok false).
func RTTBucketBound(i int) (time.Duration, bool) {
	if i < 0 || i >= len(rttBounds) {
		return 0, false
	}
	return rttBounds[i], true
}

// NumMsgBuckets covers 16 B to 64 KiB in powers of two, plus one above.
const NumMsgBuckets = 14

// MsgBucketBound is the inclusive upper bound of message bucket i in bytes;
// the last bucket has none (ok false).
func MsgBucketBound(i int) (int, bool) {
	if i < 0 || i >= NumMsgBuckets-1 {
		return 0, false
	}
	return 16 << i, true
}

// rtt records n samples averaging avg (fold sees sums, not each sample;
// one call into a session nearly always acks at most one packet).
func (h *Histograms) rtt(avg time.Duration, n uint64) {
	b := NumRTTBuckets - 1
	for i, bound := range rttBounds {
		if avg <= bound {
			b = i
			break
		}
	}
	add(&h.RTT[b], n)
	add(&h.RTTSumNano, uint64(avg)*n)
}

func (h *Histograms) sendBatch(n int) {
	add(&h.SendBatches[batchBucket(n)], 1)
	add(&h.SendBatchSum, uint64(n))
}

func (h *Histograms) msg(n int) {
	b := 0
	if n > 16 {
		b = bits.Len(uint(n-1)) - 4
	}
	add(&h.MsgSizes[min(b, NumMsgBuckets-1)], 1)
	add(&h.MsgBytes, uint64(n))
}

// batchBucket is the bucket of a batch of n: n <= 1<<i.
func batchBucket(n int) int {
	b := 0
	if n > 1 {
		b = bits.Len(uint(n - 1))
	}
	return min(b, NumBatchBuckets-1)
}
