package shard

import (
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/eqgate/eqgate/proto"
)

// TestIdleSessions100k holds 100,000 idle server sessions in one shard and
// reports the memory each costs and the GC pause with them live. It is
// slow-ish and memory-hungry, so it runs only with EQGATE_BIG=1:
//
//	EQGATE_BIG=1 go test -run IdleSessions100k -v ./shard
func TestIdleSessions100k(t *testing.T) {
	if os.Getenv("EQGATE_BIG") == "" {
		t.Skip("set EQGATE_BIG=1 to hold 100,000 sessions")
	}
	const n = 100_000
	sock := &memSocket{}
	cfg := Config{Proto: proto.DefaultConfig(), MaxSessionsPerIP: n}
	g, err := NewGroup(cfg, []Socket{sock}, &echo{})
	if err != nil {
		t.Fatal(err)
	}
	s := g.Shard(0)
	runtime.GC()
	rss0 := rss(t)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for i := range n {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1000+i%50000))
		sock.in = append(sock.in, memDgram{proofDgram(t, s, ap), ap})
		if len(sock.in) == 64 {
			step(s)
		}
	}
	step(s)
	if got := s.Counters().SessionsOpen.Load(); got != n {
		t.Fatalf("%d sessions open", got)
	}
	sock.in = nil
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	rss1 := rss(t)
	perRSS := float64(rss1-rss0) / n
	perHeap := float64(ms1.HeapInuse-ms0.HeapInuse) / n
	// GC pauses with the sessions live: force a few cycles.
	debug.SetGCPercent(100)
	var maxPause time.Duration
	for range 5 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		maxPause = max(maxPause, time.Duration(ms.PauseNs[(ms.NumGC+255)%256]))
	}
	t.Logf("%d sessions: RSS %.0f B/session, heap %.0f B/session, proto.Session %d B, slab meta %d B; max GC pause %v",
		n, perRSS, perHeap, unsafe.Sizeof(proto.Session{}), unsafe.Sizeof(meta{}), maxPause)
	if perRSS > 2048 {
		t.Errorf("RSS %.0f B per idle session, want under 2048", perRSS)
	}
	runtime.KeepAlive(g)
}

// rss reads the resident set from /proc/self/statm.
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc: ", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
