package shard

import (
	"net/netip"
	"testing"
)

// TestTap: a tap sees the traced endpoint's datagrams both ways and no
// other's; a spent budget drops records, not datagrams; removed, it sees
// nothing more.
func TestTap(t *testing.T) {
	s, peers := threePeers(t)
	tp := NewTap(peers[1].addr.Addr(), peers[1].addr.Port(), 1<<20, 64)
	if !s.g.InstallTap(tp) || s.g.InstallTap(NewTap(peers[0].addr.Addr(), 0, 1, 1)) {
		t.Fatal("install: want one tap at a time")
	}
	msg := make([]byte, 64)
	echoRound(s, peers[0], msg, 0) // not traced
	echoRound(s, peers[1], msg, 0)
	var in, out int
	for len(tp.C()) > 0 {
		r := <-tp.C()
		if r.Peer != peers[1].addr || len(r.Data) == 0 {
			t.Fatalf("record for %v (%d bytes)", r.Peer, len(r.Data))
		}
		if r.Out {
			out++
		} else {
			in++
		}
	}
	if in == 0 || out == 0 || tp.Dropped() != 0 {
		t.Fatalf("in %d out %d dropped %d", in, out, tp.Dropped())
	}
	// Any port of an address; a tiny budget.
	s.g.RemoveTap(tp)
	small := NewTap(netip.MustParseAddr("10.0.0.1"), 0, 10, 64)
	s.g.InstallTap(small)
	got := peers[2].got
	echoRound(s, peers[2], msg, 0)
	if peers[2].got != got+1 || small.Dropped() == 0 || !small.Spent() {
		t.Fatalf("echo %d→%d, dropped %d", got, peers[2].got, small.Dropped())
	}
	s.g.RemoveTap(small)
	echoRound(s, peers[1], msg, 0)
	if len(tp.C()) != 0 {
		t.Fatal("removed tap still fed")
	}
}
