package eqgate

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eqgate/eqgate/shard"
)

// opsMetrics are the per-shard distributions and socket health series
// (issue 12): histograms of RTT, send batch and message sizes, and what the
// kernel says about the socket now.
type opsMetrics struct {
	rtt, sendBatch, msgSize                    *prometheus.Desc
	kernelDrops, sockErrors, bufMisses, wakeup *prometheus.Desc
}

func newOpsMetrics(d func(name, help string, labels ...string) *prometheus.Desc) opsMetrics {
	return opsMetrics{
		rtt:         d("rtt_seconds", "Round-trip times from acknowledged packets (not resent ones), per shard."),
		sendBatch:   d("send_batch_size", "Datagrams per send batch (one sendmmsg unless the batch overflows)."),
		msgSize:     d("message_size_bytes", "Application packet sizes, both directions: delivered to the handler and accepted by Send."),
		kernelDrops: d("kernel_receive_drops_total", "Datagrams the kernel dropped for the shard's socket: receive queue full or out of memory (SO_MEMINFO drops, as /proc/net/udp)."),
		sockErrors:  d("socket_errors_total", "Socket read errors other than close (ENOMEM, ...); the loop counts and goes on."),
		bufMisses:   d("buffer_misses_total", "Handoffs that left a receive slot without a buffer (pool empty; nothing dropped, the next read takes fewer)."),
		wakeup:      d("wakeups_total", "Reads that found the socket empty and slept (netpoller, ppoll, or epoll over dialled sessions' sockets)."),
	}
}

func (m *opsMetrics) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.rtt, m.sendBatch, m.msgSize, m.kernelDrops, m.sockErrors, m.bufMisses, m.wakeup} {
		ch <- d
	}
}

// collect sends shard s's series; si is its socket's state, read once.
func (m *opsMetrics) collect(ch chan<- prometheus.Metric, s *shard.Shard, si shard.SocketInfo, sh string) {
	k := s.Counters()
	h := &k.Hist
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), sh)
	}
	if si.KernelDropsOK {
		counter(m.kernelDrops, si.KernelDrops)
	}
	counter(m.sockErrors, k.LoopFatal.Load())
	counter(m.bufMisses, k.BufferMisses.Load())
	counter(m.wakeup, k.Wakeups.Load())

	rtt := make(map[float64]uint64, shard.NumRTTBuckets)
	var cum uint64
	for i := range h.RTT {
		cum += h.RTT[i].Load()
		if b, ok := shard.RTTBucketBound(i); ok {
			rtt[b.Seconds()] = cum
		}
	}
	ch <- prometheus.MustNewConstHistogram(m.rtt, cum, float64(h.RTTSumNano.Load())/1e9, rtt, sh)

	batches := make(map[float64]uint64, shard.NumBatchBuckets)
	cum = 0
	for i := range h.SendBatches {
		cum += h.SendBatches[i].Load()
		batches[float64(shard.BatchBucketBound(i))] = cum
	}
	ch <- prometheus.MustNewConstHistogram(m.sendBatch, cum, float64(h.SendBatchSum.Load()), batches, sh)

	sizes := make(map[float64]uint64, shard.NumMsgBuckets)
	cum = 0
	for i := range h.MsgSizes {
		cum += h.MsgSizes[i].Load()
		if b, ok := shard.MsgBucketBound(i); ok {
			sizes[float64(b)] = cum
		}
	}
	ch <- prometheus.MustNewConstHistogram(m.msgSize, cum, float64(h.MsgBytes.Load()), sizes, sh)
}
