package eqgate

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// TestSessionStatsLive: three clients echo 1, 2 and 3 messages through a
// two-shard server; Sessions ranks and filters them and SessionStats reads
// one by ID, from a goroutine that is not a shard's.
func TestSessionStatsLive(t *testing.T) {
	srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var conns []*Conn
	for k := range 3 {
		col := &collector{want: k + 1, done: make(chan struct{})}
		c, err := Dial(srv.Addr().String(), Config{}, col)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range k + 1 {
			if err := c.Send(1, payload(k, 1, 0, 300), true); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-col.done:
		case <-time.After(10 * time.Second): // a bound, not a synchronisation
			t.Fatalf("client %d: no echo", k)
		}
		conns = append(conns, c)
	}
	ctx := context.Background()
	all, err := srv.Sessions(ctx, SessionQuery{Order: ByAge})
	if err != nil || len(all) != 3 {
		t.Fatalf("%d sessions, %v", len(all), err)
	}
	// Oldest first. The clients dialled one after another, but their
	// sessions live on two shards, each with its own loop clock, so ages a
	// round trip apart may rank either way: check the order the query
	// promises, and find each client's session by its port.
	byPort := map[uint16]SessionStats{}
	for i, s := range all {
		if i > 0 && s.Age > all[i-1].Age {
			t.Fatalf("session %d is %v old, after one of %v", i, s.Age, all[i-1].Age)
		}
		byPort[s.Remote.Port()] = s
	}
	for k, c := range conns {
		s, ok := byPort[c.LocalAddr().Port()]
		if !ok || s.MessagesIn != uint64(k+1) || s.MessagesOut != uint64(k+1) {
			t.Fatalf("client %d (%v): session %v in %d out %d, want %d", k, c.LocalAddr(), s.Remote, s.MessagesIn, s.MessagesOut, k+1)
		}
		if s.MessageBytesIn != uint64(300*(k+1)) || s.State != "connected" || s.Age < s.Idle || s.BytesIn == 0 || s.DatagramsOut == 0 {
			t.Fatalf("session %d: %+v", k, s)
		}
		if s.CompressionOut < 1 || s.CompressionOut > 1.1 || s.RTTSamples > 0 && (s.RTTMin > s.RTTAvg || s.RTTAvg > s.RTTMax) {
			t.Fatalf("session %d: compression %v rtt %v/%v/%v", k, s.CompressionOut, s.RTTMin, s.RTTAvg, s.RTTMax)
		}
	}
	second := byPort[conns[1].LocalAddr().Port()]
	one, err := srv.SessionStats(ctx, second.ID)
	if err != nil || one.Remote != second.Remote || one.MessagesIn != 2 {
		t.Fatalf("SessionStats: %+v %v", one, err)
	}
	top, err := srv.Sessions(ctx, SessionQuery{Order: ByAge, Limit: 1, IP: netip.MustParseAddr("127.0.0.1")})
	if err != nil || len(top) != 1 || byPort[top[0].Remote.Port()].ID != top[0].ID {
		t.Fatalf("top 1 of 127.0.0.1: %v %v", top, err)
	}
	none, err := srv.Sessions(ctx, SessionQuery{IP: netip.MustParseAddr("127.0.0.9")})
	if err != nil || len(none) != 0 {
		t.Fatalf("127.0.0.9: %v %v", none, err)
	}
	// The session's own handle on its shard gives the same figures.
	done := make(chan SessionStats, 1)
	id := byPort[conns[2].LocalAddr().Port()].ID
	if err := srv.Post(id.Shard(), func() {
		s, _ := srv.Session(id).Stats()
		done <- s
	}); err != nil {
		t.Fatal(err)
	}
	if s := <-done; s.ID != id || s.MessagesIn != 3 {
		t.Fatalf("Session.Stats: %+v", s)
	}
	// A closing session lingers (its close runs first: one inbox, in
	// order); a stale ID is ErrNoSession.
	if err := srv.CloseSession(id); err != nil {
		t.Fatal(err)
	}
	if s, err := srv.SessionStats(ctx, id); err != nil || s.State != "disconnecting" {
		t.Fatalf("after close: %v %v", s.State, err)
	}
	sid := shard.ID(id)
	stale := SessionID(shard.MakeID(sid.Shard(), sid.Gen()+1, sid.Slot()))
	if _, err := srv.SessionStats(ctx, stale); !errors.Is(err, ErrNoSession) {
		t.Fatalf("stale: %v", err)
	}
}

func TestSessionOrder(t *testing.T) {
	a := SessionStats{Resends: 5, RTTAvg: time.Millisecond, ResendRatio: 0.5}
	b := SessionStats{Resends: 1, RTTAvg: time.Second, LossKnown: true, LossIn: 0.1, LossOut: 0.2, Age: time.Hour}
	for _, tc := range []struct {
		name  string
		first *SessionStats
	}{{"loss", &a}, {"rtt", &b}, {"resends", &a}, {"age", &b}} {
		o, ok := ParseSessionOrder(tc.name)
		if !ok || o.String() != tc.name {
			t.Fatalf("%s parsed as %v", tc.name, o)
		}
		if !o.Less(tc.first, other(tc.first, &a, &b)) || o.Compare(tc.first, other(tc.first, &a, &b)) != -1 {
			t.Fatalf("%s: wrong first", tc.name)
		}
	}
	if _, ok := ParseSessionOrder("bogus"); ok {
		t.Fatal("bogus order parsed")
	}
	if b.Loss() != 0.2 || a.Loss() != 0.5 {
		t.Fatalf("loss %v %v", a.Loss(), b.Loss())
	}
}

func other(x, a, b *SessionStats) *SessionStats {
	if x == a {
		return b
	}
	return a
}

func TestParseSessionID(t *testing.T) {
	id := SessionID(shard.MakeID(3, 77, 12345))
	got, err := ParseSessionID(id.String())
	if err != nil || got != id {
		t.Fatalf("%s: %v %v", id, got, err)
	}
	for _, bad := range []string{"", "1", "1/2", "1/2.", "x/2.3", "256/1.1", "1/99999999.1", "1/2.3.4", "-1/2.3"} {
		if _, err := ParseSessionID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
