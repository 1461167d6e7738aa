// Command eqgate is the production frontend: it serves EverQuest-family
// reliable-stream sessions on one or more UDP ports (one eqgate.Server per
// -listen, one shard per core each) with a built-in handler, and exposes
// Prometheus metrics, a health check and optionally pprof over HTTP.
//
// It only wires: flags, and the keys of a -config file (configfile.go),
// map onto eqgate.Config (flags.go), the handler is chosen by name
// (handlers.go), the HTTP endpoints read the servers
// (http.go), and signals drive the drain (this file). Run with -h for the
// flags; tuning.md explains each one.
//
// Output contract for scripts: once every socket is bound, one line on
// stdout,
//
//	eqgate: listening udp 0.0.0.0:9000 shards=2 handler=echo metrics=http://127.0.0.1:9100/metrics
//
// with the real bound addresses (comma-separated when -listen repeats, or
// a -config file has several listeners), or metrics=off; shards= and
// handler= are one value when every listener has the same, else one per
// address, comma-separated. Logs go to stderr. A start-up failure is one line on stderr,
// "eqgate: ...", and exit status 2 for bad flags, 1 otherwise. After
// SIGINT/SIGTERM the exit status is 0 when the drain ran to its end (players
// left, or were flushed and disconnected at -drain-timeout), 1 when a shard
// was stuck or a second signal cut it short.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/relay"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	if len(args) > 0 && args[0] == "decode" {
		return runDecode(args[1:], stdout, stderr)
	}
	ls, err := loadOptions(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "eqgate: %s\n", strings.TrimPrefix(err.Error(), "eqgate: "))
		return 2
	}
	o := ls[0] // the process-wide settings are the same in every listener
	if o.checkConfig {
		writeConfig(stdout, ls)
		return 0
	}
	log := newLogger(o, stderr)

	// One echo for every listener that uses it: its counter is one series.
	echoH := new(echo)
	var servers []*eqgate.Server
	var relays []*relay.Relay
	var cfgs []eqgate.Config // cfgs[i]: what servers[i] runs with, for the logs
	var handlers []string
	closeAll := func() {
		for _, srv := range servers {
			_ = srv.Close()
		}
		closeRelays(log, relays)
	}
	for _, lo := range ls {
		for i, addr := range lo.listen {
			var srv *eqgate.Server
			var err error
			switch lo.handler {
			case "relay":
				var r *relay.Relay
				if r, err = relay.Listen(addr, lo.cfg, relayConfig(lo, lo.backend[i])); err == nil {
					relays = append(relays, r)
					srv = r.Server()
				}
			case "discard":
				srv, err = eqgate.Listen(addr, lo.cfg, discard{})
			default:
				srv, err = eqgate.Listen(addr, lo.cfg, echoH)
			}
			if errors.Is(err, eqgate.ErrBadConfig) {
				closeAll()
				fmt.Fprintf(stderr, "%v%s\n", err, lo.hint(err))
				return 2
			}
			if err != nil {
				closeAll()
				fmt.Fprintf(stderr, "eqgate: listen udp %s: %v\n", addr, err)
				return 1
			}
			servers = append(servers, srv)
			cfgs = append(cfgs, lo.cfg.Filled())
			handlers = append(handlers, lo.handler)
		}
	}

	hl := &health{servers: servers, relays: relays}
	var httpSrv *http.Server
	httpErr := make(chan error, 1)
	metricsURL := "off"
	if o.metrics != "" {
		ln, err := net.Listen("tcp", o.metrics)
		if err != nil {
			closeAll()
			fmt.Fprintf(stderr, "eqgate: metrics: %v\n", err)
			return 1
		}
		httpSrv = &http.Server{
			Handler:           newMux(newRegistry(servers, echoH, relays), hl, o.pprof),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() {
			if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				httpErr <- err
			}
		}()
		metricsURL = "http://" + ln.Addr().String() + "/metrics"
	}

	addrs := make([]string, len(servers))
	shards := make([]string, len(servers))
	for i, srv := range servers {
		addrs[i] = srv.Addr().String()
		shards[i] = strconv.Itoa(srv.Shards())
	}
	fmt.Fprintf(stdout, "eqgate: listening udp %s shards=%s handler=%s metrics=%s\n",
		strings.Join(addrs, ","), sameOrList(shards), sameOrList(handlers), metricsURL)
	log.Info("ready", "listen", strings.Join(addrs, ","), "shards", sameOrList(shards), "handler", sameOrList(handlers),
		"metrics", metricsURL, "pprof", o.pprof, "listeners", len(ls))
	for i, srv := range servers {
		cfg := cfgs[i]
		log.Info("listener", "listen", addrs[i], "shards", srv.Shards(), "handler", handlers[i],
			"variant", cfg.Variant.String(), "encode", cfg.Encoding.String(), "steer", cfg.Steering, "gso", cfg.GSO,
			"batch", cfg.Batch, "rcvbuf", cfg.RecvBuffer, "sndbuf", cfg.SendBuffer,
			"max_packet", cfg.MaxPacketSize, "crc_bytes", cfg.CRCBytes,
			"max_sessions", cfg.MaxSessions, "max_sessions_per_ip", cfg.MaxSessionsPerIP)
		log.Debug("config", "listen", addrs[i], "config", fmt.Sprintf("%+v", cfg))
		logFacts(log, srv, cfg)
	}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	ws := asWatched(servers)
	go newEventWatch(log, ws, relays).run(watchCtx, o.logEvery)

	// Serve until a stop signal (or the HTTP endpoint dies: an operator
	// relying on /healthz would otherwise see a healthy-looking corpse).
	status := 0
	attackTick := time.NewTicker(time.Second)
	defer attackTick.Stop()
	var attacks attackLog
