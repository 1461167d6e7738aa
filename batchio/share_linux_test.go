//go:build linux

package batchio

import (
	"errors"
	"net/netip"
	"testing"
)

// TestSetShare: with Share, members on different addresses share one
// socket and port; each datagram reaches the member it was sent to, one for
// no member comes back as NoMember, each member's sends leave from its own
// address, and the shared socket goes with its last member.
func TestSetShare(t *testing.T) {
	s := NewSet(nil, SetOptions{Batch: 8, Share: true})
	defer s.Close()
	defer s.CloseMembers()
	peer := openLoop(t, Options{}).Conn(0)

	open := func(ap string) (uint32, netip.AddrPort) {
		t.Helper()
		id, bound, err := s.Open(netip.MustParseAddrPort(ap))
		if err != nil {
			t.Fatalf("Open(%s): %v", ap, err)
		}
		return id, bound
	}
	a, aAddr := open("127.0.0.2:0")
	b, bAddr := open("127.0.0.3:0")
	c, cAddr := open("127.0.0.4:0")
	port := aAddr.Port()
	for i, ap := range []netip.AddrPort{aAddr, bAddr, cAddr} {
		want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}), port)
		if port == 0 || ap != want {
			t.Fatalf("member %d bound %v, want %v", i, ap, want)
		}
	}
	if s.FDs() != 1 || s.Len() != 3 {
		t.Fatalf("FDs %d, Len %d; want 1 socket for 3 members", s.FDs(), s.Len())
	}
	// An address taken on the shared socket needs another one; the
	// unspecified address and a given port get sockets of their own.
	d, dAddr := open("127.0.0.2:0")
	if dAddr.Addr() != aAddr.Addr() || dAddr.Port() == port {
		t.Fatalf("second member on 127.0.0.2 bound %v (first %v)", dAddr, aAddr)
	}
	e, eAddr := open("0.0.0.0:0")
	if s.FDs() != 3 || s.Len() != 5 {
		t.Fatalf("FDs %d, Len %d; want 3 and 5", s.FDs(), s.Len())
	}
	// An address that is not this host's fails as its bind would.
	if _, _, err := s.Open(netip.MustParseAddrPort("192.0.2.1:0")); err == nil {
		t.Fatal("Open on 192.0.2.1: nil error")
	}
	if s.FDs() != 3 || s.Len() != 5 {
		t.Fatalf("after a failed Open: FDs %d, Len %d; want 3 and 5", s.FDs(), s.Len())
	}

	stray := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.9"), port)
	eTo := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), eAddr.Port())
	to := []netip.AddrPort{aAddr, bAddr, cAddr, dAddr, eTo, stray}
	var out []Message
	for i, ap := range to {
		out = append(out, Message{Buf: []byte{byte(i)}, N: 1, Addr: ap})
	}
	if n, err := peer.WriteBatch(out); n != len(out) || err != nil {
		t.Fatalf("peer write: %d, %v", n, err)
	}
	got := map[byte]uint32{}
	for _, m := range setRead(t, s, len(out)) {
		if m.Addr != peer.LocalAddr() {
			t.Errorf("datagram from %v, want %v", m.Addr, peer.LocalAddr())
		}
		got[m.Buf[0]] = m.Sock
	}
	for i, want := range []uint32{a, b, c, d, e, NoMember} {
		if got[byte(i)] != want {
			t.Errorf("datagram to %v: Sock %d, want %d", to[i], got[byte(i)], want)
		}
	}

	// Replies, interleaved over the shared socket's members, leave from
	// each member's own address.
	var reply []Message
	for i, id := range []uint32{a, b, a, c, d, c, e, b} {
		reply = append(reply, Message{Buf: []byte{byte(i)}, N: 1, Addr: peer.LocalAddr(), Sock: id})
	}
	if n, err := s.WriteBatch(reply); n != len(reply) || err != nil {
		t.Fatalf("set write: %d, %v", n, err)
	}
	from := map[byte]netip.AddrPort{}
	for _, m := range readAll(t, peer, len(reply), 64) {
		from[m.Buf[0]] = m.Addr
	}
	for i, ap := range []netip.AddrPort{aAddr, bAddr, aAddr, cAddr, dAddr, cAddr, eTo, bAddr} {
		if from[byte(i)] != ap {
			t.Errorf("reply %d came from %v, want %v", i, from[byte(i)], ap)
		}
	}

	// A closed member's address is nobody's; its writes are drops.
	s.CloseMember(b)
	if n, err := peer.WriteBatch([]Message{{Buf: []byte{7}, N: 1, Addr: bAddr}}); n != 1 || err != nil {
		t.Fatalf("peer write: %d, %v", n, err)
	}
	if m := setRead(t, s, 1)[0]; m.Sock != NoMember {
		t.Errorf("datagram to closed member: Sock %d, want NoMember", m.Sock)
	}
	n, err := s.WriteBatch([]Message{{Buf: []byte{1}, N: 1, Addr: peer.LocalAddr(), Sock: b}})
	var de *DropError
	if n != 0 || !errors.As(err, &de) || de.Dropped != 1 {
		t.Errorf("write from a closed member: %d, %v; want a drop", n, err)
	}
	// The last member closes the socket; a new member on a free address
	// joins the shared socket still open (d's).
	s.CloseMember(a)
	s.CloseMember(c)
	if s.FDs() != 2 || s.Len() != 2 {
		t.Fatalf("after closing the first socket's members: FDs %d, Len %d; want 2 and 2", s.FDs(), s.Len())
	}
	if _, f := open("127.0.0.3:0"); f.Port() != dAddr.Port() || s.FDs() != 2 {
		t.Errorf("new member bound %v with %d FDs; want port %d, 2 FDs", f, s.FDs(), dAddr.Port())
	}
}

// TestSetShareNoAllocs: two members of one shared socket talk to each
// other, so every datagram is both sent and read through it, with no
// allocation.
func TestSetShareNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := NewSet(nil, SetOptions{Batch: 8, Share: true, GSO: true})
	defer s.Close()
	defer s.CloseMembers()
	a, aAddr, err := s.Open(netip.MustParseAddrPort("127.0.0.2:0"))
	if err != nil {
		t.Fatal(err)
	}
	b, bAddr, err := s.Open(netip.MustParseAddrPort("127.0.0.3:0"))
	if err != nil {
		t.Fatal(err)
	}
	if s.FDs() != 1 {
		t.Fatalf("%d FDs, want 1", s.FDs())
	}
	pairNoAllocs(t, s, a, aAddr, b, bAddr)
}
