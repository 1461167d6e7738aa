package shard

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// threePeers opens sessions from three endpoints and echoes 1, 2 and 3
// messages on them, at shard times 1 ms apart.
func threePeers(t *testing.T) (*Shard, []*peer) {
	t.Helper()
	h := &echo{}
	g, socks := memGroup(t, 1, RoleServer, h)
	s := g.Shard(0)
	var peers []*peer
	rbuf := make([]byte, proto.MaxDatagram)
	socks[0].onOut = func(b []byte, to netip.AddrPort) {
		for _, p := range peers {
			if to == p.addr {
				p.recv(rbuf[:copy(rbuf, b)], 0)
			}
		}
	}
	for k, a := range []string{"10.0.0.1:4000", "10.0.0.2:4000", "10.0.0.1:4001"} {
		p := newPeer(t, socks[0], netip.MustParseAddrPort(a))
		peers = append(peers, p)
		p.sess.Tick(&p.env, 1)
		step(s)
		if !p.open {
			t.Fatalf("peer %d did not open", k)
		}
	}
	msg := make([]byte, 64)
	for k, p := range peers {
		for range k + 1 {
			echoRound(s, p, msg, 0)
		}
	}
	return s, peers
}

func TestSessionInfo(t *testing.T) {
	s, peers := threePeers(t)
	ids := s.liveIDs()
	if len(ids) != 3 {
		t.Fatalf("%d live sessions", len(ids))
	}
	d, err := s.Info(ids[2])
	if err != nil {
		t.Fatal(err)
	}
	if d.Remote != peers[2].addr || d.State != proto.StateConnected || d.Stats.AppSent != 3 || d.Stats.Delivered != 3 {
		t.Fatalf("info %+v", d)
	}
	if d.ID != ids[2] || d.Age < 0 || d.Idle < 0 || d.Idle > d.Age {
		t.Fatalf("id %v age %v idle %v", d.ID, d.Age, d.Idle)
	}
	byMsgs := func(a, b *SessionInfo) bool { return a.Stats.AppSent > b.Stats.AppSent }
	for _, tc := range []struct {
		name string
		q    Query
		want []netip.AddrPort
	}{
		{"all", Query{}, []netip.AddrPort{peers[0].addr, peers[1].addr, peers[2].addr}},
		{"first2", Query{Limit: 2}, []netip.AddrPort{peers[0].addr, peers[1].addr}},
		{"sorted", Query{Less: byMsgs}, []netip.AddrPort{peers[2].addr, peers[1].addr, peers[0].addr}},
		{"top1", Query{Less: byMsgs, Limit: 1}, []netip.AddrPort{peers[2].addr}},
		{"ip", Query{Less: byMsgs, Match: func(d *SessionInfo) bool {
			return d.Remote.Addr() == netip.MustParseAddr("10.0.0.1")
		}}, []netip.AddrPort{peers[2].addr, peers[0].addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.selectSessions(tc.q)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d sessions, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i].Remote != tc.want[i] {
					t.Fatalf("session %d is %v, want %v", i, got[i].Remote, tc.want[i])
				}
			}
		})
	}
	// A stale ID is refused.
	stale := MakeID(0, ids[0].Gen()+1, ids[0].Slot())
	if _, err := s.Info(stale); !errors.Is(err, ErrNoSession) {
		t.Fatalf("stale id: %v", err)
	}
}

// TestQueryInfoThroughInbox: QueryInfo from another goroutine is answered
// by the shard loop, and a cancelled wait returns the context's error.
func TestQueryInfoThroughInbox(t *testing.T) {
	s, peers := threePeers(t)
	id := s.liveIDs()[1]
	type result struct {
		d   SessionInfo
		err error
	}
	ch := make(chan result)
	go func() {
		d, err := s.QueryInfo(context.Background(), id)
		ch <- result{d, err}
	}()
	for s.inbox.Len() == 0 {
		runtime.Gosched() // until the goroutine has posted
	}
	step(s) // runs the Post
	r := <-ch
	if r.err != nil || r.d.Remote != peers[1].addr {
		t.Fatalf("%+v %v", r.d.Remote, r.err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.QuerySessions(ctx, Query{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestHistograms: the per-shard histograms count what the counters count.
func TestHistograms(t *testing.T) {
	s, _ := threePeers(t)
	c := s.Counters()
	h := &c.Hist
	// 6 messages in and 6 echoes out, 64 bytes each: bucket 2 (<= 64).
	if h.MsgSizes[2].Load() != 12 || h.MsgBytes.Load() != 12*64 {
		t.Fatalf("message sizes %v bytes %d", h.MsgSizes[2].Load(), h.MsgBytes.Load())
	}
	var rtt, batches uint64
	for i := range h.RTT {
		rtt += h.RTT[i].Load()
	}
	for i := range h.SendBatches {
		batches += h.SendBatches[i].Load()
	}
	if rtt != c.RTTCount.Load() || rtt == 0 {
		t.Fatalf("rtt histogram %d, samples %d", rtt, c.RTTCount.Load())
	}
	if h.SendBatchSum.Load() != c.DatagramsOut.Load() || batches == 0 {
		t.Fatalf("send batches %d sum %d, datagrams out %d", batches, h.SendBatchSum.Load(), c.DatagramsOut.Load())
	}
	for _, tc := range []struct{ n, bucket int }{{1, 0}, {16, 0}, {17, 1}, {64, 2}, {65536, 12}, {65537, 13}, {1 << 20, 13}} {
		var x Histograms
		x.msg(tc.n)
		if x.MsgSizes[tc.bucket].Load() != 1 {
			t.Fatalf("size %d not in bucket %d", tc.n, tc.bucket)
		}
	}
	for _, tc := range []struct {
		d      time.Duration
		bucket int
	}{{0, 0}, {time.Millisecond, 0}, {1500 * time.Microsecond, 1}, {5 * time.Second, 11}, {time.Minute, 12}} {
		var x Histograms
		x.rtt(tc.d, 2)
		if x.RTT[tc.bucket].Load() != 2 || x.RTTSumNano.Load() != 2*uint64(tc.d) {
			t.Fatalf("rtt %v not in bucket %d", tc.d, tc.bucket)
		}
	}
}

// liveIDs lists the live sessions in slot order (owner only).
func (s *Shard) liveIDs() []ID {
	var ids []ID
	for p := range int(s.meta.n) {
		if s.meta.meta(int32(p)).state == slotLive {
			ids = append(ids, s.idOf(int32(p)))
		}
	}
	return ids
}
