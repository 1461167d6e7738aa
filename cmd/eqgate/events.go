package main

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/relay"
)

// Runtime events: what an operator must hear about while the servers run,
// one line per kind and port at most every -log-every, each with the count
// since its last line (so a flood of refusals is one line every interval,
// not one per datagram and not silence): sessions refused by a cap or the
// drain, kernel receive drops, send drops, socket errors, GSO turned off by
// the kernel (once per shard), and a relay backend down (relay.Healthy: its
// last dials all failed) and up again.
type eventWatch struct {
	log     *slog.Logger
	servers []watched
	prev    []eventCounts
	gsoOff  [][]bool

	relays    []*relay.Relay
	relayPrev []relay.Stats
	relayDown []bool
}

// eventCounts is one server's totals at the last look.
type eventCounts struct {
	refused                            map[string]uint64
	kernelDrops, sendDrops, sockErrors uint64
}

// refusalReasons are the outcomes that turn a SessionRequest away.
var refusalReasons = []string{"cap_shard", "cap_total", "cap_ip", "draining"}

// watched is what the event logs read of a server (*eqgate.Server; the
// tests give fakes, to drive every event).
type watched interface {
	Addr() netip.AddrPort
	Shards() int
	Stats() eqgate.Stats
	SocketHealth() []eqgate.SocketHealth
}

var _ watched = (*eqgate.Server)(nil)

func asWatched(servers []*eqgate.Server) []watched {
	out := make([]watched, len(servers))
	for i, s := range servers {
		out[i] = s
	}
	return out
}

func newEventWatch(log *slog.Logger, servers []watched, relays []*relay.Relay) *eventWatch {
	w := &eventWatch{log: log, servers: servers, relays: relays}
	for _, srv := range servers {
		w.prev = append(w.prev, w.counts(srv))
		w.gsoOff = append(w.gsoOff, make([]bool, srv.Shards()))
	}
	for _, r := range relays {
		w.relayPrev = append(w.relayPrev, r.Stats())
	}
	w.relayDown = make([]bool, len(relays))
	return w
}

func (w *eventWatch) counts(srv watched) eventCounts {
	t := srv.Stats().Total
	c := eventCounts{refused: map[string]uint64{}}
	for _, r := range refusalReasons {
		c.refused[r] = t.Drops[r]
	}
	for _, h := range srv.SocketHealth() {
		c.kernelDrops += h.KernelDrops
		c.sendDrops += h.SendDrops
		c.sockErrors += h.SocketErrors
	}
	return c
}

// run looks every interval until ctx ends.
func (w *eventWatch) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.check(every)
		case <-ctx.Done():
			return
		}
	}
}

// check logs what changed since the last look.
func (w *eventWatch) check(every time.Duration) {
	for i, srv := range w.servers {
		listen := srv.Addr().String()
		now := w.counts(srv)
		was := w.prev[i]
		w.prev[i] = now
		var args []any
		var total uint64
		for _, r := range refusalReasons {
			if d := now.refused[r] - was.refused[r]; d > 0 {
				args = append(args, r, d)
				total += d
			}
		}
		if total > 0 {
			w.log.Warn("sessions refused", append([]any{"listen", listen, "refused", total, "interval", every}, args...)...)
		}
		if d := now.kernelDrops - was.kernelDrops; d > 0 {
			w.log.Warn("kernel dropped datagrams: receive queue full; raise -rcvbuf / net.core.rmem_max or add shards",
				"listen", listen, "dropped", d, "interval", every)
		}
		if d := now.sendDrops - was.sendDrops; d > 0 {
			w.log.Warn("kernel refused sends", "listen", listen, "refused", d, "interval", every)
		}
		if d := now.sockErrors - was.sockErrors; d > 0 {
			w.log.Error("socket errors", "listen", listen, "errors", d, "interval", every)
		}
		for sh, h := range srv.SocketHealth() {
			if !h.GSO && h.GSOReason != "" && !w.gsoOff[i][sh] {
				w.gsoOff[i][sh] = true
				w.log.Warn("gso: turned off by the kernel; sending one datagram per message", "listen", listen, "shard", sh, "reason", h.GSOReason)
			}
		}
	}
	for i, r := range w.relays {
		w.checkBackend(i, r, every)
	}
}

// backendFailures are the pair ends that mean a dial to the backend failed.
var backendFailures = []relay.Reason{relay.ReasonBackendNoAnswer, relay.ReasonBackendRefused, relay.ReasonDialError}

// checkBackend logs "backend down" when the relay's backend turns unhealthy
// and then every interval in which more dials failed, with the failures by
// reason since the last line, and "backend up" once a dial opens again.
func (w *eventWatch) checkBackend(i int, r *relay.Relay, every time.Duration) {
	now, was := r.Stats(), w.relayPrev[i]
	w.relayPrev[i] = now
	listen := r.Server().Addr().String()
	err := r.Healthy()
	switch {
	case err != nil && (!w.relayDown[i] || now.DialFailures > was.DialFailures):
		args := []any{"listen", listen, "backend", r.Backend(), "dial_failures", now.DialFailures - was.DialFailures, "interval", every}
		for _, reason := range backendFailures {
			args = append(args, reason.String(), now.Ends[reason]-was.Ends[reason])
		}
		w.log.Error("backend down: the last dials to it all failed; its clients' sessions are closed", append(args, "err", err.Error())...)
		w.relayDown[i] = true
	case err == nil && w.relayDown[i]:
		w.log.Info("backend up", "listen", listen, "backend", r.Backend(), "legs_up", now.LegsUp-was.LegsUp, "interval", every)
		w.relayDown[i] = false
	}
}

// replaceDurations makes JSON logs carry durations as seconds (a number),
// as Prometheus and log shippers expect; text logs keep Go's "1.5s".
func replaceDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}
