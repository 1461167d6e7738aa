//go:build linux

package batchio

import (
	"errors"
	"net/netip"
	"testing"
)

// TestOpenHeldPort: a fixed port that another reuseport group holds is
// refused, where a reuseport bind alone would have joined that group.
func TestOpenHeldPort(t *testing.T) {
	g, err := Open(netip.MustParseAddrPort("127.0.0.1:0"), Options{Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, n := range []int{1, 2} {
		g2, err := Open(g.Facts().Addr, Options{Sockets: n})
		if err == nil {
			g2.Close()
			t.Fatalf("%d sockets: a second group opened on %v", n, g.Facts().Addr)
		}
		if !errors.Is(err, ErrAddrInUse) {
			t.Fatalf("%d sockets: %v, want ErrAddrInUse", n, err)
		}
	}
	// Free again once the holder closes.
	addr := g.Facts().Addr
	g.Close()
	g3, err := Open(addr, Options{Sockets: 2})
	if err != nil {
		t.Fatalf("after the holder closed: %v", err)
	}
	g3.Close()
}
