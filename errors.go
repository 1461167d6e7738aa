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
	// ErrTooBig: an application packet larger than the engine accepts.
	ErrTooBig = shard.ErrTooBig
)
