package eqgate

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// Collector exports a Server's (or Conn's) shard counters to Prometheus. It
// reads them at scrape time with atomic loads, so scraping never stops a
// shard and the shards pay nothing for being observed. Register it with
// prometheus.MustRegister(srv.Collector()).
//
// Every series carries a constant label naming its engine, listen="<bound
// address>" for a Server and listen="client:<n>" for a Client, so several
// share a registry, and the constant label variant = rs, legacy or eq2.
//
// Metrics (label shard = shard index; base units; counters end in _total):
//
//	eqgate_datagrams_total{outcome}            every received datagram in exactly one
//	                                           outcome (shard.Outcome names), so per shard
//	                                           sum(outcomes) == received + handoffs_received
//	eqgate_datagrams_received_total, eqgate_bytes_received_total
//	eqgate_datagrams_sent_total, eqgate_bytes_sent_total
//	eqgate_datagrams_dropped_total{reason}    receive drops, one reason each
//	eqgate_send_drops_total                    datagrams the kernel refused
//	eqgate_handoffs_total                      datagrams handed to their owner shard
//	eqgate_handoffs_received_total
//	eqgate_out_of_session_sent_total
//	eqgate_sessions_open (gauge), eqgate_sessions_opened_total
//	eqgate_sessions_closed_total{reason}
//	eqgate_packets_dropped_total{reason}      inside sessions (CRC, length, budget, ...)
//	eqgate_peer_buffered_bytes (gauge)         peer data sessions hold (Config.PeerBufferBudget)
//	eqgate_resends_total
//	eqgate_inbox_drops_total
//	eqgate_sends_refused_total{reason}        sends refused to their caller (queue_full, too_big, ...)
//	eqgate_sends_queued_total                  sends that waited for window room
//	eqgate_sends_discarded_total               accepted sends whose session closed first
//	eqgate_receive_batch_size (histogram, datagrams per recvmmsg)
//	eqgate_rtt_seconds (histogram, per shard)
//	eqgate_send_batch_size, eqgate_message_size_bytes (histograms)
//	eqgate_kernel_receive_drops_total          SO_MEMINFO drops (receive queue full)
//	eqgate_socket_errors_total, eqgate_buffer_misses_total, eqgate_wakeups_total
//	eqgate_shard_up (gauge, 1 while the shard's loop runs)
//	eqgate_handler_panics_total                 callbacks recovered (Config.HandlerPanic)
//
// and, from Facts, what the kernel granted the shard's socket (the same for
// every socket of a group; labelled by shard all the same, so every series
// has the label):
//
//	eqgate_socket_receive_buffer_bytes, eqgate_socket_send_buffer_bytes
//	                                           (getsockopt values: twice the usable size)
//	eqgate_socket_buffer_forced                1 when SO_RCVBUFFORCE/SO_SNDBUFFORCE worked
//	eqgate_steering_enabled, eqgate_gso_enabled
//
// The drop, handoff and out_of_session counters repeat outcome buckets under
// the names dashboards already use.
type Collector struct {
	g  *shard.Group
	gd *guard

	dgIn, bytesIn, dgOut, bytesOut, dropped, txDrops                                     *prometheus.Desc
	handoffs, handoffIn, oos, open, opened, closed                                       *prometheus.Desc
	pktDrops, resends, lenientCRC, inboxDrops, batchSize                                 *prometheus.Desc
	outcomes, up, panics                                                                 *prometheus.Desc
	sendsRefused, sendsQueued, sendsDiscarded                                            *prometheus.Desc
	responses, proofs, proofsAfterClose, halfOpen, halfPruned, connecting, disconnecting *prometheus.Desc
	underAttack, attacks, unproven, peerHeld                                             *prometheus.Desc
	rcvbuf, sndbuf, forced, steering, gso                                                *prometheus.Desc
	ops                                                                                  opsMetrics
}

var _ prometheus.Collector = (*Collector)(nil)

