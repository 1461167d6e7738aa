package eqgate

import (
	"context"
	"errors"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// DefaultDrainFlush is how long Shutdown lets each session's unacknowledged
// data reach the client after the drain deadline, before it disconnects
// the session anyway.
const DefaultDrainFlush = 2 * time.Second

// drainGrace is how long a drain waits past its flush bound for shards to
// report (a shard inside a slow Handler callback) before it gives up on
// them.
const drainGrace = time.Second

// ErrDrainStuck: a shard did not finish its drain within the flush bound
// and a grace second (it is inside a Handler callback that does not
// return). Shutdown closed the sockets without waiting for it; Close waits.
var ErrDrainStuck = errors.New("eqgate: drain: a shard did not finish in time")

// ErrDraining: Send during Shutdown's flush phase (step 3), which lets what
// is in flight get through and takes no new data.
var ErrDraining = shard.ErrDraining

// Shutdown drains the server gently, for a restart behind a balancer, and
// closes it:
//
//  1. At once, new SessionRequests are refused (counted as
//     eqgate_datagrams_total{outcome="draining"}), so clients go elsewhere.
//  2. Open sessions carry on until they end by themselves or ctx is done.
//  3. Then each session still open is closed as soon as everything it sent
//     has been acknowledged (Send refuses new data with ErrDraining from
//     now on), and at the latest DefaultDrainFlush later:
//     its hold buffer is flushed, it is sent a SessionDisconnect and
//     OnClose runs with CloseShutdown.
//  4. The sockets close and the shard goroutines exit.
//
// It returns nil when every session ended before ctx did, and ctx.Err()
// when ctx ended first (the normal end of a bounded drain: the sessions
// left were flushed and disconnected). A shard stuck in a Handler callback
// adds ErrDrainStuck: the sockets are closed without waiting for it, and
// Close can be called later to wait. Abort cuts any drain short.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.ShutdownFlush(ctx, DefaultDrainFlush)
}

// ShutdownFlush is Shutdown with the flush bound of step 3 given.
func (s *Server) ShutdownFlush(ctx context.Context, flush time.Duration) error {
	s.g.Refuse()
	var err error
	select {
	case <-s.g.Idle():
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.aborted:
		return ErrClosed
	}
	s.g.Flush(flush)
	deadline := time.NewTimer(flush) // the shards' own clocks decide; this wakes them for it
	defer deadline.Stop()
	giveUp := time.NewTimer(flush + drainGrace)
	defer giveUp.Stop()
	for idle := false; !idle; {
		select {
		case <-s.g.Idle():
			idle = true
		case <-deadline.C:
			s.g.Nudge()
		case <-giveUp.C:
			_ = s.g.CloseSockets()
			return errors.Join(err, ErrDrainStuck)
		case <-s.aborted:
			return ErrClosed
		}
	}
	// Every session is closed or lingering after its SessionDisconnect:
	// Close releases them and sends what is queued.
	done := make(chan struct{})
	go func() {
		_ = s.Close()
		close(done)
	}()
	select {
	case <-done:
		return errors.Join(err, s.closeErr)
	case <-time.After(drainGrace):
		_ = s.g.CloseSockets()
		return errors.Join(err, ErrDrainStuck)
	}
}

// Drain starts step 1 of Shutdown alone: new SessionRequests are refused
// from now on, open sessions are not touched. For embedders that run their
// own drain; any goroutine.
func (s *Server) Drain() { s.g.Refuse() }

// Draining reports whether Drain or Shutdown was called.
func (s *Server) Draining() bool { return s.g.Draining() }

// Abort closes the sockets at once, cutting any Shutdown short (it returns
// ErrClosed): no SessionDisconnect is sent, queued datagrams are lost, and
// the shard goroutines exit as soon as they leave any Handler callback they
// are in. It does not wait for them; Close does. Any goroutine; idempotent.
func (s *Server) Abort() error {
	s.abortOnce.Do(func() { close(s.aborted) })
	return s.g.CloseSockets()
}
