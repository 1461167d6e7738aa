//go:build linux

package batchio

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type arrival struct {
	conn int
	src  netip.AddrPort
	cli  uint32
	seq  uint32
}

// blast sends perClient datagrams from each of clients sockets to g and
// returns every arrival with the socket it landed on.
func blast(t *testing.T, g *Group, network string, clients, perClient int) ([]arrival, []netip.AddrPort) {
	t.Helper()
	total := clients * perClient
	arrivals := make(chan arrival, total)
	var wg sync.WaitGroup
	for _, c := range g.Conns() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msgs := make([]Message, 32)
			for i := range msgs {
				msgs[i].Buf = make([]byte, 64)
			}
			for {
				n, err := c.ReadBatch(msgs)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("conn %d: %v", c.Index(), err)
					return
				}
				for _, m := range msgs[:n] {
					if m.N != 8 {
						t.Errorf("conn %d: %d-byte datagram from %v", c.Index(), m.N, m.Addr)
						continue
					}
					arrivals <- arrival{c.Index(), m.Addr, binary.BigEndian.Uint32(m.Buf), binary.BigEndian.Uint32(m.Buf[4:])}
				}
			}
		}()
	}
	defer func() { g.Close(); wg.Wait() }()

	dst := net.UDPAddrFromAddrPort(g.Facts().Addr)
	srcs := make([]netip.AddrPort, clients)
	for i := range clients {
		uc, err := net.ListenUDP(network, &net.UDPAddr{IP: dst.IP})
		if err != nil {
			t.Fatal(err)
		}
		srcs[i] = uc.LocalAddr().(*net.UDPAddr).AddrPort()
		var b [8]byte
		for s := range perClient {
			binary.BigEndian.PutUint32(b[:], uint32(i))
			binary.BigEndian.PutUint32(b[4:], uint32(s))
			if _, err := uc.WriteToUDP(b[:], dst); err != nil {
				t.Fatal(err)
			}
		}
		uc.Close()
	}
	var got []arrival
	timeout := time.After(10 * time.Second)
	for len(got) < total {
		select {
		case a := <-arrivals:
			got = append(got, a)
		case <-timeout:
			t.Fatalf("received %d of %d datagrams", len(got), total)
		}
	}
	return got, srcs
}

// TestGroupLoopback: N reuseport sockets, 300 source ports x 10 datagrams;
// each datagram arrives exactly once with its true source, and with
// steering, on socket Owner(src, N), endpoint by endpoint.
func TestGroupLoopback(t *testing.T) {
	tests := []struct {
		name     string
		addr     string
		network  string
		steering bool
	}{
		{"v4", "127.0.0.1:0", "udp4", false},
		{"v4 steered", "127.0.0.1:0", "udp4", true},
		{"v6 steered", "[::1]:0", "udp6", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n, clients, per = 4, 300, 10
			g, err := Open(netip.MustParseAddrPort(tt.addr), Options{Sockets: n, RecvBuffer: 4 << 20, Steering: tt.steering})
			if err != nil {
				if tt.network == "udp6" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			f := g.Facts()
			t.Logf("facts: %+v", f)
			if g.Len() != n || f.Sockets != n {
				t.Fatalf("group has %d sockets, want %d", g.Len(), n)
			}
			got, srcs := blast(t, g, tt.network, clients, per)
			seen := make(map[[2]uint32]bool)
			perConn := make([]int, n)
			for _, a := range got {
				k := [2]uint32{a.cli, a.seq}
				if a.cli >= clients || a.seq >= per || seen[k] {
					t.Fatalf("bad or duplicate datagram %+v", a)
				}
				seen[k] = true
				if a.src != srcs[a.cli] {
					t.Fatalf("client %d datagram from %v, want %v", a.cli, a.src, srcs[a.cli])
				}
				perConn[a.conn]++
			}
			t.Logf("datagrams per socket: %v", perConn)
			mismatched := 0
			for _, a := range got {
				if a.conn != Owner(a.src, n) {
					mismatched++
				}
			}
			if !tt.steering {
				// The kernel's own hash is not Route: this shows the
				// steered check below can fail.
				if mismatched == 0 {
					t.Fatalf("unsteered group matched Owner for all %d datagrams", len(got))
				}
				return
			}
			if !f.Steering {
				t.Skipf("steering not attached: %s", f.SteeringReason)
			}
			for _, a := range got {
				if want := Owner(a.src, n); a.conn != want {
					t.Fatalf("endpoint %v landed on socket %d, Owner says %d", a.src, a.conn, want)
				}
			}
		})
	}
}

