package proto

import "testing"

// TestAckValidation: an ack for a sequence never sent frees nothing and is
// counted; one that acknowledges nothing new is a duplicate.
func TestAckValidation(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	_, s := handshake(t, cfg, 0)
	for range 3 { // sequences 0, 1, 2
		if err := s.s.Send(&s.env, 0, 0, []byte{1, 2, 3, 4}, true); err != nil {
			t.Fatal(err)
		}
	}
	s.s.Flush(&s.env, 0)
	s.sink.take()
	full := s.s.Unacked()
	steps := []struct {
		name    string
		pkt     []byte
		unacked int // packets still unacked
		reason  Reason
	}{
		{"ack of unsent 10", AppendAck(nil, 0, 10), 3, ReasonBadAck},
		{"ack of unsent 3", AppendAck(nil, 0, 3), 3, ReasonBadAck},
		{"ooa of unsent 30000", AppendOutOfOrderAck(nil, 0, 30000), 3, ReasonBadAck},
		{"ooa of 40000 (behind, half a circle away)", AppendOutOfOrderAck(nil, 0, 40000), 3, ReasonDupAck},
		{"ooa of 1", AppendOutOfOrderAck(nil, 0, 1), 2, ReasonNone},
		{"ooa of 1 again", AppendOutOfOrderAck(nil, 0, 1), 2, ReasonDupAck},
		{"ack of 0", AppendAck(nil, 0, 0), 1, ReasonNone},
		{"ack of 0 again", AppendAck(nil, 0, 0), 1, ReasonDupAck},
		{"ack of 65535 (before the start)", AppendAck(nil, 0, 65535), 1, ReasonDupAck},
		{"ack of 2", AppendAck(nil, 0, 2), 0, ReasonNone},
		{"ack of 2 with nothing in flight", AppendAck(nil, 0, 2), 0, ReasonDupAck},
	}
	for _, st := range steps {
		before := s.s.Stats().Drops
		s.inject(t, st.pkt)
		after := s.s.Stats().Drops
		for r := range after {
			want := before[r]
			if Reason(r) == st.reason && st.reason != ReasonNone {
				want++
			}
			if after[r] != want {
				t.Errorf("%s: drops[%v] %d, want %d", st.name, Reason(r), after[r], want)
			}
		}
		if got := s.s.Unacked(); got != full*st.unacked/3 {
			t.Errorf("%s: %d bytes unacked, want %d", st.name, got, full*st.unacked/3)
		}
	}
}
