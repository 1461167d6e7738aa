package bench

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/bench/flood"
	"github.com/eqgate/eqgate/bench/impair"
)

// Options configures Run. Zero fields take the defaults noted.
type Options struct {
	Target     string        // server "host:port"
	Scenario   string        // name for reports ("" = custom)
	Sessions   int           // client sessions, each its own source endpoint; 1
	Streams    int           // streams used round robin, 1..4; 1
	Sizes      Sizes         // payload size distribution; 64 bytes
	Rate       float64       // messages/s per session; 0 = as fast as the window allows
	Burst      int           // with Rate: messages per burst (Rate/Burst bursts/s); 1
	Window     int           // unechoed messages per session; 32
	Duration   time.Duration // sending time when Count is 0; 10 s
	Count      int           // messages per session; overrides Duration
	Unreliable bool          // send unreliable packets (losses are then expected and counted)
	Fill       Fill          // what payloads carry after their header; FillRandom
	// Grace is how long to wait for the last echoes after sending stops,
	// and the age at which an unreliable message counts as lost; 2 s.
	Grace time.Duration
	// DialParallel is how many sessions connect at once; 64.
	DialParallel int
	// DialRetries is how often a session whose Dial failed (no answer
	// within Client.ConnectStale, 2 s here) is dialed again; 3. Negative:
	// no retries.
	DialRetries int
	// PerAddr is how many sessions share one loopback source address: eqgate
	// refuses more than MaxSessionsPerIP (256) per address by default. With
	// a loopback target and more than PerAddr sessions, session i dials from
	// 127.0.0.(1+i/PerAddr) (through the impairment Proxy, when one is used,
	// whose upstream sockets spread the same way); 200. Negative: never spread.
	PerAddr int
	// Impair, when any field is set, relays the traffic through a Proxy
	// with these impairments.
	Impair impair.Impairment
	// Interval is the sampling period of the time series and the progress
	// callback; 1 s.
	Interval time.Duration
	// Seed drives payload sizes, rate phases and the proxy; 1.
	Seed int64
	// Client configures the one eqgate.Client engine every session runs
	// on; zero fields get values suited to thousands of sessions (one
	// shard, InboxSize 8192, 256 KiB socket buffers per session socket).
	Client eqgate.Config
	// ServerCPU, if set, is read before and after the measured phase (and
	// at every sample) to report the server's CPU per message.
	ServerCPU CPUSource
	// Flood, when Count > 0, floods the server with SessionRequests from
	// many endpoints while the load runs.
	Flood flood.Options
	// Progress, if set, is called from the sampler goroutine at every
	// Interval with the latest sample.
	Progress func(Sample)
	// Command is the command line recorded in Result.Env (eqbench: os.Args).
	Command []string
}

func (o *Options) fill() error {
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&o.Sessions, 1)
	defInt(&o.Streams, 1)
	defInt(&o.Burst, 1)
	defInt(&o.Window, 32)
	defInt(&o.DialParallel, 64)
	defInt(&o.DialRetries, 3)
	o.DialRetries = max(o.DialRetries, 0)
	defInt(&o.PerAddr, 200)
	if o.Duration == 0 && o.Count == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Grace == 0 {
		o.Grace = 2 * time.Second
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if len(o.Sizes) == 0 {
		o.Sizes = Sizes{{Min: 64, Max: 64, Weight: 1}}
	}
	c := &o.Client
	defInt(&c.Shards, DefaultClientShards())
	defInt(&c.InboxSize, 8192)     // the scheduler posts a pump per session per burst
	defInt(&c.RecvBuffer, 256<<10) // per session socket: eqgate's 4 MiB server default is far more than one session needs
	defInt(&c.SendBuffer, 256<<10)
	if c.ConnectStale == 0 {
		c.ConnectStale = 2 * time.Second
	}
	switch {
	case o.Target == "":
		return optError("no target address")
	case o.Sessions < 1 || o.Sessions > 1<<20:
		return optError("Sessions out of range [1, 1<<20]")
	case o.Streams < 1 || o.Streams > maxStreams:
		return optError("Streams out of range [1, 4]")
	case o.Window < 1 || o.Window > 1<<16:
		return optError("Window out of range [1, 65536]")
	case o.Rate < 0 || o.Burst < 1 || o.Count < 0 || o.Duration < 0:
		return optError("negative Rate, Count or Duration, or Burst < 1")
	case o.Interval < 10*time.Millisecond:
		return optError("Interval below 10ms")
	}
	for _, sc := range o.Sizes {
		if sc.Min < MinPayload || sc.Max > MaxPayload || sc.Min > sc.Max || sc.Weight < 1 {
			return optError("bad size class")
		}
	}
	if err := o.Impair.Validate(); err != nil {
		return optError(err.Error())
	}
	return nil
}

