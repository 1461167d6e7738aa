package batchio

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

func TestPlanRuns(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:1000")
	b := netip.MustParseAddrPort("10.0.0.2:1000")
	m := func(addr netip.AddrPort, sizes ...int) []Message {
		var out []Message
		for _, n := range sizes {
			out = append(out, Message{N: n, Addr: addr})
		}
		return out
	}
	cat := func(ms ...[]Message) []Message {
		var out []Message
		for _, x := range ms {
			out = append(out, x...)
		}
		return out
	}
	tests := []struct {
		name                     string
		msgs                     []Message
		gso                      bool
		maxSegs, maxBytes, maxSg int
		want                     []run
	}{
		{"empty", nil, true, 64, 65507, 1452, nil},
		{"gso off", m(a, 10, 10, 10), false, 64, 65507, 1452, []run{{0, 1, 0}, {1, 2, 0}, {2, 3, 0}}},
		{"one", m(a, 10), true, 64, 65507, 1452, []run{{0, 1, 0}}},
		{"equal run", m(a, 10, 10, 10), true, 64, 65507, 1452, []run{{0, 3, 10}}},
		{"short last", m(a, 10, 10, 4), true, 64, 65507, 1452, []run{{0, 3, 10}}},
		{"short ends run", m(a, 10, 4, 10), true, 64, 65507, 1452, []run{{0, 2, 10}, {2, 3, 0}}},
		{"longer breaks", m(a, 4, 10, 10), true, 64, 65507, 1452, []run{{0, 1, 0}, {1, 3, 10}}},
		{"peer change", cat(m(a, 10, 10), m(b, 10, 10)), true, 64, 65507, 1452, []run{{0, 2, 10}, {2, 4, 10}}},
		{"zero length alone", m(a, 10, 0, 10), true, 64, 65507, 1452, []run{{0, 1, 0}, {1, 2, 0}, {2, 3, 0}}},
		{"segment cap", m(a, 10, 10, 10, 10, 10), true, 2, 65507, 1452, []run{{0, 2, 10}, {2, 4, 10}, {4, 5, 0}}},
		{"byte cap", m(a, 10, 10, 10, 10), true, 64, 25, 1452, []run{{0, 2, 10}, {2, 4, 10}}},
		{"segment too big", m(a, 1500, 1500), true, 64, 65507, 1452, []run{{0, 1, 0}, {1, 2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make([]run, len(tt.msgs))
			n := planRuns(tt.msgs, tt.gso, tt.maxSegs, tt.maxBytes, tt.maxSg, out)
			got := out[:n]
			if len(got) != len(tt.want) {
				t.Fatalf("runs = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("runs = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestPlanRunsInvariants checks on random batches that runs tile the batch
// and that every run obeys the GSO rules.
func TestPlanRunsInvariants(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	peers := []netip.AddrPort{
		netip.MustParseAddrPort("10.0.0.1:1"), netip.MustParseAddrPort("10.0.0.1:2"), netip.MustParseAddrPort("[::1]:1"),
	}
	for range 2000 {
		msgs := make([]Message, rng.IntN(40))
		for i := range msgs {
			msgs[i] = Message{N: []int{0, 7, 100, 100, 100, 1452, 1453}[rng.IntN(7)], Addr: peers[rng.IntN(2+rng.IntN(2))]}
		}
		maxSegs, maxBytes := 1+rng.IntN(8), 100+rng.IntN(1000)
		out := make([]run, len(msgs))
		n := planRuns(msgs, true, maxSegs, maxBytes, gsoMaxSegment, out)
		next := int32(0)
		for _, r := range out[:n] {
			if r.start != next || r.end <= r.start {
				t.Fatalf("runs %v do not tile %d messages", out[:n], len(msgs))
			}
			next = r.end
			if r.end-r.start == 1 {
				if r.seg != 0 {
					t.Fatalf("single run with seg: %v", r)
				}
				continue
			}
			total := 0
			for i := r.start; i < r.end; i++ {
				m := msgs[i]
				total += m.N
				if m.Addr != msgs[r.start].Addr || m.N <= 0 || m.N > int(r.seg) || (i < r.end-1 && m.N != int(r.seg)) {
					t.Fatalf("bad run %v over %v", r, msgs[r.start:r.end])
				}
			}
			if int(r.end-r.start) > maxSegs || total > maxBytes || int(r.seg) > gsoMaxSegment {
				t.Fatalf("run %v over limits", r)
			}
		}
		if int(next) != len(msgs) {
			t.Fatalf("runs %v do not tile %d messages", out[:n], len(msgs))
		}
	}
}

func TestOwner(t *testing.T) {
	v4 := netip.MustParseAddrPort("192.0.2.7:4000")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 4000)
	if Route(v4) != Route(mapped) {
		t.Fatalf("IPv4-mapped address routes differently")
	}
	if Route(v4) == Route(netip.AddrPortFrom(v4.Addr(), 4001)) {
		t.Fatalf("port does not change the route")
	}
	// Owners spread: 4096 endpoints over 4 shards, none below half its share.
	var count [4]int
	for p := range 4096 {
		count[Owner(netip.AddrPortFrom(v4.Addr(), uint16(10000+p)), 4)]++
	}
	for i, c := range count {
		if c < 512 {
			t.Fatalf("shard %d owns %d of 4096 endpoints: %v", i, c, count)
		}
	}
}

// openLoop opens a one-socket group on loopback for the portable tests.
func openLoop(t *testing.T, opt Options) *Group {
	t.Helper()
	g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func waitModes() []WaitMode { return []WaitMode{WaitNetpoll, WaitThread} }

func TestWake(t *testing.T) {
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			c := openLoop(t, Options{Wait: mode}).Conn(0)
			msgs := []Message{{Buf: make([]byte, 64)}}
			done := make(chan error)
			go func() {
				_, err := c.ReadBatch(msgs)
				done <- err
			}()
			c.Wake()
			c.Wake() // coalesced
			if err := <-done; !errors.Is(err, ErrWakeup) {
				t.Fatalf("ReadBatch after Wake: %v, want ErrWakeup", err)
			}
		})
	}
}

func TestDeadline(t *testing.T) {
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			c := openLoop(t, Options{Wait: mode}).Conn(0)
			msgs := []Message{{Buf: make([]byte, 64)}}
			for range 2 { // the second call re-arms after the first expired
				n, err := c.ReadBatchUntil(msgs, time.Now().Add(20*time.Millisecond))
				if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("ReadBatchUntil = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
				}
			}
		})
	}
}

func TestCloseWakesReader(t *testing.T) {
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			g := openLoop(t, Options{Wait: mode})
			c := g.Conn(0)
			done := make(chan error)
			go func() {
				_, err := c.ReadBatch([]Message{{Buf: make([]byte, 64)}})
				done <- err
			}()
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("ReadBatch after Close: %v, want net.ErrClosed", err)
			}
			if _, err := c.WriteBatch([]Message{{Buf: []byte{1}, N: 1, Addr: c.LocalAddr()}}); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("WriteBatch after Close: %v, want net.ErrClosed", err)
			}
			c.Wake() // must not panic or block after Close
		})
	}
}