wait:
	for {
		select {
		case now := <-attackTick.C:
			attacks.check(log, ws, now)
		case s := <-sig:
			if s == syscall.SIGHUP {
				logTotals(log, "totals", servers)
				continue
			}
			// Before the log line: a script may check /healthz, or dial, on it.
			hl.draining.Store(true)
			for _, srv := range servers {
				srv.Drain()
			}
			log.Info("draining", "signal", s.String(), "timeout", o.drainTimeout, "flush", o.drainFlush)
			break wait
		case err := <-httpErr:
			log.Error("metrics endpoint failed; draining", "err", err)
			status = 1
			break wait
		}
	}

	// Drain (Server.ShutdownFlush): /healthz says 503 from now on so
	// balancers stop sending, new sessions are refused, open ones carry on
	// until they leave or -drain-timeout passes, then each is flushed (up to
	// -drain-flush) and disconnected. A second signal aborts at once.
	hl.draining.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), o.drainTimeout)
	defer cancel()
	drained := make(chan error, 1)
	go func() { drained <- shutdownAll(ctx, o.drainFlush, log, servers) }()
drain:
	for {
		select {
		case err := <-drained:
			if errors.Is(err, eqgate.ErrDrainStuck) {
				log.Error("drain: a shard did not finish; exiting", "err", err.Error())
				return 1
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				log.Error("drain failed", "err", err.Error())
				return 1
			}
			break drain
		case s := <-sig:
			if s == syscall.SIGHUP {
				logTotals(log, "totals", servers)
				continue
			}
			log.Warn("second signal; exiting without finishing the drain", "signal", s.String())
			for _, srv := range servers {
				_ = srv.Abort() // no waiting: the process is leaving
			}
			return 1
		}
	}
	if httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = httpSrv.Shutdown(ctx) // scrapes in flight get a second; the process is leaving anyway
		cancel()
	}
	closeRelays(log, relays)
	logTotals(log, "stopped", servers)
	return status
}

