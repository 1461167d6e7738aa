package impair

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Impairment says what a Proxy does to datagrams, in each direction
// independently. Probabilities are in [0, 1].
type Impairment struct {
	Loss    float64       `json:"loss,omitempty"`    // drop the datagram
	Dup     float64       `json:"dup,omitempty"`     // send it twice
	Reorder float64       `json:"reorder,omitempty"` // hold it back ReorderHold so later ones overtake it
	Corrupt float64       `json:"corrupt,omitempty"` // flip one bit (never in the CRC-less handshake, see below)
	Delay   time.Duration `json:"delay,omitempty"`   // added to every datagram
	Jitter  time.Duration `json:"jitter,omitempty"`  // plus a uniform random [0, Jitter)
}

// ReorderHold is how much longer than the others a reordered datagram waits.
const ReorderHold = 2 * time.Millisecond

// Active reports whether any impairment is set.
func (im Impairment) Active() bool {
	return im.Loss > 0 || im.Dup > 0 || im.Reorder > 0 || im.Corrupt > 0 || im.Delay > 0 || im.Jitter > 0
}

// ErrImpairment says an Impairment is out of range.
var ErrImpairment = errors.New("impair: impairment out of range")

// Validate reports an Impairment whose probabilities or delays are out of
// range, as an error that Is ErrImpairment.
func (im Impairment) Validate() error {
	for _, p := range []float64{im.Loss, im.Dup, im.Reorder, im.Corrupt} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%w: probability outside [0, 1]", ErrImpairment)
		}
	}
	if im.Delay < 0 || im.Jitter < 0 || im.Delay > time.Minute || im.Jitter > time.Minute {
		return fmt.Errorf("%w: delay or jitter outside [0, 1m]", ErrImpairment)
	}
	return nil
}