func TestOpenFacts(t *testing.T) {
	g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{Sockets: 2, RecvBuffer: 1 << 20, SendBuffer: 1 << 20, GSO: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	f := g.Facts()
	t.Logf("facts: %+v", f)
	if f.Addr.Port() == 0 || g.Conn(1).LocalAddr() != f.Addr {
		t.Fatalf("bound %v, conn 1 at %v", f.Addr, g.Conn(1).LocalAddr())
	}
	if f.RecvBuffer < 1<<20 && f.BufferForced {
		t.Fatalf("forced 1 MiB but granted %d", f.RecvBuffer)
	}
	if f.RecvBuffer <= 0 || f.SendBuffer <= 0 {
		t.Fatalf("granted buffers %d/%d", f.RecvBuffer, f.SendBuffer)
	}
	if f.GSO != f.GSOSupported || (!f.GSO && f.GSOReason == "") {
		t.Fatalf("GSO %v supported %v reason %q", f.GSO, f.GSOSupported, f.GSOReason)
	}
	if f.Steering || f.SteeringReason == "" {
		t.Fatalf("steering %v reason %q without asking", f.Steering, f.SteeringReason)
	}
	t.Setenv(gsoKillSwitch, "1")
	g2, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{GSO: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if on, _ := g2.Conn(0).GSO(); on || g2.Facts().GSO {
		t.Fatalf("GSO on despite %s=1", gsoKillSwitch)
	}
}

// cbpf runs a classic-BPF program over pkt, a packet whose network header is
// at pkt[0], with loads relative to SKF_NET_OFF, as the kernel does for a
// reuseport program. It knows the opcodes steeringProgram uses.
func cbpf(t *testing.T, prog []unix.SockFilter, pkt []byte) uint32 {
	var a, x uint32
	var mem [16]uint32
	load := func(off int64, size int) uint32 {
		off -= skfNetOff
		if off < 0 || off+int64(size) > int64(len(pkt)) {
			t.Fatalf("load %d+%d outside the packet", off, size)
		}
		var v uint32
		for _, b := range pkt[off : off+int64(size)] {
			v = v<<8 | uint32(b)
		}
		return v
	}
	size := map[uint16]int{unix.BPF_W: 4, unix.BPF_H: 2, unix.BPF_B: 1}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		k := in.K
		switch cls := in.Code & 0x07; cls {
		case unix.BPF_LD:
			switch in.Code & 0xe0 {
			case unix.BPF_ABS:
				a = load(int64(int32(k)), size[in.Code&0x18])
			case unix.BPF_IND:
				a = load(int64(int32(x+k)), size[in.Code&0x18])
			case unix.BPF_MEM:
				a = mem[k]
			default:
				t.Fatalf("ld mode %#x", in.Code)
			}
		case unix.BPF_LDX:
			x = mem[k]
		case unix.BPF_ST:
			mem[k] = a
		case unix.BPF_MISC:
			x = a
		case unix.BPF_ALU:
			v := k
			if in.Code&unix.BPF_X != 0 {
				v = x
			}
			switch in.Code & 0xf0 {
			case unix.BPF_AND:
				a &= v
			case unix.BPF_LSH:
				a <<= v
			case unix.BPF_RSH:
				a >>= v
			case unix.BPF_MUL:
				a *= v
			case unix.BPF_XOR:
				a ^= v
			case unix.BPF_MOD:
				a %= v
			default:
				t.Fatalf("alu op %#x", in.Code)
			}
		case unix.BPF_JMP:
			switch in.Code & 0xf0 {
			case unix.BPF_JA:
				pc += int(k)
			case unix.BPF_JEQ:
				if a == k {
					pc += int(in.Jt)
				} else {
					pc += int(in.Jf)
				}
			}
		case unix.BPF_RET:
			if in.Code&0x18 == unix.BPF_A {
				return a
			}
			return k
		}
	}
	t.Fatalf("program fell off its end")
	return 0
}

// TestSteeringProgramMatchesRoute runs the program on synthetic IPv4 (with
// and without options) and IPv6 headers for random endpoints and checks it
// returns Route(src) % n, and the kernel-hash fallback for IPv6 with an
// extension header.
func TestSteeringProgramMatchesRoute(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, n := range []uint32{1, 2, 3, 4, 7, 64} {
		prog := steeringProgram(n)
		for range 2000 {
			port := uint16(rng.Uint32())
			var pkt []byte
			var src netip.AddrPort
			switch rng.IntN(3) {
			case 0, 1:
				ihl := 5 + rng.IntN(2)*rng.IntN(11) // with IP options sometimes
				pkt = make([]byte, ihl*4+8)
				pkt[0] = 0x40 | byte(ihl)
				pkt[9] = unix.IPPROTO_UDP
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], rng.Uint32())
				copy(pkt[12:], a[:])
				binary.BigEndian.PutUint16(pkt[ihl*4:], port)
				src = netip.AddrPortFrom(netip.AddrFrom4(a), port)
			default:
				pkt = make([]byte, 48)
				pkt[0] = 0x60
				pkt[6] = unix.IPPROTO_UDP
				var a [16]byte
				for i := range a {
					a[i] = byte(rng.Uint32())
				}
				copy(pkt[8:], a[:])
				binary.BigEndian.PutUint16(pkt[40:], port)
				src = netip.AddrPortFrom(netip.AddrFrom16(a), port)
			}
			if got, want := cbpf(t, prog, pkt), Route(src)%n; got != want {
				t.Fatalf("n=%d src %v: program %d, Route %% n = %d", n, src, got, want)
			}
		}
		ext := make([]byte, 48)
		ext[0], ext[6] = 0x60, 0 // hop-by-hop options first
		if got := cbpf(t, prog, ext); got < n {
			t.Fatalf("IPv6 with extension header steered to %d, want the kernel fallback", got)
		}
	}
}

