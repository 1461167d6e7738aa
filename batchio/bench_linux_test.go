//go:build linux

package batchio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// Echo benchmarks: a client keeps a window of datagrams in flight to a
// one-socket server on loopback that echoes each back; one iteration is one
// datagram echoed. The server goroutine is locked to its OS thread so its CPU
// time can be read from that thread's CPU clock: srv-ns/dgram is the figure
// the target is about. proc-ns/dgram is the whole process (client and
// runtime included, identical across variants).

const (
	echoSize   = 64  // bytes per datagram: a typical small EQ packet
	echoWindow = 512 // datagrams in flight
)

// threadCPU reads the CPU time of thread tid (MAKE_THREAD_CPUCLOCK(tid,
// CPUCLOCK_SCHED), include/linux/posix-timers.h).
func threadCPU(tid int) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^tid<<3|6), &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func processCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// echoServer runs serve on a locked thread and reports its tid.
func echoServer(serve func()) (tid int, done chan struct{}) {
	tids := make(chan int)
	done = make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		serve()
	}()
	return <-tids, done
}

func serveBatchio(c *Conn, batch int, reads *atomic.Int64) func() {
	return func() {
		msgs := make([]Message, batch)
		for i := range msgs {
			msgs[i].Buf = make([]byte, 2048)
		}
		for {
			n, err := c.ReadBatch(msgs)
			reads.Add(1)
			if err != nil {
				if errors.Is(err, ErrWakeup) {
					continue
				}
				return // closed
			}
			// Echo in place: N and Addr are already the reply's.
			if _, err := c.WriteBatch(msgs[:n]); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

func serveNetUDP(uc *net.UDPConn) func() {
	return func() {
		buf := make([]byte, 2048)
		for {
			n, ap, err := uc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if _, err := uc.WriteToUDPAddrPort(buf[:n], ap); errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

// runEcho drives the client for b.N datagrams against server at dst; reads
// (nil for the baseline) counts the server's ReadBatch calls.
func runEcho(b *testing.B, dst netip.AddrPort, tid int, reads *atomic.Int64) {
	cg, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{RecvBuffer: 4 << 20, SendBuffer: 4 << 20, Batch: 64, Wait: WaitNetpoll})
	if err != nil {
		b.Fatal(err)
	}
	defer cg.Close()
	cli := cg.Conn(0)
	out := make([]Message, 64)
	in := make([]Message, 64)
	for i := range out {
		out[i] = Message{Buf: make([]byte, echoSize), N: echoSize, Addr: dst}
		in[i].Buf = make([]byte, 2048)
	}
	// On loopback nothing is lost unless a receive buffer overflows
	// (Udp RcvbufErrors); a read timeout here means the box stalled us, so
	// it is counted, and ten in a row end the benchmark.
	inflight, pending, stalls, timeouts := 0, 0, 0, 0
	step := func() {
		for pending == 0 {
			for inflight < echoWindow {
				n, err := cli.WriteBatch(out[:min(64, echoWindow-inflight)])
				if err != nil {
					b.Fatal(err)
				}
				inflight += n
			}
			n, err := cli.ReadBatchUntil(in, time.Now().Add(100*time.Millisecond))
			if errors.Is(err, ErrWakeup) {
				continue
			}
			if err != nil {
				stalls++
				if timeouts++; timeouts == 10 {
					b.Fatalf("echo: nothing back for 1s with %d in flight: %v", inflight, err)
				}
				continue
			}
			timeouts = 0
			pending += n
			inflight -= n
		}
		pending--
	}
	for range 2000 { // warm up both ends
		step()
	}
	stalls = 0
	b.ReportAllocs()
	b.SetBytes(echoSize)
	var reads0 int64
	if reads != nil {
		reads0 = reads.Load()
	}
	srv0, proc0, wall0 := threadCPU(tid), processCPU(), time.Now()
	for b.Loop() {
		step()
	}
	srv, proc, wall := threadCPU(tid)-srv0, processCPU()-proc0, time.Since(wall0)
	n := float64(b.N)
	b.ReportMetric(n/wall.Seconds(), "dgram/s")
	b.ReportMetric(float64(srv.Nanoseconds())/n, "srv-ns/dgram")
	b.ReportMetric(float64(proc.Nanoseconds())/n, "proc-ns/dgram")
	b.ReportMetric(float64(stalls), "stalls")
	if reads != nil {
		b.ReportMetric(n/float64(reads.Load()-reads0), "dgram/read")
	}
}

func benchEchoBatchio(b *testing.B, mode WaitMode, batch int, gso bool) {
	g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{RecvBuffer: 4 << 20, SendBuffer: 4 << 20, Batch: batch, Wait: mode, GSO: gso})
	if err != nil {
		b.Fatal(err)
	}
	var reads atomic.Int64
	tid, done := echoServer(serveBatchio(g.Conn(0), batch, &reads))
	runEcho(b, g.Facts().Addr, tid, &reads)
	g.Close()
	<-done
}

var echoBatches = []int{1, 8, 32, 64, 128}

// BenchmarkEchoBatch: batchio echo server (default wait mode) per batch
// size, with GSO (the echoes of a batch all go to one peer, the case GSO is
// for) and without.
func BenchmarkEchoBatch(b *testing.B) {
	for _, gso := range []bool{true, false} {
		for _, batch := range echoBatches {
			name := fmt.Sprintf("gso=%v/batch=%d", map[bool]string{true: "on", false: "off"}[gso], batch)
			b.Run(name, func(b *testing.B) { benchEchoBatchio(b, WaitDefault, batch, gso) })
		}
	}
}

// BenchmarkEchoNetUDPConn: the same echo served by a plain net.UDPConn
// ReadFromUDPAddrPort/WriteToUDPAddrPort loop, the baseline of the target.
func BenchmarkEchoNetUDPConn(b *testing.B) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	_ = uc.SetReadBuffer(4 << 20)
	_ = uc.SetWriteBuffer(4 << 20)
	tid, done := echoServer(serveNetUDP(uc))
	runEcho(b, uc.LocalAddr().(*net.UDPAddr).AddrPort(), tid, nil)
	uc.Close()
	<-done
}

// BenchmarkEchoWaitMode compares the two ways a reader sleeps, under load
// (GSO off, so only the wait differs).
func BenchmarkEchoWaitMode(b *testing.B) {
	for _, mode := range waitModes() {
		for _, batch := range []int{1, 32} {
			b.Run(fmt.Sprintf("%v/batch=%d", mode, batch), func(b *testing.B) { benchEchoBatchio(b, mode, batch, false) })
		}
	}
}

// BenchmarkWake measures how long a sleeping reader takes to return after
// Wake from another goroutine: p50/p99 from Wake to the reader running again.
func BenchmarkWake(b *testing.B) {
	for _, mode := range waitModes() {
		b.Run(mode.String(), func(b *testing.B) {
			g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{Wait: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			c := g.Conn(0)
			var t0 atomic.Int64
			lat := make(chan time.Duration)
			ready := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				msgs := []Message{{Buf: make([]byte, 64)}}
				for {
					ready <- struct{}{}
					_, err := c.ReadBatch(msgs)
					if !errors.Is(err, ErrWakeup) {
						close(lat)
						return
					}
					lat <- time.Duration(time.Now().UnixNano() - t0.Load())
				}
			}()
			var all []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				<-ready
				// Let the reader reach its sleep: a wake that arrives
				// first is cheaper and would flatter the figure.
				runtime.Gosched()
				t0.Store(time.Now().UnixNano())
				c.Wake()
				all = append(all, <-lat)
			}
			g.Close()
			<-ready
			slices.Sort(all)
			b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkXNetReadBatch measures golang.org/x/net/ipv4's ReadBatch for a
// batch of 8 (allocs/op is per 8 datagrams), the reason batchio has its own.
func BenchmarkXNetReadBatch(b *testing.B) {
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer uc.Close()
	_ = uc.SetReadBuffer(1 << 20)
	pc := ipv4.NewPacketConn(uc)
	g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	dst := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	out := make([]Message, 8)
	ms := make([]ipv4.Message, 8)
	for i := range out {
		out[i] = Message{Buf: make([]byte, echoSize), N: echoSize, Addr: dst}
		ms[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Conn(0).WriteBatch(out); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < len(ms); {
			n, err := pc.ReadBatch(ms[got:], 0)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
