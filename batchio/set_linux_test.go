//go:build linux

package batchio

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// setRead reads from s until want datagrams came (bounded).
func setRead(t *testing.T, s *Set, want int) []Message {
	t.Helper()
	var got []Message
	msgs := make([]Message, 16)
	for i := range msgs {
		msgs[i].Buf = make([]byte, 256)
	}
	deadline := time.Now().Add(5 * time.Second) // a bound, not a synchronisation
	for len(got) < want {
		n, err := s.ReadBatchUntil(msgs, deadline)
		if err != nil && !errors.Is(err, ErrWakeup) {
			t.Fatalf("after %d of %d datagrams: %v", len(got), want, err)
		}
		for _, m := range msgs[:n] {
			cp := m
			cp.Buf = append([]byte(nil), m.Buf[:m.N]...)
			got = append(got, cp)
		}
	}
	return got
}

// TestSetMembers: a Set's members are separate endpoints; datagrams to each
// come back tagged with its id, the main Conn's with 0, and each member
// sends from its own port; a closed member is neither read nor written.
func TestSetMembers(t *testing.T) {
	main := openLoop(t, Options{}).Conn(0)
	s := NewSet(main, SetOptions{Batch: 8})
	defer s.Close()
	defer s.CloseMembers()
	peer := openLoop(t, Options{}).Conn(0)

	lo := netip.MustParseAddrPort("127.0.0.1:0")
	var ids []uint32
	var addrs []netip.AddrPort
	for range 3 {
		id, ap, err := s.Open(lo)
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 || ap.Port() == 0 || ap.Port() == main.LocalAddr().Port() {
			t.Fatalf("member %d bound %v", id, ap)
		}
		ids, addrs = append(ids, id), append(addrs, ap)
	}
	if s.Len() != 3 {
		t.Fatalf("Len %d, want 3", s.Len())
	}
	// The peer writes one datagram to each member and one to main.
	out := []Message{}
	for i, ap := range addrs {
		out = append(out, Message{Buf: []byte{byte(i)}, N: 1, Addr: ap})
	}
	out = append(out, Message{Buf: []byte{99}, N: 1, Addr: main.LocalAddr()})
	if n, err := peer.WriteBatch(out); n != len(out) || err != nil {
		t.Fatalf("peer write: %d, %v", n, err)
	}
	got := map[uint32]byte{}
	for _, m := range setRead(t, s, 4) {
		if m.Addr != peer.LocalAddr() {
			t.Errorf("datagram from %v, want %v", m.Addr, peer.LocalAddr())
		}
		got[m.Sock] = m.Buf[0]
	}
	for i, id := range ids {
		if got[id] != byte(i) {
			t.Errorf("member %d: got %v", id, got[id])
		}
	}
	if got[0] != 99 {
		t.Errorf("main: got %v", got[0])
	}

	// Each member and main answer; the peer sees each from its own port.
	reply := []Message{
		{Buf: []byte{0}, N: 1, Addr: peer.LocalAddr(), Sock: ids[0]},
		{Buf: []byte{1}, N: 1, Addr: peer.LocalAddr(), Sock: ids[1]},
		{Buf: []byte{1}, N: 1, Addr: peer.LocalAddr(), Sock: ids[1]},
		{Buf: []byte{9}, N: 1, Addr: peer.LocalAddr(), Sock: 0},
	}
	if n, err := s.WriteBatch(reply); n != len(reply) || err != nil {
		t.Fatalf("set write: %d, %v", n, err)
	}
	from := map[netip.AddrPort]int{}
	for _, m := range readAll(t, peer, len(reply), 64) {
		from[m.Addr]++
	}
	if from[addrs[0]] != 1 || from[addrs[1]] != 2 || from[main.LocalAddr()] != 1 {
		t.Errorf("sources %v; want 1 from %v, 2 from %v, 1 from main", from, addrs[0], addrs[1])
	}

	// A closed member: its writes are drops, its id comes back for reuse.
	s.CloseMember(ids[2])
	if s.Len() != 2 {
		t.Errorf("Len %d after CloseMember, want 2", s.Len())
	}
	n, err := s.WriteBatch([]Message{{Buf: []byte{1}, N: 1, Addr: peer.LocalAddr(), Sock: ids[2]}})
	var de *DropError
	if n != 0 || !errors.As(err, &de) || de.Dropped != 1 {
		t.Errorf("write from a closed member: %d, %v; want a drop", n, err)
	}
	if id, _, err := s.Open(lo); err != nil || id != ids[2] {
		t.Errorf("Open after CloseMember: id %d, %v; want %d reused", id, err, ids[2])
	}
}