func (im Impairment) String() string {
	var parts []string
	p := func(name string, v float64) {
		if v > 0 {
			parts = append(parts, name+" "+strconv.FormatFloat(v*100, 'f', -1, 64)+"%")
		}
	}
	p("loss", im.Loss)
	p("dup", im.Dup)
	p("reorder", im.Reorder)
	p("corrupt", im.Corrupt)
	if im.Delay > 0 {
		parts = append(parts, "delay "+im.Delay.String())
	}
	if im.Jitter > 0 {
		parts = append(parts, "jitter "+im.Jitter.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// verdict is what happens to one datagram.
type verdict struct {
	drop      bool
	copies    int           // 1 or 2
	corrupt   int           // bit index to flip, or -1
	delay     time.Duration // 0: forward at once
	reordered bool
}

// decide draws a datagram's fate. The draws are made in a fixed order and
// always the same number of them, so a flow's verdicts depend only on the
// seed and the datagram's position in the flow. Corruption spares the
// datagrams the protocol sends without a CRC (SessionRequest,
// SessionResponse, OutOfSession: SPEC §5): on a real network the UDP
// checksum is what protects those, and the proxy stands for the errors
// that get past it.
func (im *Impairment) decide(rng *rand.Rand, pkt []byte) verdict {
	v := verdict{copies: 1, corrupt: -1}
	rLoss, rDup, rReorder, rCorrupt, rJitter := rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64(), rng.Float64()
	bit := rng.IntN(1 << 20)
	if rLoss < im.Loss {
		v.drop = true
		return v
	}
	if rDup < im.Dup {
		v.copies = 2
	}
	if rCorrupt < im.Corrupt && len(pkt) > 0 && !crcless(pkt) {
		v.corrupt = bit % (len(pkt) * 8)
	}
	v.delay = im.Delay
	if im.Jitter > 0 {
		v.delay += time.Duration(rJitter * float64(im.Jitter))
	}
	if rReorder < im.Reorder {
		v.delay += ReorderHold
		v.reordered = true
	}
	return v
}

// crcless reports whether pkt is a protocol packet sent without a CRC.
func crcless(pkt []byte) bool {
	return len(pkt) >= 2 && pkt[0] == 0 && (pkt[1] == 0x01 || pkt[1] == 0x02 || pkt[1] == 0x1d)
}

// ProxyConfig configures StartProxy.
type ProxyConfig struct {
	Listen   netip.AddrPort // client-facing address; port 0 picks one
	Upstream netip.AddrPort // the server
	Impair   Impairment
	Seed     int64
	// PerAddr, when positive, binds upstream sockets on loopback source
	// addresses 127.0.0.1, 127.0.0.2, ... with PerAddr flows each, so a
	// server's per-address session cap sees many sources. 0: the kernel
	// picks the source address.
	PerAddr int
	// MaxFlows caps client endpoints (each costs a socket and a
	// goroutine); datagrams from more are dropped and counted. 65536.
	MaxFlows int
}

// DirStats counts one direction of a Proxy.
type DirStats struct {
	Packets     uint64 `json:"packets"` // received
	Dropped     uint64 `json:"dropped"`
	Duplicated  uint64 `json:"duplicated"`
	Corrupted   uint64 `json:"corrupted"`
	Reordered   uint64 `json:"reordered"`
	Delayed     uint64 `json:"delayed"`
	WriteErrors uint64 `json:"write_errors"`
}

// ProxyStats is a snapshot of a Proxy's counters.
type ProxyStats struct {
	Flows        int      `json:"flows"`
	FlowsRefused uint64   `json:"flows_refused"`
	Up           DirStats `json:"up"`   // client to server
	Down         DirStats `json:"down"` // server to client
}

func (s ProxyStats) String() string {
	d := func(name string, x DirStats) string {
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		return name + " " + u(x.Packets) + " pkts (" + u(x.Dropped) + " dropped, " + u(x.Duplicated) + " dup, " +
			u(x.Reordered) + " reordered, " + u(x.Corrupted) + " corrupted, " + u(x.WriteErrors) + " write errors)"
	}
	return strconv.Itoa(s.Flows) + " flows; " + d("up", s.Up) + "; " + d("down", s.Down)
}

type dirCounters struct {
	packets, dropped, duplicated, corrupted, reordered, delayed, writeErrors atomic.Uint64
}

func (c *dirCounters) load() DirStats {
	return DirStats{c.packets.Load(), c.dropped.Load(), c.duplicated.Load(), c.corrupted.Load(),
		c.reordered.Load(), c.delayed.Load(), c.writeErrors.Load()}
}

// Proxy is a seeded impairment relay between clients and one server: one
// client-facing socket, and per client endpoint one upstream socket, so the
// server sees as many distinct endpoints as there are clients. Each
// direction of each flow draws from its own random stream (seed, flow
// index, direction), so a flow's fate is reproducible whatever the
// goroutine interleaving; what is not reproducible is the order in which
// flows are first seen.
//
// Goroutines: one reads the client-facing socket (and alone creates
// flows), one per flow reads its upstream socket, one releases delayed
// datagrams.
type Proxy struct {
	cfg  ProxyConfig
	down *net.UDPConn
	q    *delayQueue

	flows   map[netip.AddrPort]*flow // client-facing reader only
	mu      sync.Mutex               // guards all and closed
	all     []*flow
	closed  bool
	nflows  atomic.Int64
	refused atomic.Uint64
	up, dn  dirCounters
	wg      sync.WaitGroup
	// calm, once set by Settle, forwards every datagram unimpaired and at
	// once; byes counts the SessionDisconnects then sent to the server.
	calm atomic.Bool
	byes atomic.Int64
}

type flow struct {
	client  netip.AddrPort
	up      *net.UDPConn
	rngUp   *rand.Rand // client-facing reader goroutine only
	rngDown *rand.Rand // the flow's upstream reader only
}

// downBuffer is the receive buffer the client-facing socket asks for.
const downBuffer = 4 << 20

// StartProxy binds the client-facing socket and starts relaying.
func StartProxy(cfg ProxyConfig) (*Proxy, error) {
	if err := cfg.Impair.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Upstream.IsValid() {
		return nil, errors.New("bench: proxy needs an upstream address")
	}
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = 65536
	}
	down, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, err
	}
	// Every client's datagrams arrive on this one socket, read by one
	// goroutine: at a run's end 1,000 SessionDisconnects come at once, and
	// the default buffer (about 200 KiB) dropped most of them, leaving their
	// sessions open on the server until the stale timeout. The kernel
	// clamps the size to net.core.rmem_max.
	_ = down.SetReadBuffer(downBuffer) // best effort: a smaller buffer still works
	p := &Proxy{cfg: cfg, down: down, flows: map[netip.AddrPort]*flow{}}
	if cfg.Impair.Delay > 0 || cfg.Impair.Jitter > 0 || cfg.Impair.Reorder > 0 {
		p.q = newDelayQueue()
		p.wg.Go(p.q.run)
	}
	p.wg.Go(p.readDown)
	return p, nil
}

// Addr is the client-facing address: point clients here.
func (p *Proxy) Addr() netip.AddrPort {
	ap := p.down.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Stats returns the counters.
func (p *Proxy) Stats() ProxyStats {
	return ProxyStats{Flows: int(p.nflows.Load()), FlowsRefused: p.refused.Load(), Up: p.up.load(), Down: p.dn.load()}
}

// Close stops relaying, closes every socket and waits for the goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	all := p.all
	p.mu.Unlock()
	err := p.down.Close()
	for _, f := range all {
		_ = f.up.Close() // nothing to report: the relay is going away
	}
	if p.q != nil {
		p.q.close()
	}
	p.wg.Wait()
	return err
}

// ErrSettle says Settle gave up before every SessionDisconnect went through.
var ErrSettle = errors.New("impair: session disconnects not all relayed")

// Calm makes the proxy forward every later datagram unimpaired and at once.
// A run calls it before closing its sessions: a SessionDisconnect that is
// lost, or still held in the delay queue or the socket when the proxy
// closes, leaves its session open on the server until the stale timeout.
func (p *Proxy) Calm() { p.calm.Store(true) }

// Settle waits until n SessionDisconnects sent after Calm have reached the
// server and the delay queue has let out what it held, or until timeout;
// it returns an error that Is ErrSettle on timeout.
func (p *Proxy) Settle(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for p.byes.Load() < int64(n) || (p.q != nil && p.q.len() > 0) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d of %d after %v", ErrSettle, p.byes.Load(), n, timeout)
		}
		time.Sleep(time.Millisecond) // polls a condition; nothing to wait on
	}
	return nil
}