// DefaultClientShards is the client engine's shard count when
// Options.Client.Shards is 0: half the cores (the other half is the
// server's on a one-box run), at least 1.
func DefaultClientShards() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// ErrOptions wraps every Options validation error.
var ErrOptions = errors.New("bench: invalid options")

// settleTimeout, beyond the longest the relay holds a datagram, bounds the
// wait for it to pass the disconnects: far above loopback latency.
const settleTimeout = 5 * time.Second

type optError string

func (e optError) Error() string        { return "bench: invalid options: " + string(e) }
func (e optError) Is(target error) bool { return target == ErrOptions }

// runner is one Run in progress.
type runner struct {
	opt   Options
	epoch time.Time
	t0    atomic.Int64 // runner clock at the start of the measured phase

	hist      Histogram
	handshake Histogram
	sessions  []*session

	stopped      atomic.Bool // sending time is over
	closing      atomic.Bool // the runner is closing the sessions
	pending      atomic.Int64
	allDone      chan struct{}
	sessionsLost atomic.Int64
	dialRetries  atomic.Int64

	client *eqgate.Client
	spread bool // sessions dial from 127.0.0.x, PerAddr each
}

// source is session i's local address: the zero Addr (the Client's) unless
// the sessions are spread over loopback addresses.
func (r *runner) source(i int) netip.Addr {
	if !r.spread {
		return netip.Addr{}
	}
	n := 1 + i/r.opt.PerAddr // at most 1<<20/PerAddr: within 127.0.0.0/8
	return netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
}

// sourceCount is how many distinct source addresses the sessions used.
func (r *runner) sourceCount() int {
	if !r.spread {
		return 1
	}
	return (len(r.sessions) + r.opt.PerAddr - 1) / r.opt.PerAddr
}

func (r *runner) now() int64 { return int64(time.Since(r.epoch)) }

func (r *runner) sessionDone() {
	if r.pending.Add(-1) == 0 {
		close(r.allDone)
	}
}

