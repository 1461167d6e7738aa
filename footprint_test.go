package eqgate

import (
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
)

type nopHandler struct{}

func (nopHandler) OnOpen(Session)                 {}
func (nopHandler) OnMessage(Session, int, []byte) {}
func (nopHandler) OnClose(Session, CloseReason)   {}

// TestDialledFootprint: dialled sessions cost no goroutine and a bounded
// slice of heap each (client and server side together), and each has its
// own socket. EQGATE_FOOTPRINT_SESSIONS=N runs it with N sessions (the
// figure in bench/RESULTS.md); the default keeps CI quick.
func TestDialledFootprint(t *testing.T) {
	n := 500
	if v := os.Getenv("EQGATE_FOOTPRINT_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(checkLeaks(t)) // after the Cleanups below
	srv, cl := serverAndClient(t, Config{Shards: 1, MaxSessionsPerIP: 1 << 20}, nopHandler{}, Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]*Conn, n)
	var err error
	for i := range conns {
		// Spread over 127.0.x.y so no source address runs out of ports.
		src := netip.AddrFrom4([4]byte{127, 0, byte(1 + i/4000), byte(1 + i%250)})
		if conns[i], err = cl.StartDial(src, srv.Addr().String(), nopHandler{}); err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
	}
	for i, c := range conns {
		if err := c.Wait(); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perPair := float64(int64(after.HeapInuse)-int64(before.HeapInuse)) / float64(n)
	t.Logf("%d sessions: heap in use %+.0f KiB, %.0f B per client+server session pair; goroutines %+d; %d sockets",
		n, float64(int64(after.HeapInuse)-int64(before.HeapInuse))/1024, perPair, runtime.NumGoroutine()-g0, cl.Sockets())
	if d := runtime.NumGoroutine() - g0; d > 0 {
		t.Errorf("%d more goroutines with %d dialled sessions, want none", d, n)
	}
	if cl.Sockets() != n {
		t.Errorf("%d sockets for %d sessions", cl.Sockets(), n)
	}
	// A generous bound: ~2.5 KiB measured; a goroutine (8 KiB stack) or a
	// receive buffer per session would break it.
	if perPair > 16<<10 {
		t.Errorf("%.0f bytes of heap per session pair, want under 16 KiB", perPair)
	}
}
