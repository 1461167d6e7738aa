package batchio

import (
	"net/netip"
	"testing"
)

// An ephemeral bind must never share its port with another socket: with
// SO_REUSEPORT set before a port-0 bind, Linux hands out ports that other
// reuseport sockets of the same user hold, and a dialled client then gets
// another client's traffic.
func TestEphemeralPortsAreExclusive(t *testing.T) {
	const n = 600
	seen := make(map[uint16]bool, n)
	addr := netip.MustParseAddrPort("127.0.0.1:0")
	for i := range n {
		sockets := 1
		if i%10 == 0 {
			sockets = 2 // ephemeral groups too
		}
		g, err := Open(addr, Options{Sockets: sockets, Batch: 1})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() { _ = g.Close() })
		p := g.Facts().Addr.Port()
		if seen[p] {
			t.Fatalf("open %d: port %d handed out twice", i, p)
		}
		seen[p] = true
	}
}