// Truncated is reported on Linux only (MSG_TRUNC).
func TestTruncated(t *testing.T) {
	g := openLoop(t, Options{})
	c := g.Conn(0)
	if _, err := c.WriteBatch([]Message{{Buf: make([]byte, 100), N: 100, Addr: c.LocalAddr()}}); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Buf: make([]byte, 10)}}
	n, err := c.ReadBatchUntil(msgs, time.Now().Add(5*time.Second))
	if err != nil || n != 1 || !msgs[0].Truncated || msgs[0].N > 100 {
		t.Fatalf("got n=%d err=%v msg=%+v; want one truncated datagram", n, err, msgs[0])
	}
}

var sinkN int

// TestNoAllocs: a warm WriteBatch + ReadBatch round allocates nothing.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			g := openLoop(t, Options{Wait: mode, RecvBuffer: 1 << 20, GSO: true})
			c := g.Conn(0)
			const batch = 8
			out := make([]Message, batch)
			in := make([]Message, batch)
			for i := range out {
				out[i] = Message{Buf: make([]byte, 64), N: 64, Addr: c.LocalAddr()}
				in[i].Buf = make([]byte, 2048)
			}
			deadline := time.Now().Add(time.Minute)
			round := func() {
				n, err := c.WriteBatch(out)
				if err != nil || n != batch {
					panic(err)
				}
				for got := 0; got < batch; {
					k, err := c.ReadBatchUntil(in[got:], deadline)
					if err != nil {
						panic(err)
					}
					got += k
				}
				sinkN += n
			}
			round()
			if a := testing.AllocsPerRun(100, round); a != 0 {
				t.Fatalf("%v allocations per round, want 0", a)
			}
		})
	}
}
