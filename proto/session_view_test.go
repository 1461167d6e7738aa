package proto

import (
	"bytes"
	"testing"
)

// TestSessionView: the operator view counts application packets and wire
// bytes each way, and the queues show packets in flight until acked.
func TestSessionView(t *testing.T) {
	cfg := mustCfg(t, ZoneConfig()) // compression on: wire bytes differ from decoded ones
	c, s := handshake(t, cfg, 1000)
	if s.s.Created() != 1000 || s.s.LastRecv() != 1000 {
		t.Fatalf("created %d last recv %d", s.s.Created(), s.s.LastRecv())
	}
	msg := bytes.Repeat([]byte{0x42, 'a'}, 200)
	for range 3 {
		if err := c.s.Send(&c.env, c.now, 1, msg, true); err != nil {
			t.Fatal(err)
		}
	}
	c.s.Flush(&c.env, c.now)
	if q := c.s.Queues(); q[1].InFlight != 3 || q[0].InFlight != 0 {
		t.Fatalf("queues before ack %+v", q)
	}
	cst := c.s.Stats()
	if cst.AppSent != 3 || cst.AppSentBytes != 3*uint64(len(msg)) {
		t.Fatalf("app sent %d bytes %d", cst.AppSent, cst.AppSentBytes)
	}
	if cst.SentWireBytes == 0 || cst.SentWireBytes >= cst.SentBytes {
		t.Fatalf("compressed wire %d decoded %d", cst.SentWireBytes, cst.SentBytes)
	}
	s.now = 5000
	pump(t, c, s)
	if q := c.s.Queues(); q[1].InFlight != 0 {
		t.Fatalf("queues after ack %+v", q)
	}
	sst := s.s.Stats()
	if sst.RecvDecodedBytes <= sst.RecvBytes || s.s.LastRecv() != 5000 || s.s.LastSend() != 5000 {
		t.Fatalf("server decoded %d wire %d last recv %d send %d", sst.RecvDecodedBytes, sst.RecvBytes, s.s.LastRecv(), s.s.LastSend())
	}
	// A refused Send is not counted.
	if err := c.s.Send(&c.env, c.now, 9, msg, true); err == nil || c.s.Stats().AppSent != 3 {
		t.Fatalf("bad stream: %v, app sent %d", err, c.s.Stats().AppSent)
	}
}

// TestSessionLoss: loss each way compares the peer's counts in its
// SessionStatRequest with ours at that moment.
func TestSessionLoss(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, s := handshake(t, cfg, 1000)
	if _, _, ok := s.s.Stats().Loss(); ok {
		t.Fatal("loss known before any stat request")
	}
	st := s.s.Stats()
	// The client says it sent 10 (we got 2 so far, counting this one: 2
	// of 10 arrived) and received 1 of our 1 datagram.
	sent := st.SentPackets
	c.s.sendNow(&c.env, c.now, SessionStatRequest{PacketsSent: 10, PacketsRecv: sent}.AppendTo(nil))
	for _, d := range c.sink.take() {
		s.s.Receive(&s.env, s.now, d)
	}
	in, out, ok := s.s.Stats().Loss()
	if got := s.s.Stats().RecvAtPeer; !ok || got == 0 || in != float64(10-got)/10 || out != 0 {
		t.Fatalf("loss in %v out %v ok %v (recv %d)", in, out, ok, s.s.Stats().RecvAtPeer)
	}
	// The reply the client gets carries the server's counts.
	for _, d := range s.sink.take() {
		c.s.Receive(&c.env, c.now, d)
	}
	if _, _, ok := c.s.Stats().Loss(); !ok {
		t.Fatal("client saw no stat reply")
	}
}
