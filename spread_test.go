package eqgate

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// ownerHandler records which shard opened each session.
type ownerHandler struct {
	mu     sync.Mutex
	shards map[netip.AddrPort]int
	bad    []string
	n      int
}

func (h *ownerHandler) OnOpen(s Session) {
	ap := s.RemoteAddr() // owner-only: panics off the shard goroutine with checks on
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shards[ap] = s.Shard()
	if want := batchio.Owner(ap, h.n); want != s.Shard() {
		h.bad = append(h.bad, ap.String())
	}
}
func (h *ownerHandler) OnMessage(Session, int, []byte) {}
func (h *ownerHandler) OnClose(Session, CloseReason)   {}

// TestSessionsSpreadOverShards opens sessions from hundreds of source ports
// against 4 shards without steering: each must be owned by
// batchio.Owner(endpoint), whichever socket the kernel picked, with the
// owner-goroutine assertions on.
func TestSessionsSpreadOverShards(t *testing.T) {
	for _, steer := range []bool{false, true} {
		name := "no steering"
		if steer {
			name = "steering"
		}
		t.Run(name, func(t *testing.T) { testSpread(t, steer) })
	}
}

func testSpread(t *testing.T, steer bool) {
	defer checkLeaks(t)()
	prev := shard.SetOwnerChecks(true)
	defer shard.SetOwnerChecks(prev)
	const shards, clients = 4, 300
	h := &ownerHandler{shards: map[netip.AddrPort]int{}, n: shards}
	srv, err := Listen("127.0.0.1:0", Config{Shards: shards, MaxSessionsPerIP: clients, Steering: steer}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dst := net.UDPAddrFromAddrPort(srv.Addr())
	conns := make([]*net.UDPConn, clients)
	for i := range conns {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
		req := proto.SessionRequest{ProtocolVersion: 3, ConnectCode: uint32(i + 1), MaxPacketSize: 512}.AppendTo(nil)
		if _, err := c.WriteToUDP(req, dst); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second)) // a bound, not a synchronisation
		// Other tests' servers share loopback and may resend to a port
		// this socket reuses: skip what is not a SessionResponse.
		var r proto.SessionResponse
		for {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			r, err = proto.ParseSessionResponse(buf[:n])
			if err != nil {
				t.Logf("client %d: stray datagram %x: %v", i, buf[:n], err)
				continue
			}
			if r.ConnectCode != uint32(i+1) {
				t.Fatalf("client %d: response for connect code %d", i, r.ConnectCode)
			}
			break
		}
		// The session exists once the client proves the key: a stat
		// request under it, whose answer says the server has the session.
		params, err := proto.NewParams(r.Key, int(r.CRCBytes), r.Passes, int(r.MaxPacketSize))
		if err != nil {
			t.Fatal(err)
		}
		var coder proto.Coder
		stat := proto.SessionStatRequest{}.AppendTo(nil)
		if _, err := c.WriteToUDP(coder.AppendEncode(&params, nil, stat), dst); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range conns {
		for {
			// Unconnected sockets also read strays from other processes
			// that once used the port: only the server's answer counts.
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatalf("client %d: no stat answer: %v", i, err)
			}
			if from == srv.Addr() {
				if n < 2 || buf[1] != byte(proto.OpSessionStatReply) {
					t.Fatalf("client %d: %x, want a stat answer", i, buf[:n])
				}
				break
			}
		}
	}
	h.mu.Lock()
	per := make([]int, shards)
	for _, s := range h.shards {
		per[s]++
	}
	bad := h.bad
	h.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("sessions opened off their owner shard: %v", bad)
	}
	for i, n := range per {
		if n == 0 {
			t.Errorf("shard %d owns no session (spread %v)", i, per)
		}
	}
	st := srv.Stats()
	t.Logf("spread %v, handoffs %d of %d datagrams", per, st.Total.Handoffs, st.Total.DatagramsIn)
	if st.Total.SessionsOpen != clients {
		t.Errorf("%d sessions open, want %d", st.Total.SessionsOpen, clients)
	}
	checkOutcomes(t, srv)
	if on, why := srv.Steering(); steer && !on {
		t.Logf("steering not attached: %s", why)
	} else if on && st.Total.Handoffs != 0 {
		t.Errorf("steering on, yet %d handoffs", st.Total.Handoffs)
	}
}
