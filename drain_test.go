package eqgate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// closeRecorder is a client Handler that records how its session ended.
type closeRecorder struct {
	mu      sync.Mutex
	reasons []CloseReason
	closed  chan struct{}
	got     chan struct{}
}

func newCloseRecorder() *closeRecorder {
	return &closeRecorder{closed: make(chan struct{}), got: make(chan struct{}, 16)}
}
func (c *closeRecorder) OnOpen(Session)                 {}
func (c *closeRecorder) OnMessage(Session, int, []byte) { c.got <- struct{}{} }
func (c *closeRecorder) OnClose(_ Session, r CloseReason) {
	c.mu.Lock()
	c.reasons = append(c.reasons, r)
	c.mu.Unlock()
	close(c.closed)
}

// serverCloses counts server-side OnClose reasons.
type serverCloses struct {
	echoHandler
	mu      sync.Mutex
	reasons map[CloseReason]int
}

// OnMessage echoes; during the flush the engine refuses (ErrDraining).
func (h *serverCloses) OnMessage(s Session, stream int, data []byte) {
	_ = s.Send(max(stream, 0), data, true)
}

func (h *serverCloses) OnClose(s Session, r CloseReason) {
	h.mu.Lock()
	if h.reasons == nil {
		h.reasons = map[CloseReason]int{}
	}
	h.reasons[r]++
	h.mu.Unlock()
}

// TestShutdownWaitsForSessions: during a drain, open sessions keep working
// and new ones are refused; when the last one leaves, Shutdown returns nil.
func TestShutdownWaitsForSessions(t *testing.T) {
	defer checkLeaks(t)()
	h := &serverCloses{}
	srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	rec := newCloseRecorder()
	c, err := Dial(srv.Addr().String(), Config{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	// The server's session exists once the client's first datagram proves
	// the key (stateless admission): one echo first.
	if err := c.Send(0, []byte{0x41, 0}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no echo before the drain")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound, not a synchronisation
	defer cancel()
	done := make(chan error, 1)
	srv.Drain() // what Shutdown does first, done here so the test need not wait for it
	go func() { done <- srv.Shutdown(ctx) }()
	// A new session is refused: the client hears nothing and gives up.
	if _, err := Dial(srv.Addr().String(), Config{ConnectStale: 200 * time.Millisecond}, newCloseRecorder()); err == nil {
		t.Fatal("Dial succeeded during a drain")
	}
	// The open one still echoes.
	if err := c.Send(0, []byte{0x41, 1}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no echo during the drain")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a session open", err)
	default:
	}
	_ = c.Close()
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v after the last session left", err)
	}
	if srv.Stats().Total.Drops["draining"] == 0 {
		t.Errorf("no refusal counted: %v", srv.Stats().Total.Drops)
	}
}

// TestShutdownDeadline: sessions still open when ctx ends are flushed and
// disconnected: each client gets a SessionDisconnect, the handler sees
// CloseShutdown, and Shutdown returns ctx's error.
func TestShutdownDeadline(t *testing.T) {
	defer checkLeaks(t)()
	h := &serverCloses{}
	srv, err := Listen("127.0.0.1:0", Config{Shards: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var recs []*closeRecorder
	for range 4 {
		rec := newCloseRecorder()
		c, err := Dial(srv.Addr().String(), Config{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The server's session exists once the client's first datagram
		// proves the key (stateless admission): one echo first, or a
		// shutdown can beat that datagram and leave nothing to disconnect.
		if err := c.Send(0, []byte{0x41, 0}, true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-rec.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d: no echo before the shutdown", len(recs))
		}
		if err := c.Send(1, make([]byte, 3000), true); err != nil { // fragmented, in flight
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the drain deadline has passed already
	if err := srv.ShutdownFlush(ctx, 5*time.Second); !errors.Is(err, context.Canceled) || errors.Is(err, ErrDrainStuck) {
		t.Fatalf("Shutdown = %v, want context.Canceled alone", err)
	}
	for i, rec := range recs {
		select {
		case <-rec.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("client %d not closed", i)
		}
		if rec.reasons[0] != ClosePeer {
			t.Errorf("client %d closed with %v, want peer (a SessionDisconnect)", i, rec.reasons[0])
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reasons[CloseShutdown] != 4 {
		t.Errorf("server closes %v, want 4 shutdown", h.reasons)
	}
}

// TestAbortCutsDrain: Abort ends a Shutdown that waits for sessions.
func TestAbortCutsDrain(t *testing.T) {
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &serverCloses{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(srv.Addr().String(), Config{}, newCloseRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	if err := srv.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Shutdown after Abort = %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after Abort = %v", err)
	}
}
