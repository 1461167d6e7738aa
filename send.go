package eqgate

import (
	"context"
	"fmt"
	"time"

	"github.com/eqgate/eqgate/shard"
)

// Every reliable send has an outcome its caller sees. A send is refused at
// once, with an error (ErrSendQueueFull, ErrTooBig, ErrNoSession,
// ErrInboxFull, ErrBadStream, ErrClosed) counted in
// eqgate_sends_refused_total{reason}, or accepted. An accepted send enters
// the session's send window (MaxUnackedBytes, MaxUnackedPackets) at once
// or, while the window is full, waits in the queue in front of it
// (MaxQueuedBytes), in order, and is resent until acknowledged; it is lost
// only if the session closes first (OnClose says so;
// eqgate_sends_discarded_total counts them). No send is accepted and then
// dropped for lack of room.
//
// Sends from other goroutines (Server.Send, Conn.Send) reserve the queue's
// room on the caller's goroutine, with one atomic compare-and-swap on a
// per-session credit word, before they are posted to the shard: the outcome
// is known when Send returns, no lock is taken and nothing waits. SendRoom
// reads the credit; SendContext retries until the room is there.

// SendContext is Send that waits for room: while the session's window and
// queue are full (ErrSendQueueFull) or the shard's inbox is (ErrInboxFull)
// it retries, backing off from 50 µs to 5 ms, until the send is accepted,
// refused for another reason, or ctx is done; then the error matches both
// the last refusal and ctx.Err(), and nothing was sent. The engine never
// blocks on a caller, so the waiting happens here, on the caller's
// goroutine. Not for use inside a Handler callback: the shard it would
// wait for is the one running the callback.
func (s *Server) SendContext(ctx context.Context, id SessionID, stream int, data []byte, reliable bool) error {
	sh := s.shardOf(id)
	return sendWait(ctx, func() error { return sh.SendAsync(shard.ID(id), stream, data, reliable) })
}

// SendRoom returns how many bytes of application data session id accepts
// now from another goroutine without ErrSendQueueFull: the free part of its
// queue (each send also costs 64 bytes), at most its largest packet. 0 when
// the session is gone. It reads one atomic word; a concurrent sender may
// take the room first.
func (s *Server) SendRoom(id SessionID) int { return s.shardOf(id).Room(shard.ID(id)) }

// SendContext is Server.SendContext for the dialled session.
func (c *Conn) SendContext(ctx context.Context, stream int, data []byte, reliable bool) error {
	return sendWait(ctx, func() error { return c.sh.SendAsync(c.id, stream, data, reliable) })
}

// SendRoom is Server.SendRoom for the dialled session.
func (c *Conn) SendRoom() int { return c.sh.Room(c.id) }

// Backoff bounds of sendWait.
const (
	sendWaitMin = 50 * time.Microsecond
	sendWaitMax = 5 * time.Millisecond
)

func sendWait(ctx context.Context, try func() error) error {
	var t *time.Timer
	for d := sendWaitMin; ; d = min(2*d, sendWaitMax) {
		err := try()
		if err != ErrSendQueueFull && err != ErrInboxFull {
			return err
		}
		if t == nil {
			t = time.NewTimer(d)
			defer t.Stop()
		} else {
			t.Reset(d)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", err, ctx.Err())
		case <-t.C:
		}
	}
}