// isDisconnect reports whether pkt is a SessionDisconnect (SPEC §5.3).
func isDisconnect(pkt []byte) bool { return len(pkt) >= 2 && pkt[0] == 0 && pkt[1] == 0x05 }

// sourceAddr is the upstream source address of the i-th flow.
func (p *Proxy) sourceAddr(i int) *net.UDPAddr {
	if p.cfg.PerAddr <= 0 {
		return nil
	}
	n := 1 + i/p.cfg.PerAddr
	return &net.UDPAddr{IP: net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))}
}

func (p *Proxy) newFlow(client netip.AddrPort) (*flow, error) {
	i := int(p.nflows.Load())
	up, err := net.DialUDP("udp", p.sourceAddr(i), net.UDPAddrFromAddrPort(p.cfg.Upstream))
	if err != nil {
		return nil, err
	}
	seed := uint64(p.cfg.Seed)
	f := &flow{client: client, up: up,
		rngUp:   rand.New(rand.NewPCG(seed, uint64(i)*2)),
		rngDown: rand.New(rand.NewPCG(seed, uint64(i)*2+1)),
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = up.Close() // racing Close: nothing will use it
		return nil, net.ErrClosed
	}
	p.all = append(p.all, f)
	p.mu.Unlock()
	p.nflows.Add(1)
	p.wg.Go(func() { p.readUp(f) })
	return f, nil
}

func (p *Proxy) readDown() {
	buf := make([]byte, 65536)
	for {
		n, from, err := p.down.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // transient (ICMP errors reported on the socket)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		f := p.flows[from]
		if f == nil {
			if len(p.flows) >= p.cfg.MaxFlows {
				p.refused.Add(1)
				continue
			}
			if f, err = p.newFlow(from); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				p.refused.Add(1)
				continue
			}
			p.flows[from] = f
		}
		p.forward(&p.up, f.rngUp, buf[:n], f, true)
	}
}

func (p *Proxy) readUp(f *flow) {
	buf := make([]byte, 65536)
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ECONNREFUSED from an earlier send: the server may come back
		}
		p.forward(&p.dn, f.rngDown, buf[:n], f, false)
	}
}

