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
// # Legs and goroutines
//
// The backend leg is dialled from the client session's own shard
// (eqgate.Session.Dial), so both legs are sessions of one shard goroutine:
// relaying is two synchronous sends inside that goroutine, with no lock, no
// atomic on the pair and no copy beyond the protocol's own. The legs share
// the server's Config (timers, send window and queue), and a dialled leg
// counts against MaxSessionsPerShard like a served session.
//
// # Ownership
//
// A message's bytes are valid only during OnMessage; the relay copies a
// message only to hold it before the backend leg is up.
//
// # Backpressure
//
// A leg that cannot take a message (its send window and queue full,
// MaxUnackedBytes and MaxQueuedBytes: eqgate.ErrSendQueueFull), or that
// holds more than Config.MaxQueued for its peer after one
// (eqgate.Session.Backlog, read after every relayed message), ends the
// pair with ReasonBackendFull or ReasonClientFull rather than buffering
// without bound; nothing is dropped silently. Per shard, what all legs
// hold is summed (each relayed message also re-reads one other pair, so
// the sum follows acks of pairs gone quiet); past Config.QueueBudget the
// pair holding the most ends with ReasonQueueBudget, so the slow leg's
// pair is cut, not the one that happened to send.
package relay
