package proto

import (
	"bytes"
	"testing"
)

// MaxSend is exact: a packet of that length (escaped, the worst case) goes
// into an empty window, one byte more is refused for good, and CanSend
// predicts Send's answer as the window fills.
func TestSessionMaxSendAndCanSend(t *testing.T) {
	for _, tc := range []struct {
		name           string
		bytes, packets int
	}{
		{"bytes cap", 64 << 10, 2048},
		{"packets cap", 1 << 20, 16},
		{"defaults", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.bytes > 0 {
				cfg.MaxUnackedBytes, cfg.MaxUnackedPackets = tc.bytes, tc.packets
			}
			vc := mustCfg(t, cfg)
			c, _ := handshake(t, vc, 0)
			m := c.s.MaxSend()
			if m <= 0 || m > vc.MaxFragmentSize {
				t.Fatalf("MaxSend %d", m)
			}
			if f := MaxSendFor(vc); f > m || f <= 0 {
				t.Fatalf("MaxSendFor %d above the established session's %d", f, m)
			}
			big := append([]byte{0}, bytes.Repeat([]byte{7}, m)...) // escaped: m+2 bytes on the wire
			if err := c.s.CanSend(0, big, true); err != ErrPacketTooLarge {
				t.Fatalf("CanSend(MaxSend+1) = %v", err)
			}
			if err := c.s.Send(&c.env, 0, 0, big, true); err != ErrPacketTooLarge {
				t.Fatalf("Send(MaxSend+1) = %v", err)
			}
			if err := c.s.Send(&c.env, 0, 0, big[:m], true); err != nil {
				t.Fatalf("Send(MaxSend) = %v", err)
			}
			msg := bytes.Repeat([]byte{5}, 300)
			for k := 0; ; k++ {
				want := c.s.CanSend(1, msg, true)
				got := c.s.Send(&c.env, 0, 1, msg, true)
				if want != got {
					t.Fatalf("send %d: CanSend %v, Send %v", k, want, got)
				}
				if got == ErrSendQueueFull {
					break
				}
				if got != nil || k > 1<<16 {
					t.Fatalf("send %d: %v", k, got)
				}
			}
			if c.s.CanSend(2, msg[:100], false) != nil || c.s.CanSend(0, msg, false) != ErrSendQueueFull {
				t.Fatal("a raw unreliable packet needs no window; a long one does (stream 0)")
			}
		})
	}
}
