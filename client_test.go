package eqgate

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// TestClientManySessions runs many sessions on one Client engine against a
// Server, from two source addresses (more than one address's session cap),
// and checks that every message is echoed exactly once and in order, that
// Conn.Close ends one session without disturbing the rest, and that Close
// leaves no goroutine and no socket behind.
func TestClientManySessions(t *testing.T) {
	for _, tc := range []struct {
		name              string
		clientShards      int
		sessions, perStrm int
		share             bool
	}{
		{name: "1shard", clientShards: 1, sessions: 300, perStrm: 3},
		{name: "2shards", clientShards: 2, sessions: 120, perStrm: 3},
		{name: "2shards-shared", clientShards: 2, sessions: 120, perStrm: 3, share: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer checkLeaks(t)()
			testClient(t, tc.clientShards, tc.sessions, tc.perStrm, tc.share)
		})
	}
}

// testClient: with share, the sessions come from 60 addresses, two from
// each, on Config.ShareSockets: a few shared sockets instead of one each.
func testClient(t *testing.T, clientShards, sessions, perStream int, share bool) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	sizes := []int{12, 64, 255, 512, 1400, 4000}

	prev := shard.SetOwnerChecks(true)
	defer shard.SetOwnerChecks(prev)

	eh := &closeWatcher{want: sessions, all: make(chan struct{})}
	srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, eh)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := srv.Addr().String()

	cl, err := NewClient("127.0.0.1", Config{Shards: clientShards, RecvBuffer: 256 << 10, SendBuffer: 256 << 10, ShareSockets: share})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	type sess struct {
		conn *Conn
		col  *collector
		sent [4][][]byte
	}
	ss := make([]*sess, sessions)
	from := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	if share {
		from = nil
		for k := range 60 {
			from = append(from, netip.AddrFrom4([4]byte{127, 0, 1, byte(1 + k)}))
		}
	}
	// Start every dial, then wait for each: one round trip for all.
	for i := range ss {
		s := &sess{col: &collector{want: 4 * perStream, done: make(chan struct{})}}
		for st := range 4 {
			for k := range perStream {
				s.sent[st] = append(s.sent[st], payload(i, st, k, sizes[rng.IntN(len(sizes))]))
			}
		}
		s.conn, err = cl.StartDial(from[i%len(from)], addr, s.col)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		ss[i] = s
	}
	locals := map[netip.AddrPort]bool{}
	for i, s := range ss {
		if err := s.conn.Wait(); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		la := s.conn.LocalAddr()
		if la.Addr() != from[i%len(from)] || locals[la] {
			t.Fatalf("session %d: local address %v (want %v, unique)", i, la, from[i%len(from)])
		}
		locals[la] = true
		if s.conn.RemoteAddr() != srv.Addr() {
			t.Fatalf("session %d: remote %v, want %v", i, s.conn.RemoteAddr(), srv.Addr())
		}
	}
	for k := range perStream {
		for i, s := range ss {
			for st := range 4 {
				if err := s.conn.Send(st, s.sent[st][k], true); err != nil {
					t.Fatalf("session %d: send: %v", i, err)
				}
			}
		}
	}
	bound := time.After(30 * time.Second) // a bound, not a synchronisation
	for i, s := range ss {
		select {
		case <-s.col.done:
		case <-bound:
			t.Fatalf("session %d: no complete echo in time", i)
		}
	}
	for i, s := range ss {
		s.col.mu.Lock()
		for st := range 4 {
			got := s.col.got[st]
			if len(got) != perStream {
				t.Fatalf("session %d stream %d: %d echoes, want %d", i, st, len(got), perStream)
			}
			for k := range got {
				if !bytes.Equal(got[k], s.sent[st][k]) {
					t.Fatalf("session %d stream %d message %d: echo differs", i, st, k)
				}
			}
		}
		s.col.mu.Unlock()
	}
	// Two sessions per address need two shared sockets at most per shard.
	if fds := cl.FDs(); share && (fds < clientShards || fds > 2*clientShards) || !share && fds != sessions {
		t.Errorf("%d fds for %d sessions (sharing %v)", fds, sessions, share)
	}
	if st := cl.Stats(); st.Total.SessionsOpen != int64(sessions) || len(st.Shards) != clientShards {
		t.Fatalf("client stats: %d sessions open over %d shards, want %d over %d", st.Total.SessionsOpen, len(st.Shards), sessions, clientShards)
	}
	if got := cl.Stats().Total.Handoffs; got != 0 {
		t.Errorf("client handed off %d datagrams between its shards, want 0", got)
	}

	// Close a third of the sessions one by one: each socket goes, the
	// server sees a SessionDisconnect, the others stay up.
	closed := 0
	for i := 0; i < sessions; i += 3 {
		if err := ss[i].conn.Close(); err != nil {
			t.Fatal(err)
		}
		closed++
	}
	if got := cl.Sockets(); got != sessions-closed {
		t.Errorf("%d sockets open after closing %d of %d sessions", got, closed, sessions)
	}
	if err := ss[1].conn.Send(0, []byte("still here"), true); err != nil {
		t.Errorf("a live session after others closed: %v", err)
	}
	if err := ss[0].conn.Send(0, []byte("gone"), true); err != nil {
		t.Logf("send on a closed session: %v", err) // dropped on the shard; not an error to the caller
	}

	if err := cl.Close(); err != nil {
		t.Error(err)
	}
	if got, fds := cl.Sockets(), cl.FDs(); got != 0 || fds != 0 {
		t.Errorf("%d sockets, %d fds open after Client.Close", got, fds)
	}
	if _, err := cl.StartDial(netip.Addr{}, addr, &collector{}); !errors.Is(err, ErrClosed) {
		t.Errorf("StartDial after Close: %v, want ErrClosed", err)
	}
	select {
	case <-eh.all:
	case <-time.After(10 * time.Second): // a bound
		t.Error("the server did not see every session close")
	}
	if err := srv.Close(); err != nil {
		t.Error(err)
	}
	st := srv.Stats()
	if st.Total.SessionsOpened != uint64(sessions) {
		t.Errorf("server opened %d sessions, want %d", st.Total.SessionsOpened, sessions)
	}
	eh.mu.Lock()
	peer := eh.closed[ClosePeer]
	eh.mu.Unlock()
	if peer != sessions {
		// Conn.Close and Client.Close both send a SessionDisconnect.
		t.Errorf("server saw %d sessions closed by the peer, want %d (closed: %v)", peer, sessions, eh.closed)
	}
	checkOutcomes(t, srv)
}

