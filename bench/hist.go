package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a log-linear (HDR-style) histogram of durations in
// nanoseconds: values below 128 ns are exact, above that each power of two
// is split into 64 buckets, so any quantile is within 1/64 (1.6%) of the
// true value; it covers up to 2^40 ns (18 minutes), larger values land in
// the last bucket. Record is safe from any goroutine (atomic adds); a
// quantile read while others record sees some consistent-enough mix.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // exact values below this
	histHalf    = histSub / 2
	histMaxBits = 40
	histBuckets = histSub + (histMaxBits-histSubBits+1)*histHalf
)

// bucketOf maps a value to its bucket index.
func bucketOf(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits
	i := histSub + (shift-1)*histHalf + int(uint64(v)>>shift) - histHalf
	return min(i, histBuckets-1)
}

// bucketLow is the smallest value of bucket i; bucketHigh the largest.
func bucketLow(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	shift := (i-histSub)/histHalf + 1
	top := (i-histSub)%histHalf + histHalf
	return int64(top) << shift
}

func bucketHigh(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	if i == histBuckets-1 {
		return math.MaxInt64
	}
	return bucketLow(i+1) - 1
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)].Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Snapshot copies the counts.
func (h *Histogram) Snapshot() HistSnapshot {
	var s HistSnapshot
	s.Counts = make([]uint64, histBuckets)
	for i := range s.Counts {
		c := h.counts[i].Load()
		s.Counts[i] = c
		s.Total += c
	}
	s.Max = time.Duration(h.max.Load())
	return s
}

// HistSnapshot is a copy of a Histogram's buckets.
type HistSnapshot struct {
	Counts []uint64
	Total  uint64
	Max    time.Duration // exact maximum recorded (of the whole histogram for Sub results)
}

// Sub returns s minus an earlier snapshot of the same histogram: the
// values recorded in between. Max is taken from the highest non-empty
// bucket of the difference, capped by s.Max.
func (s HistSnapshot) Sub(prev HistSnapshot) HistSnapshot {
	d := HistSnapshot{Counts: make([]uint64, len(s.Counts))}
	top := -1
	for i := range s.Counts {
		var p uint64
		if i < len(prev.Counts) {
			p = prev.Counts[i]
		}
		d.Counts[i] = s.Counts[i] - p
		d.Total += d.Counts[i]
		if d.Counts[i] > 0 {
			top = i
		}
	}
	if top >= 0 {
		d.Max = min(time.Duration(bucketHigh(top)), s.Max)
	}
	return d
}

// Quantile returns the value at quantile q in [0, 1]: the midpoint of the
// bucket holding the ceil(q*Total)-th smallest value (its exact value for
// the maximum), 0 for an empty histogram.
func (s HistSnapshot) Quantile(q float64) time.Duration {
	if s.Total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(s.Total)))
	rank = min(max(rank, 1), s.Total)
	var cum uint64
	for i, c := range s.Counts {
		cum += c
		if cum >= rank {
			if cum == s.Total && rank == s.Total && s.Max > 0 {
				return s.Max
			}
			lo, hi := bucketLow(i), bucketHigh(i)
			if hi == math.MaxInt64 {
				return time.Duration(lo)
			}
			// A bucket's midpoint can lie past the largest value seen when
			// that value shares the bucket; no quantile exceeds the max.
			mid := time.Duration(lo + (hi-lo)/2)
			if s.Max > 0 && mid > s.Max {
				return s.Max
			}
			return mid
		}
	}
	return s.Max
}

// Mean is the mean of bucket midpoints.
func (s HistSnapshot) Mean() time.Duration {
	if s.Total == 0 {
		return 0
	}
	var sum float64
	for i, c := range s.Counts {
		if c > 0 {
			lo, hi := bucketLow(i), bucketHigh(i)
			if hi == math.MaxInt64 {
				hi = lo
			}
			sum += float64(c) * float64(lo+(hi-lo)/2)
		}
	}
	return time.Duration(sum / float64(s.Total))
}