// TestSetWakeDeadlineClose: a Set with members sleeps on epoll; Wake, the
// deadline and Close each end the sleep with Conn's errors.
func TestSetWakeDeadlineClose(t *testing.T) {
	for _, withMain := range []bool{false, true} {
		t.Run(map[bool]string{false: "members", true: "main+members"}[withMain], func(t *testing.T) {
			var main *Conn
			if withMain {
				main = openLoop(t, Options{}).Conn(0)
			}
			s := NewSet(main, SetOptions{})
			defer s.CloseMembers()
			if _, _, err := s.Open(netip.MustParseAddrPort("127.0.0.1:0")); err != nil {
				t.Fatal(err)
			}
			msgs := []Message{{Buf: make([]byte, 64)}}
			for range 2 { // the second call re-arms after the first expired
				if n, err := s.ReadBatchUntil(msgs, time.Now().Add(20*time.Millisecond)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("deadline: %d, %v", n, err)
				}
			}
			if n := s.Sleeps(); n != 2 { // parks on epoll are wake-ups too
				t.Fatalf("sleeps %d after two waiting reads", n)
			}
			done := make(chan error)
			go func() {
				_, err := s.ReadBatchUntil(msgs, time.Time{})
				done <- err
			}()
			s.Wake()
			if err := <-done; !errors.Is(err, ErrWakeup) {
				t.Fatalf("after Wake: %v, want ErrWakeup", err)
			}
			go func() {
				_, err := s.ReadBatchUntil(msgs, time.Time{})
				done <- err
			}()
			s.Close()
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("after Close: %v, want net.ErrClosed", err)
			}
			s.Wake() // harmless after Close
		})
	}
}

// TestSetNoMembersIsMain: without members a Set passes straight through to
// its main Conn (wake included).
func TestSetNoMembersIsMain(t *testing.T) {
	main := openLoop(t, Options{}).Conn(0)
	s := NewSet(main, SetOptions{})
	defer s.Close()
	s.Wake()
	if n, err := s.ReadBatchUntil([]Message{{Buf: make([]byte, 64)}}, time.Time{}); n != 0 || !errors.Is(err, ErrWakeup) {
		t.Fatalf("after Wake: %d, %v", n, err)
	}
	if _, err := s.WriteBatch([]Message{{Buf: []byte{7}, N: 1, Addr: main.LocalAddr()}}); err != nil {
		t.Fatal(err)
	}
	if got := setRead(t, s, 1); got[0].Sock != 0 || got[0].Buf[0] != 7 {
		t.Fatalf("got %+v", got[0])
	}
}

// TestSetNoAllocs: a warm round of member writes and reads through epoll
// allocates nothing.
func TestSetNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := NewSet(nil, SetOptions{Batch: 8, RecvBuffer: 1 << 20, GSO: true})
	defer s.Close()
	defer s.CloseMembers()
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	a, aAddr, err := s.Open(lo)
	if err != nil {
		t.Fatal(err)
	}
	b, bAddr, err := s.Open(lo)
	if err != nil {
		t.Fatal(err)
	}
	// a and b talk to each other: every datagram is both sent and read by s.
	pairNoAllocs(t, s, a, aAddr, b, bAddr)
}

