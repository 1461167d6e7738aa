package eqgate

import "github.com/eqgate/eqgate/shard"

// Errors returned by Session, Server and Conn methods.
var (
	// ErrNoSession: the session has closed (or the ID was never issued).
	ErrNoSession = shard.ErrNoSession
	// ErrInboxFull: the shard's inbox is full; the call did nothing. Retry
	// later or shed load; the engine never blocks a caller.
	ErrInboxFull = shard.ErrInboxFull
	// ErrClosed: the Server or Conn is closed.
	ErrClosed = shard.ErrClosed
	// ErrBadStream: a stream outside 0..3.
	ErrBadStream = shard.ErrBadStream
	// ErrTooBig: an empty application packet, or one longer than the
	// session will ever carry (see Session.MaxSend and MaxUnackedBytes).
	ErrTooBig = shard.ErrTooBig
	// ErrSendQueueFull: the session's send window and the queue in front
	// of it (MaxQueuedBytes) are full; nothing was queued. Retry after
	// acks make room (SendRoom says when), or use SendContext to wait.
	ErrSendQueueFull = shard.ErrSendQueue
)
