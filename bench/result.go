package bench

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/eqgate/eqgate/bench/flood"
	"github.com/eqgate/eqgate/bench/impair"
)

// Latency summarizes a latency histogram, in microseconds.
type Latency struct {
	Count  uint64  `json:"count"`
	P50Us  float64 `json:"p50_us"`
	P90Us  float64 `json:"p90_us"`
	P99Us  float64 `json:"p99_us"`
	P999Us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	MeanUs float64 `json:"mean_us"`
}

func us(d time.Duration) float64 { return float64(d) / 1e3 }

// HistBins lists s's non-empty buckets, the histogram a Result carries.
func HistBins(s HistSnapshot) []HistBin {
	var bins []HistBin
	for i, c := range s.Counts {
		if c > 0 {
			bins = append(bins, HistBin{LoUs: us(time.Duration(bucketLow(i))), HiUs: us(time.Duration(min(bucketHigh(i), 1<<62))), Count: c})
		}
	}
	return bins
}

// Summarize gives s's quantiles, the latency a Result carries.
func Summarize(s HistSnapshot) Latency {
	return Latency{
		Count: s.Total,
		P50Us: us(s.Quantile(0.5)), P90Us: us(s.Quantile(0.9)), P99Us: us(s.Quantile(0.99)),
		P999Us: us(s.Quantile(0.999)), MaxUs: us(s.Max), MeanUs: us(s.Mean()),
	}
}

// HistBin is one non-empty histogram bucket.
type HistBin struct {
	LoUs  float64 `json:"lo_us"`
	HiUs  float64 `json:"hi_us"`
	Count uint64  `json:"count"`
}

// Sample is one Interval of a run (or, in the connect phase, progress).
type Sample struct {
	Phase     string  `json:"phase"` // "connect" or "run"
	T         float64 `json:"t_s"`   // seconds since the phase started
	Connected int     `json:"connected"`
	Sent      uint64  `json:"sent"` // cumulative
	Echoed    uint64  `json:"echoed"`
	Lost      uint64  `json:"lost"`
	Dup       uint64  `json:"dup"`
	Corrupt   uint64  `json:"corrupt"`

	SentPerSec     float64 `json:"sent_per_s"` // over the interval
	EchoedPerSec   float64 `json:"echoed_per_s"`
	BytesOutPerSec float64 `json:"bytes_out_per_s"`
	BytesInPerSec  float64 `json:"bytes_in_per_s"`
	P50Us          float64 `json:"p50_us"`
	P99Us          float64 `json:"p99_us"`
	MaxUs          float64 `json:"max_us"`
	// ServerCPUNsPerMsg is the server's CPU over the interval per echoed
	// message; 0 without a CPU source or echoes.
	ServerCPUNsPerMsg float64 `json:"server_cpu_ns_per_msg,omitempty"`
}

