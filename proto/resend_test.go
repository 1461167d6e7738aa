package proto

import (
	"testing"
	"time"
)

// TestBlackHoleResends: a peer that stops answering with 486 KB queued
// costs at most twice that in resends before the resend timeout closes
// the session, and only each stream's oldest packet probes (virtual time).
func TestBlackHoleResends(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	_, s := handshake(t, cfg, 0)
	msg := make([]byte, 480)
	for i := range msg {
		msg[i] = byte(i | 1)
	}
	for s.s.Unacked() < 486_000 {
		if err := s.s.Send(&s.env, 0, i2s(s.s.Unacked()), msg, true); err != nil {
			t.Fatalf("after %d bytes: %v", s.s.Unacked(), err)
		}
	}
	s.s.Flush(&s.env, 0)
	s.sink.take()
	unacked := s.s.Unacked()
	tick := Nanotime(cfg.TickInterval)
	var maxTick, total int
	probes := 0
	for now := tick; s.s.State() == StateConnected; now += tick {
		if now > Nanotime(cfg.ResendTimeout)+Nanotime(time.Second) {
			t.Fatal("no resend timeout")
		}
		before := s.s.Stats().ResentBytes
		s.s.Tick(&s.env, now)
		out := 0
		for _, d := range s.sink.take() {
			out += len(d)
		}
		if s.s.Stats().ResentBytes > before {
			probes++
		}
		total += out
		maxTick = max(maxTick, out)
	}
	st := s.s.Stats()
	if s.s.CloseReason() != CloseResendTimeout {
		t.Fatalf("closed %v", s.s.CloseReason())
	}
	if st.ResentBytes > uint64(2*unacked) {
		t.Fatalf("resent %d bytes for %d unacked (%.2fx)", st.ResentBytes, unacked, float64(st.ResentBytes)/float64(unacked))
	}
	// Nothing came back since the first send: only each stream's oldest
	// packet is ever resent, as its delay backs off.
	if maxTick > Streams*(cfg.MaxPacketSize+8) {
		t.Fatalf("one tick sent %d bytes, more than one probe per stream", maxTick)
	}
	if probes < 5 {
		t.Fatalf("%d resend ticks, want the heads probed as their delay backs off", probes)
	}
	t.Logf("unacked %d, resent %d (%.2fx), on the wire %d, biggest tick %d, probe ticks %d",
		unacked, st.ResentBytes, float64(st.ResentBytes)/float64(unacked), total, maxTick, probes)
}

func i2s(n int) int { return (n / 100_000) % Streams }

// TestProbeResumes: while the peer is silent only the oldest packet is
// resent; the first ack resumes the rest at the next Tick.
func TestProbeResumes(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	_, s := handshake(t, cfg, 0)
	for range 10 {
		if err := s.s.Send(&s.env, 0, 0, make([]byte, 100), true); err != nil {
			t.Fatal(err)
		}
	}
	s.s.Flush(&s.env, 0)
	s.sink.take()
	at := s.s.Next()
	s.s.Tick(&s.env, at)
	if r := s.s.Stats().Resends; r != 1 {
		t.Fatalf("%d resends to a silent peer, want the oldest alone", r)
	}
	s.sink.take()
	s.now = at + Nanotime(time.Millisecond)
	s.inject(t, AppendAck(nil, 0, 0))
	if next := s.s.Next(); next > s.now {
		t.Fatalf("after the ack the resends wait until %v", next)
	}
	s.s.Tick(&s.env, s.now+1)
	if r := s.s.Stats().Resends; r != 10 {
		t.Fatalf("%d resends after the ack, want the 9 held back too", r)
	}
}
