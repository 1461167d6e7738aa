package eqgate

import (
	"context"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eqgate/eqgate/bench/impair"
)

// countingEcho echoes and counts the echoes the engine accepted.
type countingEcho struct{ sent atomic.Int64 }

func (h *countingEcho) OnOpen(Session) {}
func (h *countingEcho) OnMessage(s Session, stream int, data []byte) {
	if s.Send(max(stream, 0), data, true) == nil {
		h.sent.Add(1)
	}
}
func (h *countingEcho) OnClose(Session, CloseReason) {}

// busyClient keeps window messages in flight: every echo sends the next.
type busyClient struct {
	conn   *Conn
	got    atomic.Int64
	mu     sync.Mutex
	reason CloseReason
	closed chan struct{}
}

func (c *busyClient) OnOpen(Session) {}
func (c *busyClient) OnMessage(s Session, stream int, data []byte) {
	c.got.Add(1)
	_ = s.Send(stream, data, true) // refused once closing: the drain is what is measured
}
func (c *busyClient) OnClose(_ Session, r CloseReason) {
	c.mu.Lock()
	c.reason = r
	c.mu.Unlock()
	close(c.closed)
}

// TestDrainFigures measures a drain with 50 busy sessions (each keeping 8
// reliable 200-byte messages in flight, through a relay with 2% loss and
// 10 ms delay each way) against the old close-at-once, for
// bench/RESULTS.md: EQGATE_DRAIN_FIGURES=1 go test -run DrainFigures -v .
func TestDrainFigures(t *testing.T) {
	if os.Getenv("EQGATE_DRAIN_FIGURES") == "" {
		t.Skip("set EQGATE_DRAIN_FIGURES=1 to measure")
	}
	for _, mode := range []string{"close", "shutdown"} {
		for round := range 3 {
			h := &countingEcho{}
			srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, h)
			if err != nil {
				t.Fatal(err)
			}
			// 2% loss and 10 ms each way, so there is something to resend.
			px, err := impair.StartProxy(impair.ProxyConfig{Listen: netip.MustParseAddrPort("127.0.0.1:0"), Upstream: srv.Addr(),
				Impair: impair.Impairment{Loss: 0.02, Delay: 10 * time.Millisecond}, Seed: int64(round + 1)})
			if err != nil {
				t.Fatal(err)
			}
			var cls []*busyClient
			for range 50 {
				c := &busyClient{closed: make(chan struct{})}
				conn, err := Dial(px.Addr().String(), Config{}, c)
				if err != nil {
					t.Fatal(err)
				}
				c.conn = conn
				for k := range 8 {
					if err := conn.Send(k%4, make([]byte, 200), true); err != nil {
						t.Fatal(err)
					}
				}
				cls = append(cls, c)
			}
			time.Sleep(300 * time.Millisecond) // let the load run: a measurement, not a synchronisation
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // drain deadline already passed: only the flush phase is measured
			if mode == "close" {
				err = srv.Close()
			} else {
				err = srv.Shutdown(ctx)
			}
			took := time.Since(start)
			disconnected := 0
			for _, c := range cls {
				select {
				case <-c.closed:
					if c.reason == ClosePeer {
						disconnected++
					}
				case <-time.After(10 * time.Second):
				}
			}
			var got int64
			for _, c := range cls {
				got += c.got.Load()
				_ = c.conn.Close()
			}
			sent := h.sent.Load()
			t.Logf("%s round %d: %v (err %v); %d/50 clients got a SessionDisconnect; echoes accepted %d, received %d, lost %d",
				mode, round, took.Round(100*time.Microsecond), err, disconnected, sent, got, sent-got)
			_ = srv.Close()
			_ = px.Close()
		}
	}
}