// Result is what Run measured.
type Result struct {
	Scenario  string            `json:"scenario"`
	Target    string            `json:"target"`
	Sessions  int               `json:"sessions"`
	Streams   int               `json:"streams"`
	Sizes     string            `json:"sizes"`
	Rate      float64           `json:"rate"`
	Burst     int               `json:"burst"`
	Window    int               `json:"window"`
	DurationS float64           `json:"duration_s,omitempty"`
	Count     int               `json:"count,omitempty"`
	Reliable  bool              `json:"reliable"`
	Fill      string            `json:"fill"`
	Seed      int64             `json:"seed"`
	Impair    impair.Impairment `json:"impair"`
	Start     time.Time         `json:"start"`

	Connected       int            `json:"connected"`
	DialErrors      map[string]int `json:"dial_errors,omitempty"`
	DialRetries     int            `json:"dial_retries"`
	SessionsDropped int            `json:"sessions_dropped"` // closed by the peer or a timeout mid-run
	Handshake       Latency        `json:"handshake"`

	ElapsedS       float64 `json:"elapsed_s"` // measured phase: first send to last echo (or grace)
	Sent           uint64  `json:"sent"`
	Echoed         uint64  `json:"echoed"`
	Lost           uint64  `json:"lost"`
	Dup            uint64  `json:"dup"`
	Corrupt        uint64  `json:"corrupt"`
	Misorder       uint64  `json:"misorder"` // reliable echoes that overtook an earlier one of their stream
	SendErrors     uint64  `json:"send_errors"`
	BytesSent      uint64  `json:"bytes_sent"`
	BytesEchoed    uint64  `json:"bytes_echoed"`
	MsgsPerSec     float64 `json:"msgs_per_s"` // echoed messages per second
	SentPerSec     float64 `json:"sent_per_s"`
	BytesOutPerSec float64 `json:"bytes_out_per_s"`
	BytesInPerSec  float64 `json:"bytes_in_per_s"`
	GraceExpired   bool    `json:"grace_expired"`
	// Wire bytes of the measured phase, as the client's sockets saw them
	// (headers, acks, keepalives and the encoding included), and per
	// payload byte: with a compressed encoding, the compression ratio.
	WireBytesOut   uint64  `json:"wire_bytes_out"`
	WireBytesIn    uint64  `json:"wire_bytes_in"`
	WireOutPerByte float64 `json:"wire_out_per_payload_byte"`
	WireInPerByte  float64 `json:"wire_in_per_payload_byte"`

	Latency   Latency   `json:"latency"`
	Histogram []HistBin `json:"histogram"`

	Resends          uint64 `json:"resends"` // client side
	ServerResends    uint64 `json:"server_resends"`
	HasServerResends bool   `json:"has_server_resends"`

	HasServerCPU      bool          `json:"has_server_cpu"`
	ServerCPUS        float64       `json:"server_cpu_s"`
	ServerCPUNsPerMsg float64       `json:"server_cpu_ns_per_msg"`
	ServerCPUError    string        `json:"server_cpu_error,omitempty"`
	SettleError       string        `json:"settle_error,omitempty"` // the relay did not pass every SessionDisconnect in time
	ClientCPU         time.Duration `json:"-"`
	ClientCPUNsPerMsg float64       `json:"client_cpu_ns_per_msg"`

	SourceAddrs      int    `json:"source_addrs"`       // distinct client source addresses
	ClientFDs        int    `json:"client_fds"`         // session sockets the client held once connected (Client.FDs)
	ClientQueueDrops uint64 `json:"client_queue_drops"` // datagrams the client engine dropped (all drop outcomes)

	Env     Env                `json:"env"`   // where it was measured
	Relay   bool               `json:"relay"` // traffic went through a Proxy
	Proxy   *impair.ProxyStats `json:"proxy,omitempty"`
	Flood   *flood.Result      `json:"flood,omitempty"`
	Samples []Sample           `json:"samples"`
}

func (r *Result) setOptions(o *Options) {
	r.Env = CurrentEnv(o.Command)
	r.Scenario, r.Target = o.Scenario, o.Target
	r.Sessions, r.Streams, r.Sizes = o.Sessions, o.Streams, o.Sizes.String()
	r.Rate, r.Burst, r.Window, r.Count = o.Rate, o.Burst, o.Window, o.Count
	if o.Count == 0 {
		r.DurationS = o.Duration.Seconds()
	}
	r.Reliable, r.Seed, r.Impair, r.Fill = !o.Unreliable, o.Seed, o.Impair, o.Fill.String()
}

func (r *Result) setServerCPU(a, b CPUReading) {
	r.HasServerCPU = true
	r.ServerCPUS = (b.CPU - a.CPU).Seconds()
	if a.HasResends && b.HasResends {
		r.HasServerResends = true
		r.ServerResends = b.Resends - a.Resends
	}
}