// shutdownAll drains every server at once (ctx bounds how long sessions
// may stay, flush the flush after it) and returns their errors joined.
func shutdownAll(ctx context.Context, flush time.Duration, log *slog.Logger, servers []*eqgate.Server) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() {
			before := srv.Stats().Total.SessionsOpen
			errs[i] = srv.ShutdownFlush(ctx, flush)
			switch {
			case errors.Is(errs[i], context.DeadlineExceeded):
				log.Info("drained at the deadline; sessions left were flushed and disconnected",
					"listen", srv.Addr().String(), "sessions_at_start", before)
			case errs[i] != nil && ctx.Err() == nil:
				log.Error("close", "listen", srv.Addr().String(), "err", errs[i].Error())
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// closeRelays closes the relays' backend legs once their servers have
// drained (each client session's close already sent its leg a
// SessionDisconnect).
func closeRelays(log *slog.Logger, relays []*relay.Relay) {
	for _, r := range relays {
		if err := r.Close(); err != nil {
			log.Error("close relay", "backend", r.Backend(), "err", err)
		}
	}
}

// relayConfig is the relay of one -listen port. Its backend legs are
// dialled sessions of the port's own shards, so they run with the same
// flags (a dialled session offers -max-packet and takes the rest from the
// backend's answer) and give up after -connect-timeout.
func relayConfig(o *options, backend string) relay.Config {
	return relay.Config{Backend: backend, MaxPending: o.relayPending, ShardBudget: o.relayBudget,
		MaxQueued: o.relayQueued, QueueBudget: o.relayQBudget}
}

// logFacts logs what the kernel granted a server's sockets, and warns where
// that is less than asked: a clamped buffer (raise net.core.rmem_max /
// wmem_max, tuning.md section 1), steering or GSO asked for but off.
func logFacts(log *slog.Logger, srv *eqgate.Server, cfg eqgate.Config) {
	f := srv.Facts()
	listen := srv.Addr().String()
	log.Info("sockets", "listen", listen, "sockets", f.Sockets,
		"rcvbuf_granted", f.RecvBuffer, "sndbuf_granted", f.SendBuffer, "buffer_forced", f.BufferForced,
		"steering", f.Steering, "gso", f.GSO, "gso_supported", f.GSOSupported, "packet_info", f.PacketInfo)
	// getsockopt reports twice the usable size (the kernel's bookkeeping).
	if f.RecvBuffer > 0 && f.RecvBuffer/2 < cfg.RecvBuffer {
		log.Warn("rcvbuf clamped by the kernel; raise net.core.rmem_max or run with CAP_NET_ADMIN",
			"listen", listen, "asked", cfg.RecvBuffer, "granted", f.RecvBuffer/2)
	}
	if f.SendBuffer > 0 && f.SendBuffer/2 < cfg.SendBuffer {
		log.Warn("sndbuf clamped by the kernel; raise net.core.wmem_max or run with CAP_NET_ADMIN",
			"listen", listen, "asked", cfg.SendBuffer, "granted", f.SendBuffer/2)
	}
	if cfg.Steering && !f.Steering && f.Sockets > 1 {
		// Still correct, through handoff rings; eqgate_handoffs_total shows the cost.
		log.Warn("steering: off", "listen", listen, "reason", f.SteeringReason)
	}
	if cfg.GSO && !f.GSO {
		log.Warn("gso: off", "listen", listen, "reason", f.GSOReason)
	}
}

// hint names the settings behind the Config fields a validation error
// names, as " (flag -batch)" or " (key batch in eqgate.toml)", since the
// library speaks in field names.
func (o *options) hint(err error) string {
	var ce *eqgate.ConfigError
	if !errors.As(err, &ce) {
		return ""
	}
	var flags, keys []string
	for _, field := range ce.Fields {
		f, ok := configFlags[field]
		if !ok {
			continue
		}
		if file := o.from[f]; file != "" && file != "flag" {
			if k := f + " in " + file; !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		} else if !slices.Contains(flags, "-"+f) {
			flags = append(flags, "-"+f)
		}
	}
	var parts []string
	if len(flags) > 0 {
		parts = append(parts, "flag "+strings.Join(flags, ", "))
	}
	if len(keys) > 0 {
		parts = append(parts, "key "+strings.Join(keys, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// flagHint is hint for a command line without a file.
func flagHint(err error) string { return new(options).hint(err) }

// sameOrList is one value when all are equal, else all of them
// comma-separated (the ready line's shards= and handler=).
func sameOrList(v []string) string {
	if len(v) > 0 && !slices.ContainsFunc(v, func(x string) bool { return x != v[0] }) {
		return v[0]
	}
	return strings.Join(v, ",")
}

// newLogger builds the slog logger the -log-format and -log-level flags ask
// for, writing to w.
func newLogger(o *options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logFormat == "json" {
		ho.ReplaceAttr = replaceDurations
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// logTotals logs every server's counters summed over its shards.
func logTotals(log *slog.Logger, msg string, servers []*eqgate.Server) {
	for _, srv := range servers {
		t := srv.Stats().Total
		log.Info(msg, "listen", srv.Addr().String(),
			"sessions_open", t.SessionsOpen, "sessions_opened", t.SessionsOpened,
			"datagrams_in", t.DatagramsIn, "datagrams_out", t.DatagramsOut,
			"bytes_in", t.BytesIn, "bytes_out", t.BytesOut,
			"dropped", t.Dropped, "send_drops", t.TxDrops, "resends", t.Resends,
			"handoffs", t.Handoffs, "inbox_drops", t.InboxDrops)
	}
}
