//go:build linux

package batchio

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestPacketInfoRepliesFromLocal: a wildcard-bound socket with PacketInfo
// sees which of two loopback addresses each datagram was sent to and
// replies from that address, one datagram at a time and as a GSO run
// (IPv4 socket and dual-stack IPv6 socket).
func TestPacketInfoRepliesFromLocal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bind  string
		dests []string // addresses the clients send to
	}{
		{"ipv4", "0.0.0.0:0", []string{"127.0.0.1", "127.0.0.2"}},
		{"ipv6", "[::]:0", []string{"::1", "127.0.0.2", "127.0.0.1"}},
	} {
		for _, gso := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: "/gso"}[gso], func(t *testing.T) {
				g, err := Open(netip.MustParseAddrPort(tc.bind), Options{PacketInfo: true, GSO: gso})
				if err != nil {
					t.Skipf("cannot bind %s here: %v", tc.bind, err)
				}
				defer g.Close()
				c := g.Conn(0)
				port := c.LocalAddr().Port()
				for _, d := range tc.dests {
					dst := netip.AddrPortFrom(netip.MustParseAddr(d), port)
					testReplyFrom(t, c, dst)
				}
			})
		}
	}
}

func testReplyFrom(t *testing.T, c *Conn, dst netip.AddrPort) {
	t.Helper()
	network := "udp4"
	if dst.Addr().Is6() {
		network = "udp6"
	}
	cl, err := net.ListenUDP(network, &net.UDPAddr{IP: net.IP(dst.Addr().AsSlice()).To16()[:0]})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.WriteToUDPAddrPort([]byte("hello"), dst); err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Buf: make([]byte, 64)}}
	n, err := c.ReadBatchUntil(msgs, time.Now().Add(5*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("read: %d %v", n, err)
	}
	if msgs[0].Local != dst.Addr() {
		t.Fatalf("sent to %v, Local says %v", dst.Addr(), msgs[0].Local)
	}
	// Three equal replies to one peer from one address: a GSO run when on.
	out := make([]Message, 3)
	for i := range out {
		out[i] = Message{Buf: bytes.Repeat([]byte{byte('a' + i)}, 100), N: 100, Addr: msgs[0].Addr, Local: msgs[0].Local}
	}
	if sent, err := c.WriteBatch(out); err != nil || sent != 3 {
		t.Fatalf("write: %d %v", sent, err)
	}
	buf := make([]byte, 200)
	for i := range 3 {
		_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := cl.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from.Addr().Unmap() != dst.Addr() || from.Port() != dst.Port() || n != 100 || buf[0] != byte('a'+i) {
			t.Fatalf("reply %d from %v (%d bytes %q), want from %v", i, from, n, buf[0], dst)
		}
	}
}

// TestControlRoundTrip: the control messages fillControl writes parse back
// (the receive side reads the same IP_PKTINFO layout), and parsePacketInfo
// survives truncated or bogus buffers.
func TestControlRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		local string
		v6    bool
		seg   int
	}{{"127.0.0.2", false, 0}, {"127.0.0.2", false, 1200}, {"::1", true, 0}, {"10.1.2.3", true, 512}} {
		var cm cmsgSpace
		n := fillControl(&cm, tc.seg, netip.MustParseAddr(tc.local), tc.v6)
		var rc rcmsgSpace
		copy(rc[:], cm[:])
		// A sender sets IP_PKTINFO's spec_dst, a receiver reads ipi_addr
		// (zero here): finding 0.0.0.0 shows the message was found, past
		// any UDP_SEGMENT one, and read at the right offset.
		want := netip.MustParseAddr(tc.local)
		if !tc.v6 {
			want = netip.IPv4Unspecified()
		}
		if got := parsePacketInfo(&rc, n); got != want {
			t.Errorf("%+v: parsed %v, want %v", tc, got, want)
		}
		for cut := range n {
			_ = parsePacketInfo(&rc, cut) // never reads past what it is given
		}
	}
	var junk rcmsgSpace
	for i := range junk {
		junk[i] = 0xffffffffffffffff
	}
	if a := parsePacketInfo(&junk, 64); a.IsValid() {
		t.Errorf("junk parsed as %v", a)
	}
	if n := fillControl(&cmsgSpace{}, 0, netip.Addr{}, false); n != 0 {
		t.Errorf("nothing to say wrote %d bytes", n)
	}
}

// TestPacketInfoNoAllocs: a warm round with packet info both ways (a
// wildcard bind, replies from 127.0.0.2 as a GSO run) allocates nothing.
func TestPacketInfoNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	g, err := Open(netip.MustParseAddrPort("0.0.0.0:0"), Options{PacketInfo: true, GSO: true, RecvBuffer: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := g.Conn(0)
	self := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), c.LocalAddr().Port())
	const batch = 8
	out := make([]Message, batch)
	in := make([]Message, batch)
	for i := range out {
		out[i] = Message{Buf: make([]byte, 64), N: 64, Addr: self, Local: self.Addr()}
		in[i].Buf = make([]byte, 2048)
	}
	deadline := time.Now().Add(time.Minute)
	round := func() {
		if n, err := c.WriteBatch(out); err != nil || n != batch {
			panic(err)
		}
		for got := 0; got < batch; {
			k, err := c.ReadBatchUntil(in[got:], deadline)
			if err != nil {
				panic(err)
			}
			for _, m := range in[got : got+k] {
				if m.Local != self.Addr() || m.Addr != self {
					panic("wrong addresses: " + m.Local.String() + " " + m.Addr.String())
				}
			}
			got += k
		}
	}
	round()
	if a := testing.AllocsPerRun(100, round); a != 0 {
		t.Fatalf("%v allocations per round, want 0", a)
	}
}