func (r *Result) finish(rn *runner, elapsed time.Duration, samples []Sample) {
	for _, s := range rn.sessions {
		c := &s.c
		r.Sent += c.sent.Load()
		r.Echoed += c.echoed.Load()
		r.Lost += c.lost.Load()
		r.Dup += c.dup.Load()
		r.Corrupt += c.corrupt.Load()
		r.Misorder += c.misorder.Load()
		r.SendErrors += c.sendErrors.Load()
		r.BytesSent += c.bytesOut.Load()
		r.BytesEchoed += c.bytesIn.Load()
	}
	r.ElapsedS = elapsed.Seconds()
	if sec := elapsed.Seconds(); sec > 0 {
		r.MsgsPerSec = float64(r.Echoed) / sec
		r.SentPerSec = float64(r.Sent) / sec
		r.BytesOutPerSec = float64(r.BytesSent) / sec
		r.BytesInPerSec = float64(r.BytesEchoed) / sec
	}
	if r.BytesSent > 0 && r.BytesEchoed > 0 {
		r.WireOutPerByte = float64(r.WireBytesOut) / float64(r.BytesSent)
		r.WireInPerByte = float64(r.WireBytesIn) / float64(r.BytesEchoed)
	}
	snap := rn.hist.Snapshot()
	r.Latency = Summarize(snap)
	r.Histogram = HistBins(snap)
	if r.HasServerCPU && r.Echoed > 0 {
		r.ServerCPUNsPerMsg = r.ServerCPUS * 1e9 / float64(r.Echoed)
	}
	if r.Echoed > 0 {
		r.ClientCPUNsPerMsg = float64(r.ClientCPU) / float64(r.Echoed)
	}
	r.Samples = samples
}

// OK reports whether the run was clean: every session connected and stayed
// up, and every message came back once, intact and in order.
func (r *Result) OK() bool {
	return r.Connected == r.Sessions && r.SessionsDropped == 0 &&
		r.Lost == 0 && r.Dup == 0 && r.Corrupt == 0 && r.Misorder == 0
}

// Summary is the one-line key=value summary eqbench prints last. The keys
// up to server_cpu_ns_per_msg are stable for scripts; server_cpu_ns_per_msg
// is empty without a server CPU source.
func (r *Result) Summary() string {
	var b strings.Builder
	kv := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	kv("sessions", strconv.Itoa(r.Sessions))
	kv("connected", strconv.Itoa(r.Connected))
	kv("sent", u(r.Sent))
	kv("echoed", u(r.Echoed))
	kv("lost", u(r.Lost))
	kv("dup", u(r.Dup))
	kv("corrupt", u(r.Corrupt))
	kv("msgs_per_s", f(r.MsgsPerSec, 0))
	kv("p50_us", f(r.Latency.P50Us, 1))
	kv("p99_us", f(r.Latency.P99Us, 1))
	kv("p999_us", f(r.Latency.P999Us, 1))
	kv("resends", u(r.Resends))
	cpu := ""
	if r.HasServerCPU {
		cpu = f(r.ServerCPUNsPerMsg, 0)
	}
	kv("server_cpu_ns_per_msg", cpu)
	kv("misorder", u(r.Misorder))
	kv("dropped_sessions", strconv.Itoa(r.SessionsDropped))
	kv("send_errors", u(r.SendErrors))
	kv("p90_us", f(r.Latency.P90Us, 1))
	kv("max_us", f(r.Latency.MaxUs, 1))
	kv("dial_retries", strconv.Itoa(r.DialRetries))
	kv("handshake_p50_ms", f(r.Handshake.P50Us/1e3, 2))
	kv("handshake_p99_ms", f(r.Handshake.P99Us/1e3, 2))
	kv("sent_per_s", f(r.SentPerSec, 0))
	kv("out_bytes_per_s", f(r.BytesOutPerSec, 0))
	kv("in_bytes_per_s", f(r.BytesInPerSec, 0))
	kv("wire_out_per_byte", f(r.WireOutPerByte, 3))
	kv("wire_in_per_byte", f(r.WireInPerByte, 3))
	if r.HasServerResends {
		kv("server_resends", u(r.ServerResends))
	}
	kv("client_cpu_ns_per_msg", f(r.ClientCPUNsPerMsg, 0))
	kv("elapsed_s", f(r.ElapsedS, 2))
	if r.Flood != nil {
		kv("flood_sent", u(r.Flood.Sent))
		kv("flood_answered", u(r.Flood.Answered))
		kv("flood_refused", u(r.Flood.Refused))
		kv("flood_silent", u(r.Flood.Silent))
	}
	kv("sources", strconv.Itoa(r.SourceAddrs))
	kv("client_fds", strconv.Itoa(r.ClientFDs))
	kv("client_queue_drops", u(r.ClientQueueDrops))
	kv("relay", strconv.FormatBool(r.Relay))
	kv("ok", strconv.FormatBool(r.OK()))
	return b.String()
}