func newCollector(g *shard.Group, gd *guard, constLabels prometheus.Labels) *Collector {
	v := prometheus.Labels{"variant": g.Variant().String()}
	for k, x := range constLabels {
		v[k] = x
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("eqgate_"+name, help, append([]string{"shard"}, labels...), v)
	}
	return &Collector{
		g:                g,
		ops:              newOpsMetrics(d),
		gd:               gd,
		panics:           d("handler_panics_total", "Handler callbacks that panicked and were recovered (Config.HandlerPanic close)."),
		outcomes:         d("datagrams_total", "Received datagrams (from the socket or a handoff ring), by outcome; each counts in exactly one.", "outcome"),
		up:               d("shard_up", "1 while the shard's loop goroutine runs."),
		rcvbuf:           d("socket_receive_buffer_bytes", "SO_RCVBUF granted per socket, as getsockopt reports it (the kernel doubles the request, then clamps to net.core.rmem_max unless forced)."),
		sndbuf:           d("socket_send_buffer_bytes", "SO_SNDBUF granted per socket, as getsockopt reports it."),
		forced:           d("socket_buffer_forced", "1 when SO_RCVBUFFORCE/SO_SNDBUFFORCE was accepted (CAP_NET_ADMIN)."),
		steering:         d("steering_enabled", "1 when the reuseport steering program is attached."),
		gso:              d("gso_enabled", "1 when UDP GSO is in use."),
		dgIn:             d("datagrams_received_total", "Datagrams read from the shard's socket."),
		bytesIn:          d("bytes_received_total", "Bytes of datagrams read from the shard's socket."),
		dgOut:            d("datagrams_sent_total", "Datagrams accepted by the kernel for sending."),
		bytesOut:         d("bytes_sent_total", "Bytes of datagrams accepted by the kernel."),
		dropped:          d("datagrams_dropped_total", "Received datagrams dropped before reaching a session, by reason.", "reason"),
		txDrops:          d("send_drops_total", "Outgoing datagrams the kernel refused."),
		handoffs:         d("handoffs_total", "Datagrams that arrived on this shard and were handed to their owner shard."),
		handoffIn:        d("handoffs_received_total", "Datagrams received from other shards."),
		oos:              d("out_of_session_sent_total", "OutOfSession answers to endpoints without a session."),
		responses:        d("session_responses_total", "SessionRequests answered statelessly (no session until the peer proves the key)."),
		proofs:           d("admission_proofs_total", "Datagrams from endpoints without a session whose CRC proved the offered key (each opens a session, caps permitting)."),
		proofsAfterClose: d("admission_proofs_after_close_total", "Datagrams that verified for an endpoint whose session had just closed (late or reordered ones of that session): no new session, answered as out of session."),
		halfOpen:         d("sessions_half_open", "CRC 0 only: sessions without a valid datagram yet."),
		connecting:       d("sessions_connecting", "Dialled sessions (relay backend legs, clients) waiting for their SessionResponse."),
		disconnecting:    d("sessions_disconnecting", "Sessions closed and lingering or flushing before their SessionDisconnect."),
		halfPruned:       d("sessions_half_open_pruned_total", "CRC 0 only: half-open sessions dropped to make room."),
		underAttack:      d("under_attack", "1 while the shard sees unproven traffic at or above Config.AttackRate (AttackRate datagrams a second from endpoints without a session that prove nothing)."),
		attacks:          d("attacks_total", "Times the shard went under attack."),
		unproven:         d("unproven_datagrams_per_second", "Unproven datagrams per second over the last one-second window."),
		peerHeld:         d("peer_buffered_bytes", "Bytes of peer data the shard's sessions hold (reorder queues and rings, partial fragment sets), against Config.PeerBufferBudget."),
		open:             d("sessions_open", "Sessions currently open."),
		opened:           d("sessions_opened_total", "Sessions opened."),
		closed:           d("sessions_closed_total", "Sessions closed, by reason.", "reason"),
		pktDrops:         d("packets_dropped_total", "Packets dropped inside sessions, by reason.", "reason"),
		resends:          d("resends_total", "Reliable packets sent again."),
		lenientCRC:       d("lenient_crc_total", "Datagrams accepted without a matching CRC trailer by a LEGACY/EQ2 leniency (a 00 00 trailer, or 00 19 at bytes 2..3); always 0 on RS."),
		inboxDrops:       d("inbox_drops_total", "Send/Post calls refused because the shard inbox was full."),
		sendsRefused:     d("sends_refused_total", "Application sends refused to their caller with an error, by reason.", "reason"),
		sendsQueued:      d("sends_queued_total", "Application sends that waited in the session's queue for window room."),
		sendsDiscarded:   d("sends_discarded_total", "Accepted application sends lost because their session closed before they were sent."),
		batchSize:        d("receive_batch_size", "Datagrams per receive batch."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.dgIn, c.bytesIn, c.dgOut, c.bytesOut, c.dropped, c.txDrops,
		c.handoffs, c.handoffIn, c.oos, c.open, c.opened, c.closed, c.pktDrops, c.resends, c.lenientCRC,
		c.inboxDrops, c.batchSize, c.outcomes, c.up, c.rcvbuf, c.sndbuf, c.forced,
		c.steering, c.gso, c.sendsRefused, c.sendsQueued, c.sendsDiscarded, c.panics,
		c.responses, c.proofs, c.proofsAfterClose, c.halfOpen, c.halfPruned, c.connecting, c.disconnecting, c.underAttack, c.attacks, c.unproven, c.peerHeld} {
		ch <- d
	}
	c.ops.describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	f := c.g.Facts()
	for i := range c.g.Len() {
		k := c.g.Shard(i).Counters()
		sh := strconv.Itoa(i)
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{sh}, labels...)...)
		}
		for o := shard.Outcome(0); o < shard.NumOutcomes; o++ {
			counter(c.outcomes, k.Outcomes[o].Load(), o.String())
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, sh)
		}
		gauge(c.up, b2f(c.g.Shard(i).Running()))
		gauge(c.rcvbuf, float64(f.RecvBuffer))
		gauge(c.sndbuf, float64(f.SendBuffer))
		gauge(c.forced, b2f(f.BufferForced))
		gauge(c.steering, b2f(f.Steering))
		si := c.g.Shard(i).SocketInfo()
		gauge(c.gso, b2f(si.GSO)) // now, not at Listen: a socket turns GSO off on EIO
		counter(c.dgIn, k.DatagramsIn.Load())
		counter(c.panics, c.gd.count(i))
		counter(c.bytesIn, k.BytesIn.Load())
		counter(c.dgOut, k.DatagramsOut.Load())
		counter(c.bytesOut, k.BytesOut.Load())
		counter(c.txDrops, k.TxDrops.Load())
		for o := shard.FirstDrop; o < shard.NumOutcomes; o++ {
			counter(c.dropped, k.Outcomes[o].Load(), o.String())
		}
		counter(c.handoffs, k.Outcomes[shard.OutcomeHandoff].Load())
		counter(c.handoffIn, k.HandoffIn.Load())
		counter(c.oos, k.Outcomes[shard.OutcomeOutOfSession].Load())
		counter(c.responses, k.Outcomes[shard.OutcomeResponded].Load())
		counter(c.proofs, k.Proofs.Load())
		counter(c.proofsAfterClose, k.ProofsAfterClose.Load())
		ch <- prometheus.MustNewConstMetric(c.halfOpen, prometheus.GaugeValue, float64(k.HalfOpen.Load()), sh)
		counter(c.halfPruned, k.HalfOpenPruned.Load())
		ch <- prometheus.MustNewConstMetric(c.connecting, prometheus.GaugeValue, float64(k.Connecting.Load()), sh)
		ch <- prometheus.MustNewConstMetric(c.disconnecting, prometheus.GaugeValue, float64(k.Disconnecting.Load()), sh)
		ch <- prometheus.MustNewConstMetric(c.underAttack, prometheus.GaugeValue, float64(k.UnderAttack.Load()), sh)
		counter(c.attacks, k.AttackStarts.Load())
		ch <- prometheus.MustNewConstMetric(c.unproven, prometheus.GaugeValue, float64(k.UnprovenRate.Load()), sh)
		ch <- prometheus.MustNewConstMetric(c.peerHeld, prometheus.GaugeValue, float64(k.PeerHeld.Load()), sh)
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(k.SessionsOpen.Load()), sh)
		counter(c.opened, k.SessionsOpened.Load())
		for r := CloseLocal; r < proto.NumCloseReasons; r++ {
			counter(c.closed, k.SessionsClosed[r].Load(), r.String())
		}
		for j := range k.PacketDrops {
			if name := shard.PacketDropName(j); name != "" {
				counter(c.pktDrops, k.PacketDrops[j].Load(), name)
			}
		}
		counter(c.resends, k.Resends.Load())
		counter(c.lenientCRC, k.LenientCRC.Load())
		counter(c.inboxDrops, k.InboxDrops.Load())
		for r := range shard.NumSendRefusals {
			counter(c.sendsRefused, k.Sends.Refused[r].Load(), r.String())
		}
		counter(c.sendsQueued, k.Sends.Queued.Load())
		counter(c.sendsDiscarded, k.Sends.Discarded.Load())

		buckets := make(map[float64]uint64, shard.NumBatchBuckets)
		var cum, count uint64
		for j := range k.Batches {
			cum += k.Batches[j].Load()
			buckets[float64(shard.BatchBucketBound(j))] = cum
		}
		count = cum
		ch <- prometheus.MustNewConstHistogram(c.batchSize, count, float64(k.BatchSum.Load()), buckets, sh)
		c.ops.collect(ch, c.g.Shard(i), si, sh)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
