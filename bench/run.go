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
	// whose upstream sockets spread the same way); 200. Negative: never
	// spread. With Client.ShareSockets a spread run gives each session an
	// address of its own, 127.0.0.(1+i), and all of them share one socket
	// per client shard; runs of PerAddr sessions or fewer dial from the
	// Client's address on a socket each, as without it.
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
	wantTicks    atomic.Int64 // sessions whose wantTick is set

	client *eqgate.Client
	spread bool // sessions dial from 127.0.0.x, PerAddr each
}

// source is session i's local address: the zero Addr (the Client's) unless
// the sessions are spread over loopback addresses.
func (r *runner) source(i int) netip.Addr {
	if !r.spread {
		return netip.Addr{}
	}
	n := 1 + i/r.perAddr() // at most 1<<20: within 127.0.0.0/8
	return netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
}

// sourceCount is how many distinct source addresses the sessions used.
func (r *runner) sourceCount() int {
	if !r.spread {
		return 1
	}
	return (len(r.sessions) + r.perAddr() - 1) / r.perAddr()
}

// perAddr is how many sessions of a spread run share a source address.
func (r *runner) perAddr() int {
	if r.opt.Client.ShareSockets {
		return 1
	}
	return r.opt.PerAddr
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
	res.ClientFDs = client.FDs()

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
	rate := closeRate
	if proxy != nil {
		rate = proxyCloseRate
	}
	r.closeAll(conns, rate)
	_ = client.Close() // the engine: what closeAll left (none), then the sockets
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
// to every session not yet done so it notices. A pump the shard's full
// inbox refused is posted again at the next tick.
//
// Rate mode works through the sessions in phase order, a slot of about a
// millisecond at a time (burstSlots), so each tick touches only the sessions
// due in it: with 100,000 sessions a scan of all of them per tick cost 9 % of
// eqbench, and the 50 ms tick such scans needed sent each tick's sessions in
// one burst, which queued for 13 ms (p50) in the client and the server.
func (r *runner) schedule(conns []*session, done <-chan struct{}) {
	o := &r.opt
	tick := 50 * time.Millisecond
	var slots *burstSlots
	if o.Rate > 0 {
		period := int64(float64(o.Burst) / o.Rate * 1e9)
		slots = newBurstSlots(conns, period, r.t0.Load())
		tick = max(time.Duration(slots.tick), time.Millisecond)
	}
	queued := make([]bool, len(conns))
	var retry, again []int32
	post := func(i int32) {
		s := conns[i]
		if s.done.Load() || queued[i] {
			return
		}
		if s.conn.Post(s.pumpFn) != nil {
			queued[i] = true
			retry = append(retry, i)
		}
	}
	if slots == nil {
		// Window mode starts here: every session's first pump at once. (In
		// rate mode the slots pump each session when its phase comes: 100,000
		// pumps at once delayed the first second's sends by up to 95 ms.)
		for i := range conns {
			post(int32(i))
		}
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
		again, retry = retry, again[:0]
		for _, i := range again {
			queued[i] = false
			post(i)
		}
		if slots != nil && !stopped {
			slots.due(now, post)
		}
		if now-lastPoll < int64(50*time.Millisecond) {
			continue
		}
		lastPoll = now
		if !stopped && !o.Unreliable && r.wantTicks.Load() == 0 {
			continue // nobody to poll: leave the sessions' cache lines alone
		}
		for i, s := range conns {
			switch {
			case s.done.Load():
			case stopped && !kicked[i]:
				kicked[i] = s.conn.Post(s.pumpFn) == nil
			case o.Unreliable || stopped:
				post(int32(i))
			case s.wantTick.Swap(false):
				r.wantTicks.Add(-1)
				post(int32(i))
			}
		}
	}
}

// burstSlots orders rate-mode sessions by phase into slots of one tick
// (about 1 ms; period/tick slots per period): slot k holds the sessions
// whose first burst is due in [k·tick, (k+1)·tick) after t0, and each
// revolution of the slots is one burst period.
type burstSlots struct {
	t0, period, tick int64
	start            []int32 // slot k is order[start[k]:start[k+1]]
	order            []int32
	rev              int64 // revolution of the next slot
	cur              int   // the next slot
}

func newBurstSlots(conns []*session, period, t0 int64) *burstSlots {
	n := max(1, int(period/int64(time.Millisecond)))
	b := &burstSlots{t0: t0, period: period, tick: max(period/int64(n), 1), start: make([]int32, n+1), order: make([]int32, len(conns))}
	slot := func(s *session) int { return min(int(s.phase/b.tick), n-1) }
	for _, s := range conns {
		b.start[slot(s)+1]++
	}
	for k := range n {
		b.start[k+1] += b.start[k]
	}
	fill := append([]int32(nil), b.start[:n]...)
	for i, s := range conns {
		k := slot(s)
		b.order[fill[k]] = int32(i)
		fill[k]++
	}
	return b
}

// next is when the next slot is due: once its last session's phase has
// passed, so every pump finds its burst due.
func (b *burstSlots) next() int64 {
	return b.t0 + b.rev*b.period + int64(b.cur+1)*b.tick
}

// due calls post for the sessions of every slot due by now. One that fell
// more than a period behind skips whole revolutions rather than pump each
// session several times to catch up (a pump sends whatever is due).
func (b *burstSlots) due(now int64, post func(int32)) {
	if late := now - b.next(); late > b.period {
		b.rev += late / b.period
	}
	for now >= b.next() {
		for _, i := range b.order[b.start[b.cur]:b.start[b.cur+1]] {
			post(i)
		}
		if b.cur++; b.cur == len(b.start)-1 {
			b.cur, b.rev = 0, b.rev+1
		}
	}
}

// closeRate bounds the SessionDisconnects closeAll sends per second. When
// Client.Close ended 100,000 sessions at once, their disconnects overflowed
// the server's 4 MiB receive buffer (about 5,000 small datagrams) and the
// 47,987 it dropped stayed open on the server until its stale timeout.
const closeRate = 100_000

// proxyCloseRate is closeRate through the impairment relay, whose one
// goroutine reads every client's datagrams from one socket: 1,000
// disconnects at once overflowed it (7,233 of 8,000 sessions stayed open
// on the server) where the kernel keeps its buffer small (rmem_max).
const proxyCloseRate = 10_000

// closeTick is the interval between two chunks of closeAll.
const closeTick = 10 * time.Millisecond

// closeAll closes the sessions a chunk per closeTick, rate a second: a run
// of 100,000 sessions takes a second to end (ten through the relay), one
// of a chunk or fewer no time at all.
func (r *runner) closeAll(conns []*session, rate int) {
	t := time.NewTicker(closeTick)
	defer t.Stop()
	closeChunks(len(conns), closeChunk(rate), func() { <-t.C }, func(i int) {
		_ = conns[i].conn.Close() // an error: the engine is closing, and ends the session itself
	})
}

// closeChunk is how many sessions closeAll closes per closeTick at rate a
// second.
func closeChunk(rate int) int { return rate * int(closeTick) / int(time.Second) }

// closeChunks calls close(0..n-1), chunk calls at once and each later
// chunk after a wait.
func closeChunks(n, chunk int, wait func(), close func(int)) {
	for i := 0; i < n; i += chunk {
		if i > 0 {
			wait()
		}
		for k := i; k < min(i+chunk, n); k++ {
			close(k)
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