// Run dials the sessions, drives the load, waits for the last echoes and
// returns what it measured. The error is for setup failures (bad options,
// a proxy that cannot bind); a run whose echoes were wrong returns a
// Result whose OK is false. Cancelling ctx ends the sending phase early.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	r := &runner{opt: opt, epoch: time.Now(), allDone: make(chan struct{})}
	res := &Result{Start: r.epoch}
	res.setOptions(&r.opt)

	target := opt.Target
	up, err := resolveUDP(opt.Target)
	if err != nil {
		return nil, err
	}
	spread := opt.PerAddr > 0 && opt.Sessions > opt.PerAddr && up.Addr().Is4() && up.Addr().IsLoopback()
	var proxy *impair.Proxy
	if opt.Impair.Active() {
		per := 0
		if spread {
			per = opt.PerAddr
			spread = false // the proxy spreads; sessions reach it from 127.0.0.1
		}
		proxy, err = impair.StartProxy(impair.ProxyConfig{
			Listen: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0), Upstream: up,
			Impair: opt.Impair, PerAddr: per, MaxFlows: opt.Sessions + 64,
		})
		if err != nil {
			return nil, err
		}
		defer proxy.Close()
		target = proxy.Addr().String()
		res.Relay = true
	}

	client, err := eqgate.NewClient("", opt.Client)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	r.client = client
	r.spread = spread

	r.sessions = make([]*session, opt.Sessions)
	for i := range r.sessions {
		r.sessions[i] = newSession(r, i)
	}

	// Connect phase.
	connectDone := make(chan struct{})
	var dialed atomic.Int64
	go r.sampleConnect(ctx, &dialed, connectDone)
	res.Connected, res.DialErrors = r.dialAll(ctx, target, &dialed)
	close(connectDone)
	res.Handshake = Summarize(r.handshake.Snapshot())
	res.DialRetries = int(r.dialRetries.Load())

	var conns []*session
	for _, s := range r.sessions {
		if s.conn != nil {
			conns = append(conns, s)
		}
	}
	r.pending.Store(int64(len(conns)))
	if len(conns) == 0 {
		close(r.allDone)
	}

	// Measured phase.
	var cpu0 CPUReading
	if opt.ServerCPU != nil {
		var err error
		if cpu0, err = opt.ServerCPU.Read(); err != nil {
			res.ServerCPUError = err.Error()
		}
	}
	self0, _ := ProcCPU{PID: 0}.Read()
	wire0 := client.Stats().Total
	r.t0.Store(r.now())
	t0 := time.Now()

	var fl *flood.Flooder
	if opt.Flood.Count > 0 {
		fl = flood.Start(opt.Flood, up, opt.Seed)
	}
	schedDone := make(chan struct{})
	go r.schedule(conns, schedDone)
	sampler := newSampler(r, conns, t0, cpu0)
	samplerDone := make(chan struct{})
	go sampler.run(samplerDone)

	// Sending phase: a Count run ends by itself; a Duration run at the deadline.
	if opt.Count == 0 {
		timer := time.NewTimer(opt.Duration)
		select {
		case <-timer.C:
		case <-ctx.Done():
		case <-r.allDone:
		}
		timer.Stop()
		r.stopped.Store(true)
	} else if !r.waitCount(ctx, conns) {
		res.GraceExpired = true
	}
	if !res.GraceExpired {
		// Drain: wait for the last echoes, up to Grace.
		grace := time.NewTimer(opt.Grace)
		select {
		case <-r.allDone:
		case <-grace.C:
			res.GraceExpired = true
		}
		grace.Stop()
	}
	r.stopped.Store(true)
	elapsed := time.Since(t0)
	close(schedDone)
	close(samplerDone)
	sampler.wait()

	if opt.ServerCPU != nil && res.ServerCPUError == "" {
		cpu1, err := opt.ServerCPU.Read()
		if err != nil {
			res.ServerCPUError = err.Error()
		} else {
			res.setServerCPU(cpu0, cpu1)
		}
	}
	self1, _ := ProcCPU{PID: 0}.Read()
	res.ClientCPU = self1.CPU - self0.CPU
	if fl != nil {
		fr := fl.Stop()
		res.Flood = &fr
	}

	// Close every session, then settle their windows: after Close the shard
	// goroutines are gone and their state is ours.
	cst := client.Stats()
	res.WireBytesOut = cst.Total.BytesOut - wire0.BytesOut
	res.WireBytesIn = cst.Total.BytesIn - wire0.BytesIn
	res.Resends = cst.Total.Resends
	res.ClientQueueDrops = cst.Total.Dropped
	r.closing.Store(true)
	if proxy != nil {
		proxy.Calm() // the disconnects must reach the server (impair.Proxy.Calm)
	}
	_ = client.Close() // every session: SessionDisconnect, then the sockets
	if proxy != nil {
		if err := proxy.Settle(int(cst.Total.SessionsOpen), settleTimeout+opt.Impair.Delay+opt.Impair.Jitter+impair.ReorderHold); err != nil {
			res.SettleError = err.Error()
		}
	}
	res.SourceAddrs = r.sourceCount()
	for _, s := range r.sessions {
		s.settle()
	}
	if proxy != nil {
		ps := proxy.Stats()
		res.Proxy = &ps
	}
	res.SessionsDropped = int(r.sessionsLost.Load())
	res.finish(r, elapsed, sampler.samples)
	return res, nil
}

