// Package relay is the handler that makes eqgate a frontend for unmodified
// game servers: every client session eqgate serves gets a backend leg, a
// client session of eqgate's own to the backend server, and application
// packets are relayed both ways unchanged, in order, on the stream they
// came on (unreliable ones stay unreliable).
//
// # Model
//
// Each leg is a session of its own with its own encoding, CRC and maximum
// packet: the client leg negotiates with eqgate's Config, the backend leg
// takes whatever the backend's SessionResponse says. Messages a client
// sends before the backend leg exists are held (Config.MaxPending per
// session, Config.ShardBudget per shard) and sent in order once it does;
// a backend that does not answer within Config.ConnectTimeout closes the
// client session. A close on either leg closes the other with a
// SessionDisconnect, and every pair's end is counted once, by the reason
// of whichever leg ended first (Reason).
//
// # Legs and goroutines (interim)
//
// DESIGN.md puts the backend leg on the client session's own shard, so
// that relaying is two synchronous sends on one goroutine. Until the
// engine can dial from inside a Handler callback, the backend legs run on
// an eqgate.Client of the relay's own (Config.Shards goroutines): a
// message crosses once between the two engines through their inboxes, as
// Server.Send and Conn.Send do (one copy each, counted refusals). The pair
// state a leg needs from another goroutine is atomic; everything else is
// owned by the client session's shard goroutine.
//
// # Ownership
//
// A message's bytes are valid only during OnMessage; the relay copies a
// message only to hold it (before the backend leg exists) or to hand it to
// the other engine.
//
// # Backpressure
//
// A leg that cannot take a message (its send window and queue full:
// eqgate.ErrSendQueueFull, or its engine's inbox full) ends the pair with
// ReasonBackendFull or ReasonClientFull rather than buffering without
// bound; nothing is dropped silently.
package relay