// Report is a human-readable multi-line report (without the summary line).
func (r *Result) Report() string {
	var b strings.Builder
	w := func(parts ...string) {
		b.WriteString(strings.Join(parts, ""))
		b.WriteByte('\n')
	}
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	name := r.Scenario
	if name == "" {
		name = "custom"
	}
	mode := "reliable"
	if !r.Reliable {
		mode = "unreliable"
	}
	w("eqbench ", name, " -> ", r.Target, ": ", strconv.Itoa(r.Sessions), " sessions x ", strconv.Itoa(r.Streams),
		" streams, sizes ", r.Sizes, ", window ", strconv.Itoa(r.Window), ", rate ", RateString(r.Rate, r.Burst), ", ", mode, ", ", r.Fill, " fill")
	if r.Impair.Active() {
		w("  impairment: ", r.Impair.String())
	}
	w("  sessions:   ", strconv.Itoa(r.Connected), "/", strconv.Itoa(r.Sessions), " connected, ", strconv.Itoa(r.SessionsDropped), " dropped mid-run; handshake p50 ",
		f(r.Handshake.P50Us/1e3, 2), " ms, p99 ", f(r.Handshake.P99Us/1e3, 2), " ms, max ", f(r.Handshake.MaxUs/1e3, 2), " ms; ", strconv.Itoa(r.DialRetries), " dial retries")
	keys := make([]string, 0, len(r.DialErrors))
	for k := range r.DialErrors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w("  dial error: ", strconv.Itoa(r.DialErrors[k]), " x ", k)
	}
	w("  messages:   ", u(r.Sent), " sent, ", u(r.Echoed), " echoed, ", u(r.Lost), " lost, ", u(r.Dup), " dup, ", u(r.Corrupt), " corrupt, ",
		u(r.Misorder), " out of order, ", u(r.SendErrors), " send errors in ", f(r.ElapsedS, 2), " s")
	w("  throughput: out ", f(r.SentPerSec, 0), " msg/s ", f(r.BytesOutPerSec/1e6, 2), " MB/s; in ", f(r.MsgsPerSec, 0), " msg/s ", f(r.BytesInPerSec/1e6, 2), " MB/s")
	w("  wire:       ", f(r.WireOutPerByte, 3), " bytes out and ", f(r.WireInPerByte, 3), " bytes in per payload byte (", r.Fill, " fill)")
	l := r.Latency
	w("  latency:    p50 ", f(l.P50Us, 1), " us, p90 ", f(l.P90Us, 1), " us, p99 ", f(l.P99Us, 1), " us, p99.9 ", f(l.P999Us, 1), " us, max ", f(l.MaxUs, 1), " us, mean ", f(l.MeanUs, 1), " us")
	res := "  resends:    client " + u(r.Resends)
	if r.HasServerResends {
		res += ", server " + u(r.ServerResends)
	}
	w(res)
	switch {
	case r.HasServerCPU:
		w("  server CPU: ", f(r.ServerCPUS, 3), " s, ", f(r.ServerCPUNsPerMsg, 0), " ns per echoed message")
	case r.ServerCPUError != "":
		w("  server CPU: unavailable: ", r.ServerCPUError)
	}
	w("  client CPU: ", f(r.ClientCPU.Seconds(), 3), " s, ", f(r.ClientCPUNsPerMsg, 0), " ns per echoed message")
	if r.Proxy != nil {
		w("  proxy:      ", r.Proxy.String())
	}
	if r.Flood != nil {
		w("  flood:      ", r.Flood.String())
	}
	if r.GraceExpired {
		w("  grace period expired with echoes outstanding")
	}
	return b.String()
}