// closeWatcher is the echo server's Handler that also tells when want
// sessions have closed.
type closeWatcher struct {
	echoHandler
	want int
	n    int
	all  chan struct{}
}

func (w *closeWatcher) OnClose(s Session, r CloseReason) {
	w.echoHandler.OnClose(s, r)
	w.mu.Lock()
	w.n++
	if w.n == w.want {
		close(w.all)
	}
	w.mu.Unlock()
}

// TestClientDialFails: a dial nobody answers fails with a *DialError after
// ConnectStale and releases its socket; the Client goes on.
func TestClientDialFails(t *testing.T) {
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := NewClient("", Config{ConnectStale: 300 * time.Millisecond, ConnectDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// A port of our own that never answers.
	silent, err := NewClient("127.0.0.1", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	dead, err := silent.StartDial(netip.Addr{}, srv.Addr().String(), &collector{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dead.Wait(); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Dial(dead.LocalAddr().String(), &collector{})
	var de *DialError
	if !errors.As(err, &de) || de.Reason != CloseConnectTimeout || !errors.Is(err, ErrDialFailed) {
		t.Fatalf("dial to a silent port: %v, want a connect-timeout DialError", err)
	}
	if got := cl.Sockets(); got != 0 {
		t.Errorf("%d sockets after a failed dial", got)
	}
	col := &collector{want: 1, done: make(chan struct{})}
	c, err := cl.Dial(srv.Addr().String(), col)
	if err != nil {
		t.Fatalf("dial after a failure: %v", err)
	}
	if err := c.Send(2, []byte("ping"), true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-col.done:
	case <-time.After(10 * time.Second): // a bound
		t.Fatal("no echo")
	}
	if got := fmt.Sprint(col.got[2]); got != fmt.Sprint([][]byte{[]byte("ping")}) {
		t.Errorf("echo %s", got)
	}
}