// pairNoAllocs has members a and b of s exchange 8 datagrams a round, each
// read back as the other's, and fails if a round allocates.
func pairNoAllocs(t *testing.T, s *Set, a uint32, aAddr netip.AddrPort, b uint32, bAddr netip.AddrPort) {
	t.Helper()
	out := make([]Message, 8)
	for i := range out {
		out[i] = Message{Buf: make([]byte, 64), N: 64, Addr: bAddr, Sock: a}
		if i%2 == 1 {
			out[i].Addr, out[i].Sock = aAddr, b
		}
	}
	in := make([]Message, 8)
	for i := range in {
		in[i].Buf = make([]byte, 2048)
	}
	deadline := time.Now().Add(time.Minute) // a bound, not a synchronisation
	round := func() {
		n, err := s.WriteBatch(out)
		if err != nil || n != len(out) {
			panic(err)
		}
		for got := 0; got < len(out); {
			k, err := s.ReadBatchUntil(in[got:], deadline)
			if err != nil {
				panic(err)
			}
			for _, m := range in[got : got+k] {
				if (m.Sock != a || m.Addr != bAddr) && (m.Sock != b || m.Addr != aAddr) {
					panic("datagram for the wrong member")
				}
			}
			got += k
		}
		sinkN += n
	}
	round()
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Fatalf("%v allocations per round, want 0", allocs)
	}
}

// TestSetMainReadAfterWake: a Wake while the Set sleeps in epoll sets the
// main Conn's read deadline in the past (its own netpoll wake); the main
// Conn's datagrams must still be read afterwards. They were not: the main
// read went through RawConn.Read, which failed on that deadline for ever, so
// a server shard that had dialled (a relay) stopped reading its socket after
// the first wake from another shard.
func TestSetMainReadAfterWake(t *testing.T) {
	main := openLoop(t, Options{}).Conn(0)
	s := NewSet(main, SetOptions{Batch: 8})
	defer s.Close()
	defer s.CloseMembers()
	id, ap, err := s.Open(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	peer := openLoop(t, Options{}).Conn(0)
	for round := range 3 {
		s.Wake()
		if _, err := peer.WriteBatch([]Message{
			{Buf: []byte{byte(round)}, N: 1, Addr: main.LocalAddr()},
			{Buf: []byte{byte(round)}, N: 1, Addr: ap},
		}); err != nil {
			t.Fatal(err)
		}
		got := setRead(t, s, 2)
		socks := map[uint32]bool{}
		for _, m := range got {
			socks[m.Sock] = true
		}
		if !socks[0] || !socks[id] {
			t.Fatalf("round %d: read from sockets %v, want main and member %d", round, socks, id)
		}
	}
}

// TestSetSleeps: a Set with members counts a read that parks on epoll as
// one sleep (the wake-ups of dialled sessions' sockets), and one that finds
// a datagram queued as none (TestSetWakeDeadlineClose counts with a main
// Conn).
func TestSetSleeps(t *testing.T) {
	s := NewSet(nil, SetOptions{})
	defer s.CloseMembers()
	_, bound, err := s.Open(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Buf: make([]byte, 64)}}
	if _, err := s.ReadBatchUntil(msgs, time.Now().Add(time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal(err)
	}
	if n := s.Sleeps(); n != 1 {
		t.Fatalf("sleeps %d after one waiting read", n)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteToUDPAddrPort([]byte{1, 2, 3}, bound); err != nil {
		t.Fatal(err)
	}
	// Loopback queues the datagram before the write returns.
	if n, err := s.ReadBatchUntil(msgs, time.Now().Add(5*time.Second)); n != 1 || err != nil {
		t.Fatalf("n %d err %v", n, err)
	}
	if n := s.Sleeps(); n != 1 {
		t.Fatalf("sleeps %d after a read that found a datagram", n)
	}
}