// RateString describes a send rate and burst for reports.
func RateString(rate float64, burst int) string {
	if rate <= 0 {
		return "window-limited"
	}
	s := strconv.FormatFloat(rate, 'f', -1, 64) + "/s"
	if burst > 1 {
		s += " in bursts of " + strconv.Itoa(burst)
	}
	return s
}

// sampler builds the time series.
type sampler struct {
	r       *runner
	conns   []*session
	t0      time.Time
	prev    Sample
	prevH   HistSnapshot
	prevCPU CPUReading
	cpuOK   bool
	samples []Sample
	exited  chan struct{}

	bytesOut, bytesIn uint64 // at the previous sample
}

func newSampler(r *runner, conns []*session, t0 time.Time, cpu0 CPUReading) *sampler {
	return &sampler{r: r, conns: conns, t0: t0, prevH: r.hist.Snapshot(), prevCPU: cpu0,
		cpuOK: r.opt.ServerCPU != nil, exited: make(chan struct{})}
}

func (sm *sampler) run(done <-chan struct{}) {
	defer close(sm.exited)
	t := time.NewTicker(sm.r.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			sm.take()
		}
	}
}

func (sm *sampler) wait() { <-sm.exited }

func (sm *sampler) take() {
	var s Sample
	s.Phase = "run"
	s.T = time.Since(sm.t0).Seconds()
	s.Connected = len(sm.conns) - int(sm.r.sessionsLost.Load())
	var bo, bi uint64
	for _, x := range sm.conns {
		s.Sent += x.c.sent.Load()
		s.Echoed += x.c.echoed.Load()
		s.Lost += x.c.lost.Load()
		s.Dup += x.c.dup.Load()
		s.Corrupt += x.c.corrupt.Load()
		bo += x.c.bytesOut.Load()
		bi += x.c.bytesIn.Load()
	}
	dt := s.T - sm.prev.T
	if dt <= 0 {
		dt = sm.r.opt.Interval.Seconds()
	}
	s.SentPerSec = float64(s.Sent-sm.prev.Sent) / dt
	s.EchoedPerSec = float64(s.Echoed-sm.prev.Echoed) / dt
	s.BytesOutPerSec = float64(bo-sm.bytesOut) / dt
	s.BytesInPerSec = float64(bi-sm.bytesIn) / dt
	h := sm.r.hist.Snapshot()
	d := h.Sub(sm.prevH)
	s.P50Us, s.P99Us, s.MaxUs = us(d.Quantile(0.5)), us(d.Quantile(0.99)), us(d.Max)
	sm.prevH = h
	if sm.cpuOK {
		if c, err := sm.r.opt.ServerCPU.Read(); err == nil {
			if n := s.Echoed - sm.prev.Echoed; n > 0 {
				s.ServerCPUNsPerMsg = float64(c.CPU-sm.prevCPU.CPU) / float64(n)
			}
			sm.prevCPU = c
		}
	}
	sm.bytesOut, sm.bytesIn = bo, bi
	sm.prev = s
	sm.samples = append(sm.samples, s)
	if sm.r.opt.Progress != nil {
		sm.r.opt.Progress(s)
	}
}

// sampleConnect reports dialing progress until done.
func (r *runner) sampleConnect(ctx context.Context, dialed interface{ Load() int64 }, done <-chan struct{}) {
	if r.opt.Progress == nil {
		return
	}
	start := time.Now()
	t := time.NewTicker(r.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			r.opt.Progress(Sample{Phase: "connect", T: time.Since(start).Seconds(), Connected: int(dialed.Load())})
		}
	}
}

func itoa(v int) string { return strconv.Itoa(v) }