// waitCount waits for a Count run to finish; false when it stalled: no
// echo arrived for Grace (a window blocked by a message that never came
// back).
func (r *runner) waitCount(ctx context.Context, conns []*session) bool {
	progress := func() uint64 {
		var n uint64
		for _, s := range conns {
			n += s.c.echoed.Load() + s.c.dup.Load() + s.c.corrupt.Load() + s.c.lost.Load()
		}
		return n
	}
	t := time.NewTicker(max(r.opt.Grace/8, time.Millisecond))
	defer t.Stop()
	last, lastAt := progress(), time.Now()
	for {
		select {
		case <-ctx.Done():
			r.stopped.Store(true)
			return true
		case <-r.allDone:
			return true
		case now := <-t.C:
			if p := progress(); p != last {
				last, lastAt = p, now
			} else if now.Sub(lastAt) >= r.opt.Grace {
				return false
			}
		}
	}
}

// dialAll connects every session, DialParallel at a time.
func (r *runner) dialAll(ctx context.Context, target string, dialed *atomic.Int64) (connected int, errs map[string]int) {
	var mu sync.Mutex
	errs = map[string]int{}
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(r.opt.DialParallel, len(r.sessions)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(r.sessions) || ctx.Err() != nil {
					return
				}
				s := r.sessions[i]
				var c *eqgate.Conn
				var err error
				var start time.Time
				for attempt := 0; ; attempt++ {
					start = time.Now()
					c, err = r.client.DialFrom(r.source(i), target, s)
					if err == nil || !errors.Is(err, eqgate.ErrDialFailed) || attempt >= r.opt.DialRetries {
						break
					}
					// See Options.DialRetries: a SessionRequest lost to a
					// full queue somewhere.
					r.dialRetries.Add(1)
				}
				dialed.Add(1)
				if err != nil {
					mu.Lock()
					errs[err.Error()]++
					mu.Unlock()
					continue
				}
				r.handshake.Record(time.Since(start))
				s.conn = c
				mu.Lock()
				connected++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return connected, errs
}

// schedule posts pumps: in rate mode to each session once per burst
// period, in window mode only to sessions that asked for it (after a send
// error, or unreliable ones that must expire losses); after sending stops,
// to every session not yet done so it notices.
func (r *runner) schedule(conns []*session, done <-chan struct{}) {
	o := &r.opt
	tick := 50 * time.Millisecond
	var period int64
	if o.Rate > 0 {
		period = int64(float64(o.Burst) / o.Rate * 1e9)
		// Fine ticks: sessions start at spread phases, and a coarse tick
		// would line their sends up into bursts no game client makes.
		tick = min(max(time.Duration(period)/64, time.Millisecond), 50*time.Millisecond)
	}
	// Due times, scheduler goroutine only.
	due := make([]int64, len(conns))
	t0 := r.t0.Load()
	for i, s := range conns {
		due[i] = t0 + s.phase
	}
	// Every session gets a first pump at once (window mode starts here).
	for _, s := range conns {
		_ = s.conn.Post(s.pumpFn) // a full inbox: the tick below retries
	}
	kicked := make([]bool, len(conns))
	lastPoll := r.now()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		now := r.now()
		stopped := r.stopped.Load()
		poll := now-lastPoll >= int64(50*time.Millisecond)
		if poll {
			lastPoll = now
		}
		for i, s := range conns {
			if !stopped && !poll && (period == 0 || now < due[i]) {
				continue // no case below applies: leave the session's cache lines alone
			}
			if s.done.Load() {
				continue
			}
			switch {
			case stopped && !kicked[i]:
				kicked[i] = s.conn.Post(s.pumpFn) == nil
			case period > 0 && now >= due[i]:
				if s.conn.Post(s.pumpFn) == nil {
					due[i] += period
					if due[i] < now {
						due[i] = now + period // fell behind: do not burst to catch up
					}
				}
			case poll && (o.Unreliable || s.wantTick.Load() || stopped):
				s.wantTick.Store(false)
				_ = s.conn.Post(s.pumpFn) // retried at the next poll
			}
		}
	}
}

// resolveUDP resolves "host:port" to an IPv4-unmapped AddrPort.
func resolveUDP(addr string) (netip.AddrPort, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}