// forward applies the impairment to pkt (a reader's buffer, reused after
// this returns) and sends or schedules it.
func (p *Proxy) forward(c *dirCounters, rng *rand.Rand, pkt []byte, f *flow, toServer bool) {
	c.packets.Add(1)
	if p.calm.Load() {
		if toServer && isDisconnect(pkt) {
			defer p.byes.Add(1) // counted once written or queued behind the held ones
		}
		// Behind what the queue still holds, never before it: a datagram
		// that overtook the disconnect would reach a closed session.
		if p.q == nil || !p.q.pushAfterLast(append([]byte(nil), pkt...), p, f, toServer, c) {
			p.send(pkt, f, toServer, c)
		}
		return
	}
	v := p.cfg.Impair.decide(rng, pkt)
	if v.drop {
		c.dropped.Add(1)
		return
	}
	if v.corrupt >= 0 {
		pkt[v.corrupt/8] ^= 1 << (v.corrupt % 8)
		c.corrupted.Add(1)
	}
	if v.copies > 1 {
		c.duplicated.Add(1)
	}
	if v.reordered {
		c.reordered.Add(1)
	}
	for range v.copies {
		if v.delay > 0 && p.q != nil {
			c.delayed.Add(1)
			p.q.push(time.Now().Add(v.delay), append([]byte(nil), pkt...), p, f, toServer, c)
			continue
		}
		p.send(pkt, f, toServer, c)
	}
}

func (p *Proxy) send(pkt []byte, f *flow, toServer bool, c *dirCounters) {
	var err error
	if toServer {
		_, err = f.up.Write(pkt)
	} else {
		_, err = p.down.WriteToUDPAddrPort(pkt, f.client)
	}
	if err != nil {
		c.writeErrors.Add(1)
	}
}

// delayQueue releases datagrams at their due time, in due order (FIFO
// among equal times).
type delayQueue struct {
	mu      sync.Mutex
	h       delayHeap
	seq     uint64
	last    time.Time // latest due time pushed
	sending int       // popped, being written by run
	wake    chan struct{}
	done    chan struct{}
	closed  bool
}

type delayed struct {
	due      time.Time
	seq      uint64
	pkt      []byte
	p        *Proxy
	f        *flow
	toServer bool
	c        *dirCounters
}

type delayHeap []delayed

func (h delayHeap) Len() int { return len(h) }
func (h delayHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h delayHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)   { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delayed{}
	*h = old[:len(old)-1]
	return x
}

func newDelayQueue() *delayQueue {
	return &delayQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (q *delayQueue) push(due time.Time, pkt []byte, p *Proxy, f *flow, toServer bool, c *dirCounters) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.seq++
	if due.After(q.last) {
		q.last = due
	}
	heap.Push(&q.h, delayed{due: due, seq: q.seq, pkt: pkt, p: p, f: f, toServer: toServer, c: c})
	first := q.h[0].seq == q.seq
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// pushAfterLast queues pkt due no earlier than everything queued, so it
// leaves after them; false (nothing queued) when the queue is empty.
func (q *delayQueue) pushAfterLast(pkt []byte, p *Proxy, f *flow, toServer bool, c *dirCounters) bool {
	q.mu.Lock()
	if q.closed || len(q.h)+q.sending == 0 {
		q.mu.Unlock()
		return false
	}
	due := q.last
	q.mu.Unlock()
	q.push(due, pkt, p, f, toServer, c)
	return true
}

func (q *delayQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h) + q.sending
}

func (q *delayQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
	q.mu.Unlock()
}

func (q *delayQueue) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []delayed
	for {
		q.mu.Lock()
		now := time.Now()
		for len(q.h) > 0 && !q.h[0].due.After(now) {
			ready = append(ready, heap.Pop(&q.h).(delayed))
		}
		var wait time.Duration = time.Hour
		if len(q.h) > 0 {
			wait = q.h[0].due.Sub(now)
		}
		q.sending = len(ready)
		q.mu.Unlock()
		for i := range ready {
			d := &ready[i]
			d.p.send(d.pkt, d.f, d.toServer, d.c)
			ready[i] = delayed{}
		}
		if len(ready) > 0 {
			q.mu.Lock()
			q.sending = 0
			q.mu.Unlock()
		}
		ready = ready[:0]
		timer.Reset(wait)
		select {
		case <-q.done:
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}