// readAll reads from c until want datagrams came or the deadline passes.
func readAll(t *testing.T, c *Conn, want int, size int) []Message {
	t.Helper()
	var got []Message
	msgs := make([]Message, 16)
	for i := range msgs {
		msgs[i].Buf = make([]byte, size)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want {
		n, err := c.ReadBatchUntil(msgs, deadline)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(got), want, err)
		}
		for _, m := range msgs[:n] {
			cp := m
			cp.Buf = append([]byte(nil), m.Buf[:m.N]...)
			got = append(got, cp)
		}
	}
	return got
}

// TestWriteBatchRoundTrip sends batches (with GSO where the kernel has it)
// between two groups and checks every datagram arrives intact, in order,
// with the right source.
func TestWriteBatchRoundTrip(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gso"}[gso], func(t *testing.T) {
			srv := openLoop(t, Options{RecvBuffer: 1 << 20}).Conn(0)
			cli := openLoop(t, Options{GSO: gso, Batch: 128}).Conn(0)
			// Sizes make equal runs, short tails and breaks.
			sizes := []int{100, 100, 100, 100, 37, 100, 100, 200, 200, 1, 0, 50, 50, 50}
			var out []Message
			for round := range 10 {
				for i, n := range sizes {
					b := make([]byte, n)
					for j := range b {
						b[j] = byte(round*31 + i + j)
					}
					out = append(out, Message{Buf: b, N: n, Addr: srv.LocalAddr()})
				}
			}
			n, err := cli.WriteBatch(out)
			if err != nil || n != len(out) {
				t.Fatalf("WriteBatch = %d, %v; want %d, nil", n, err, len(out))
			}
			on, why := cli.GSO()
			t.Logf("GSO on=%v disabledBy=%v", on, why)
			got := readAll(t, srv, len(out), 2048)
			for i, m := range got {
				if m.Addr != cli.LocalAddr() || string(m.Buf) != string(out[i].Buf) || m.Truncated {
					t.Fatalf("datagram %d: from %v len %d trunc %v, want from %v len %d",
						i, m.Addr, len(m.Buf), m.Truncated, cli.LocalAddr(), out[i].N)
				}
			}
		})
	}
}

func TestWriteBatchDrops(t *testing.T) {
	g := openLoop(t, Options{})
	c := g.Conn(0)
	out := []Message{
		{Buf: []byte("a"), N: 1, Addr: c.LocalAddr()},
		{Buf: []byte("b"), N: 1, Addr: netip.MustParseAddrPort("[2001:db8::1]:9")}, // IPv6 on an IPv4 socket
		{Buf: []byte("c"), N: 1, Addr: netip.AddrPort{}},
		{Buf: []byte("d"), N: 1, Addr: c.LocalAddr()},
	}
	n, err := c.WriteBatch(out)
	var de *DropError
	if n != 2 || !errors.As(err, &de) || de.Dropped != 2 {
		t.Fatalf("WriteBatch = %d, %v; want 2 sent and a DropError of 2", n, err)
	}
	got := readAll(t, c, 2, 64)
	if string(got[0].Buf) != "a" || string(got[1].Buf) != "d" {
		t.Fatalf("received %q, %q; want a, d", got[0].Buf, got[1].Buf)
	}
}

// TestConcurrentWake hammers Wake from several goroutines while a reader
// loops; every reader return must be a wake or data, and the reader must
// never miss the final request.
func TestConcurrentWake(t *testing.T) {
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			c := openLoop(t, Options{Wait: mode}).Conn(0)
			var mu sync.Mutex
			requests := 0
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range 200 {
						mu.Lock()
						requests++
						mu.Unlock()
						c.Wake()
					}
				}()
			}
			go func() { wg.Wait(); close(stop) }()
			msgs := []Message{{Buf: make([]byte, 64)}}
			served := 0
			for {
				// Check the "inbox" after every return, as a shard does.
				mu.Lock()
				served = requests
				mu.Unlock()
				select {
				case <-stop:
					mu.Lock()
					done := served == requests && requests == 800
					mu.Unlock()
					if done {
						return
					}
				default:
				}
				if _, err := c.ReadBatch(msgs); !errors.Is(err, ErrWakeup) {
					t.Fatalf("ReadBatch: %v", err)
				}
			}
		})
	}
}
