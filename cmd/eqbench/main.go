// Command eqbench drives a server that speaks the EQ session protocol and
// echoes application packets: many client sessions, checked payloads, and
// a report of throughput, latency, resends and the server's CPU cost per
// message. The last line it prints is a key=value summary for scripts; the
// exit status is 1 when any echo was lost, duplicated, corrupted or out of
// order (or a session failed), 2 on a usage or setup error.
//
//	eqbench -sessions 100 -window 32 -duration 10s 127.0.0.1:9000
//	eqbench -scenario zone -server-metrics http://127.0.0.1:9100/metrics -report zone.html 127.0.0.1:9000
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eqgate/eqgate/bench"
	"github.com/eqgate/eqgate/bench/flood"
	"github.com/eqgate/eqgate/bench/impair"
	"github.com/eqgate/eqgate/bench/report"
	"github.com/eqgate/eqgate/proto"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("eqbench", flag.ContinueOnError)
	var (
		scenario   = fs.String("scenario", "", "named preset (flags given explicitly override it):\n"+bench.ScenarioHelp())
		sessions   = fs.Int("sessions", 1, "client sessions, each its own source endpoint")
		streams    = fs.Int("streams", 1, "streams 1..4, used round robin")
		size       = fs.Int("size", 64, "payload size in bytes (12..65535)")
		sizes      = fs.String("sizes", "", "size list instead of -size: a,b,c; ranges lo-hi; weights x*W (e.g. 16-200*95,1024-4096*5)")
		rate       = fs.Float64("rate", 0, "messages per second per session (0: as fast as the window allows)")
		burst      = fs.Int("burst", 1, "with -rate: send in bursts of this many")
		window     = fs.Int("window", 32, "unechoed messages per session")
		duration   = fs.Duration("duration", 10*time.Second, "sending time (unless -count)")
		count      = fs.Int("count", 0, "messages per session (overrides -duration)")
		reliable   = fs.Bool("reliable", true, "reliable packets; false sends unreliable ones (losses then count)")
		fillName   = fs.String("fill", "random", "payload after its 12-byte header: random (incompressible) or game (records shaped like zone traffic; deflates to about 0.6)")
		grace      = fs.Duration("grace", 2*time.Second, "wait this long for the last echoes")
		perAddr    = fs.Int("per-addr", 200, "sessions per loopback source address; more sessions dial from 127.0.0.1, .2, ... (negative: never)")
		share      = fs.Bool("share", true, "when more than -per-addr sessions spread over loopback addresses, give each its own and let them share one socket per client shard (eqgate Config.ShareSockets): a few fds for any number of sessions, reads and writes batched over all of them")
		dialPar    = fs.Int("dial-parallel", 64, "sessions connecting at once")
		cShards    = fs.Int("client-shards", 0, "shard goroutines of the client engine all sessions share (0: "+strconv.Itoa(bench.DefaultClientShards())+")")
		seed       = fs.Int64("seed", 1, "seed for sizes, phases and impairments")
		interval   = fs.Duration("interval", time.Second, "sampling interval for the time series and the progress line")
		loss       = fs.Float64("loss", 0, "impairment: drop probability per datagram, each way (0..1)")
		dup        = fs.Float64("dup", 0, "impairment: duplicate probability")
		reorder    = fs.Float64("reorder", 0, "impairment: probability a datagram is held back "+impair.ReorderHold.String())
		delay      = fs.Duration("delay", 0, "impairment: added one-way delay")
		jitter     = fs.Duration("jitter", 0, "impairment: extra uniform random delay up to this")
		corrupt    = fs.Float64("corrupt", 0, "impairment: probability one bit is flipped (CRC-protected packets only)")
		floodN     = fs.Int("flood", 0, "send this many SessionRequests from fresh endpoints during the run")
		floodRate  = fs.Float64("flood-rate", 5000, "flood requests per second")
		floodSrc   = fs.Int("flood-sources", 256, "flood source addresses (127.1.x.y)")
		spoofN     = fs.Int("spoof", 0, "during the run, also send this many datagrams from forged 127.x.y.z sources (65,536 endpoints; raw sockets, root)")
		spoofKind  = fs.String("spoof-kind", "request", "what -spoof sends: request, garbage, keepalive, stat_request, ack or disconnect")
		spoofRate  = fs.Float64("spoof-rate", 30000, "-spoof datagrams per second (0: as fast as possible)")
		metricsURL = fs.String("server-metrics", "", "server metrics URL with process_cpu_seconds_total (server CPU per message)")
		serverPID  = fs.Int("server-pid", 0, "server process id: CPU from /proc/PID/stat")
		jsonFile   = fs.String("json", "", "write the full result as JSON to this file")
		htmlFile   = fs.String("report", "", "write a self-contained HTML report with plots to this file")
		quiet      = fs.Bool("q", false, "no report, only the summary line")
		cpuProf    = fs.String("cpuprofile", "", "write eqbench's own CPU profile (pprof) to this file")
		memProf    = fs.String("memprofile", "", "write eqbench's own allocation profile (pprof: every allocation since start, sampled) to this file at the end of the run")
		variant    = fs.String("variant", "rs", "protocol variant of the client sessions: rs, legacy or eq2 (legacy and eq2 have one stream: -streams 1)")
	)
	var cLevel proto.CompressLevel
	fs.Var(&cLevel, "compress-level", "compression `level` of what the client sends on a compressed listener: default (the default), fast or small")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eqbench [flags] HOST:PORT\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	opt := bench.Options{Sessions: *sessions, Streams: *streams, Rate: *rate, Burst: *burst, Window: *window,
		Duration: *duration, Count: *count}
	if *scenario != "" {
		preset, ok := bench.ScenarioOptions(*scenario)
		if !ok {
			fmt.Fprintf(os.Stderr, "eqbench: unknown scenario %q (have %s)\n", *scenario, strings.Join(bench.ScenarioNames(), ", "))
			return 2
		}
		// Explicit flags win over the preset.
		over := func(name string, apply func()) {
			if set[name] {
				apply()
			}
		}
		over("sessions", func() { preset.Sessions = *sessions })
		over("streams", func() { preset.Streams = *streams })
		over("rate", func() { preset.Rate = *rate })
		over("burst", func() { preset.Burst = *burst })
		over("window", func() { preset.Window = *window })
		over("duration", func() { preset.Duration = *duration })
		over("count", func() { preset.Count = *count })
		if set["size"] || set["sizes"] {
			preset.Sizes = nil
		}
		opt = preset
	}
	if len(opt.Sizes) == 0 {
		spec := strconv.Itoa(*size)
		if *sizes != "" {
			spec = *sizes
		}
		sz, err := bench.ParseSizes(spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			return 2
		}
		opt.Sizes = sz
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	if *memProf != "" {
		f, err := os.Create(*memProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			return 2
		}
		defer func() {
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fmt.Fprintln(os.Stderr, "eqbench:", err)
			}
			f.Close()
		}()
	}
	opt.Target = fs.Arg(0)
	opt.Command = os.Args
	opt.Unreliable = !*reliable
	fill, ok := bench.ParseFill(*fillName)
	if !ok {
		fmt.Fprintf(os.Stderr, "eqbench: -fill %q: want random or game\n", *fillName)
		return 2
	}
	opt.Fill = fill
	opt.Grace, opt.PerAddr, opt.DialParallel, opt.Seed, opt.Interval = *grace, *perAddr, *dialPar, *seed, *interval
	opt.Client.Shards = *cShards
	opt.Client.ShareSockets = *share
	v, ok := proto.ParseVariant(*variant)
	if !ok {
		fmt.Fprintf(os.Stderr, "eqbench: -variant %q: want rs, legacy or eq2\n", *variant)
		return 2
	}
	opt.Client.Variant = v
	opt.Client.CompressLevel = cLevel
	// Echoes are checked byte for byte: against a LEGACY chat listener the
	// client's filler byte (SPEC §21.4) would come back inside them.
	opt.Client.ChatNoFiller = true
	opt.Impair = impair.Impairment{Loss: *loss, Dup: *dup, Reorder: *reorder, Delay: *delay, Jitter: *jitter, Corrupt: *corrupt}
	if set["flood"] {
		opt.Flood.Count = *floodN
	}
	if opt.Flood.Count > 0 {
		if set["flood-rate"] || opt.Flood.Rate == 0 {
			opt.Flood.Rate = *floodRate
		}
		if set["flood-sources"] || opt.Flood.Sources == 0 {
			opt.Flood.Sources = *floodSrc
		}
	}
	switch {
	case *metricsURL != "" && *serverPID != 0:
		fmt.Fprintln(os.Stderr, "eqbench: give -server-metrics or -server-pid, not both")
		return 2
	case *metricsURL != "":
		opt.ServerCPU = bench.MetricsCPU{URL: *metricsURL}
	case *serverPID != 0:
		opt.ServerCPU = bench.ProcCPU{PID: *serverPID}
	}
	if isTerminal(os.Stderr) {
		opt.Progress = progressLine
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var spoofDone chan string
	if *spoofN > 0 {
		kind := flood.NumKinds
		for k := range flood.NumKinds {
			if k.String() == *spoofKind {
				kind = k
			}
		}
		target, err := netip.ParseAddrPort(opt.Target)
		if kind == flood.NumKinds || err != nil {
			fmt.Fprintln(os.Stderr, "eqbench: -spoof needs a known -spoof-kind and a numeric HOST:PORT")
			return 2
		}
		spoofDone = make(chan string, 1)
		go func() {
			r, err := flood.Spoof(flood.SpoofOptions{Kind: kind, Count: *spoofN, Rate: *spoofRate, Seed: uint64(*seed)}, target)
			if err != nil {
				spoofDone <- "spoof: " + err.Error()
				return
			}
			spoofDone <- fmt.Sprintf("spoof: %d %s datagrams, %d bytes, from forged sources in %v", r.Sent, r.Kind, r.Bytes, r.Elapsed.Round(time.Millisecond))
		}()
	}
	res, err := bench.Run(ctx, opt)
	if spoofDone != nil {
		fmt.Fprintln(os.Stderr, <-spoofDone)
	}
	if opt.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "eqbench:", err)
		return 2
	}
	status := 0
	if *jsonFile != "" {
		if err := writeFile(*jsonFile, func(f *os.File) error {
			enc := json.NewEncoder(f)
			enc.SetIndent("", "  ")
			return enc.Encode(res)
		}); err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			status = 2
		}
	}
	if *htmlFile != "" {
		if err := writeFile(*htmlFile, func(f *os.File) error { return report.WriteHTML(f, res) }); err != nil {
			fmt.Fprintln(os.Stderr, "eqbench:", err)
			status = 2
		}
	}
	if !*quiet {
		fmt.Print(res.Report())
	}
	fmt.Println(res.Summary())
	if status == 0 && !res.OK() {
		status = 1
	}
	return status
}

func writeFile(name string, write func(*os.File) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

// isTerminal reports whether f is a character device (a terminal), without
// a syscall package: good enough to decide on a progress line.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressLine(s bench.Sample) {
	if s.Phase == "connect" {
		fmt.Fprintf(os.Stderr, "\r\033[Kconnecting: %d sessions dialed, %.0fs", s.Connected, s.T)
		return
	}
	cpu := ""
	if s.ServerCPUNsPerMsg > 0 {
		cpu = fmt.Sprintf(" cpu %.0f ns/msg", s.ServerCPUNsPerMsg)
	}
	fmt.Fprintf(os.Stderr, "\r\033[K%5.0fs %d sessions  out %.0f/s  in %.0f/s  p50 %.0fus p99 %.0fus max %.0fus  lost %d dup %d corrupt %d%s",
		s.T, s.Connected, s.SentPerSec, s.EchoedPerSec, s.P50Us, s.P99Us, s.MaxUs, s.Lost, s.Dup, s.Corrupt, cpu)
}
