package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eqgate/eqgate"
)

// newRegistry registers each server's collector (its series carry its
// listen address, so several -listen ports do not collide, and the label is
// there even with one server, so adding a port renames nothing), the build
// info, and the Go runtime and process collectors.
func newRegistry(servers []*eqgate.Server, h eqgate.Handler) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), eqgate.BuildInfoCollector())
	for _, srv := range servers {
		reg.MustRegister(srv.Collector())
	}
	if e, ok := h.(*echo); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "eqgate_echo_send_errors_total",
			Help: "Echoes the engine refused (send queue full, session closing).",
		}, func() float64 { return float64(e.sendErrors.Load()) }))
	}
	return reg
}

// health answers /healthz: 200 when every shard of every server runs its
// loop, 503 while draining or when a shard does not. Two checks: the
// library's Server.Healthy (each shard goroutine is alive: cheap, no
// waiting) and a probe that proves each loop still turns, which Healthy
// cannot see: a function posted to its inbox is run by its goroutine within
// healthTimeout (an idle shard wakes for inbox work within 1 ms; a loop
// stuck in a handler never runs it).
type health struct {
	servers  []*eqgate.Server
	draining atomic.Bool
}

const healthTimeout = 2 * time.Second

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	total := 0
	for _, srv := range h.servers {
		total += srv.Shards()
	}
	// Buffered for every probe, so a late answer never blocks a shard.
	ran := make(chan struct{}, total)
	var problems []string
	for _, srv := range h.servers {
		if err := srv.Healthy(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", srv.Addr(), err))
		}
	}
	posted := 0
	for _, srv := range h.servers {
		for i := range srv.Shards() {
			if err := srv.Post(i, func() { ran <- struct{}{} }); err != nil {
				problems = append(problems, fmt.Sprintf("%s shard %d: %v", srv.Addr(), i, err))
				continue
			}
			posted++
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	for answered := 0; answered < posted; answered++ {
		select {
		case <-ran:
		case <-ctx.Done():
			problems = append(problems, fmt.Sprintf("%d of %d shards did not answer within %v", posted-answered, total, healthTimeout))
			answered = posted
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "\n"), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintf(w, "ok: %d shards running\n", total)
}

// newMux serves /metrics, /healthz, /debug/sessions and, with -pprof,
// /debug/pprof/.
func newMux(reg *prometheus.Registry, h *health, withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/healthz", h)
	sp := &sessionsPage{servers: h.servers}
	mux.HandleFunc("GET /debug/sessions", sp.list)
	mux.HandleFunc("GET /debug/sessions/{id...}", sp.one)
	mux.Handle("GET /debug/trace", &tracePage{servers: h.servers})
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
