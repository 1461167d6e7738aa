package eqgate

import (
	"net/netip"
	"testing"
	"time"
)

// TestWildcardRepliesFromDestination: a server bound to 0.0.0.0 answers
// each client from the address it sent to, 127.0.0.2 as well as 127.0.0.1
// (the kernel alone would answer both from 127.0.0.1, and a client drops
// replies from an address it did not send to). Two shards, so handoffs
// carry the address too; the messages are large enough to fragment, so
// replies go out as GSO runs.
func TestWildcardRepliesFromDestination(t *testing.T) {
	for _, tc := range []struct {
		bind  string
		steer bool
		hosts []string
	}{
		{"0.0.0.0:0", true, []string{"127.0.0.2", "127.0.0.1", "127.0.0.2"}},
		{"0.0.0.0:0", false, []string{"127.0.0.2", "127.0.0.1"}},
		// Dual stack: IPv4 arrives mapped. (IPv6 clients are covered in
		// batchio: Dial cannot open an IPv6 socket today.)
		{"[::]:0", true, []string{"127.0.0.2", "127.0.0.1"}},
	} {
		steer := tc.steer
		srv, err := Listen(tc.bind, Config{Shards: 2, Steering: steer}, &echoHandler{})
		if err != nil {
			t.Fatal(err)
		}
		port := srv.Addr().Port()
		for _, host := range tc.hosts {
			to := netip.AddrPortFrom(netip.MustParseAddr(host), port)
			col := &collector{want: 2, done: make(chan struct{})}
			c, err := Dial(to.String(), Config{ConnectStale: 5 * time.Second}, col)
			if err != nil {
				srv.Close()
				t.Fatalf("steer=%v: dial %v: %v", steer, to, err)
			}
			for _, m := range [][]byte{payload(1, 0, 0, 100), payload(1, 0, 1, 5000)} {
				if err := c.Send(0, m, true); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-col.done:
			case <-time.After(10 * time.Second): // a bound, not a synchronisation
				t.Fatalf("steer=%v: no echo via %v", steer, to)
			}
			_ = c.Close()
		}
		srv.Close()
	}
}
