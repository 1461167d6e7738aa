//go:build linux

package batchio

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSpoofer: a datagram sent with a forged 127.x source arrives at a
// loopback socket from that source.
func TestSpoofer(t *testing.T) {
	sp, err := OpenSpoofer()
	if errors.Is(err, ErrNotSupported) {
		t.Skip("raw sockets need CAP_NET_RAW")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := netip.MustParseAddrPort("127.9.8.7:4321")
	if err := sp.WriteTo([]byte("forged"), src, c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second)) // a bound, not a synchronisation
	buf := make([]byte, 64)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if from == src {
			if string(buf[:n]) != "forged" {
				t.Fatalf("got %q", buf[:n])
			}
			return
		}
	}
}
