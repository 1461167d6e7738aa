package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eqgate/eqgate/relay"
)

// expandPorts turns "host:port" or "host:first-last" into one address per
// port, in order (a range of equal length on -listen and -backend maps
// port i to port i).
func expandPorts(s string) ([]string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, err
	}
	lo, hi, isRange := strings.Cut(port, "-")
	if !isRange {
		return []string{s}, nil
	}
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return nil, fmt.Errorf("port range %q: want first-last, 1 <= first <= last <= 65535", port)
	}
	out := make([]string, 0, last-first+1)
	for p := first; p <= last; p++ {
		out = append(out, net.JoinHostPort(host, strconv.FormatUint(p, 10)))
	}
	return out, nil
}

// listenPlan expands -listen (and, for the relay, -backend) into one entry
// per port: listen[i] is served, relayed to backend[i] when the handler is
// relay. The i-th -backend pairs with the i-th -listen, and their ranges
// must be of equal length.
func listenPlan(listen, backend []string, handler string) (ls, bs []string, err error) {
	if handler != "relay" {
		if len(backend) > 0 {
			return nil, nil, errors.New("flag -backend is for -handler relay")
		}
		for _, l := range listen {
			ports, err := expandPorts(l)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid value %q for flag -listen: %v", l, err)
			}
			ls = append(ls, ports...)
		}
		return ls, nil, nil
	}
	if len(backend) != len(listen) {
		return nil, nil, fmt.Errorf("-handler relay needs one -backend per -listen (%d -listen, %d -backend)", len(listen), len(backend))
	}
	for i := range listen {
		lp, err := expandPorts(listen[i])
		if err != nil {
			return nil, nil, fmt.Errorf("invalid value %q for flag -listen: %v", listen[i], err)
		}
		bp, err := expandPorts(backend[i])
		if err != nil {
			return nil, nil, fmt.Errorf("invalid value %q for flag -backend: %v", backend[i], err)
		}
		if len(lp) != len(bp) {
			return nil, nil, fmt.Errorf("-listen %s has %d ports but its -backend %s has %d", listen[i], len(lp), backend[i], len(bp))
		}
		ls, bs = append(ls, lp...), append(bs, bp...)
	}
	return ls, bs, nil
}

// relayCollector exports one relay's counters, labelled by its backend
// (the registry adds the listen label).
type relayCollector struct{ r *relay.Relay }

var (
	relayDescSessions = prometheus.NewDesc("eqgate_relay_sessions_total", "Client sessions relayed (each with a backend leg).", []string{"backend"}, nil)
	relayDescActive   = prometheus.NewDesc("eqgate_relay_sessions_active", "Pairs (client session and backend leg) running now.", []string{"backend"}, nil)
	relayDescLegsUp   = prometheus.NewDesc("eqgate_relay_backend_legs_up_total", "Backend legs the backend answered.", []string{"backend"}, nil)
	relayDescDialFail = prometheus.NewDesc("eqgate_relay_dial_failures_total", "Backend legs that never opened (no answer, refused, socket error).", []string{"backend"}, nil)
	relayDescDrops    = prometheus.NewDesc("eqgate_relay_queue_drops_total", "Client messages refused from the hold queue before the backend leg was up (each closed its session).", []string{"backend"}, nil)
	relayDescQueued   = prometheus.NewDesc("eqgate_relay_queued_bytes", "Bytes the running pairs' legs hold for their peers (sent unacknowledged plus queued), as last read; budgeted per shard by -relay-queue-budget.", []string{"backend"}, nil)
	relayDescMsgs     = prometheus.NewDesc("eqgate_relay_messages_total", "Application messages relayed, by direction.", []string{"backend", "dir"}, nil)
	relayDescBytes    = prometheus.NewDesc("eqgate_relay_bytes_total", "Application bytes relayed, by direction.", []string{"backend", "dir"}, nil)
	relayDescRTT      = prometheus.NewDesc("eqgate_relay_backend_connect_seconds", "Mean time from a backend leg's SessionRequest to the backend's answer.", []string{"backend"}, nil)
	relayDescRTTHist  = prometheus.NewDesc("eqgate_relay_backend_rtt_seconds", "Backend legs' round trips once up, from their sessions' RTT samples (acknowledged packets never resent), on eqgate_rtt_seconds' buckets.", []string{"backend"}, nil)
	relayDescEnds     = prometheus.NewDesc("eqgate_relay_ends_total", "Pairs ended, by the reason of the leg (or relay decision) that ended first.", []string{"backend", "reason"}, nil)
	relayDescUp       = prometheus.NewDesc("eqgate_relay_backend_up", "0 while the last dials to the backend all failed (see /healthz), else 1.", []string{"backend"}, nil)
)

func (c relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{relayDescSessions, relayDescActive, relayDescLegsUp, relayDescDialFail, relayDescDrops, relayDescQueued, relayDescMsgs, relayDescBytes, relayDescRTT, relayDescRTTHist, relayDescEnds, relayDescUp} {
		ch <- d
	}
}

func (c relayCollector) Collect(ch chan<- prometheus.Metric) {
	s, b := c.r.Stats(), c.r.Backend()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{b}, labels...)...)
	}
	counter(relayDescSessions, s.Sessions)
	ch <- prometheus.MustNewConstMetric(relayDescActive, prometheus.GaugeValue, float64(s.Active), b)
	counter(relayDescLegsUp, s.LegsUp)
	counter(relayDescDialFail, s.DialFailures)
	counter(relayDescDrops, s.PendingDrops)
	ch <- prometheus.MustNewConstMetric(relayDescQueued, prometheus.GaugeValue, float64(s.Queued), b)
	counter(relayDescMsgs, s.MsgsToBackend, "to_backend")
	counter(relayDescMsgs, s.MsgsToClient, "to_client")
	counter(relayDescBytes, s.BytesToBackend, "to_backend")
	counter(relayDescBytes, s.BytesToClient, "to_client")
	ch <- prometheus.MustNewConstMetric(relayDescRTT, prometheus.GaugeValue, s.ConnectRTT.Seconds(), b)
	h := &s.BackendRTT
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, bound := range h.Bounds {
		cum += h.Counts[i]
		buckets[bound.Seconds()] = cum
	}
	ch <- prometheus.MustNewConstHistogram(relayDescRTTHist, h.Count, h.Sum.Seconds(), buckets, b)
	for r := relay.Reason(1); r < relay.NumReasons; r++ {
		counter(relayDescEnds, s.Ends[r], r.String())
	}
	up := 1.0
	if c.r.Healthy() != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(relayDescUp, prometheus.GaugeValue, up, b)
}
