package eqgate

import "github.com/eqgate/eqgate/shard"

// Handler receives a shard's session events. Callbacks run on the goroutine
// of the shard that owns the session, one at a time per shard, so a handler
// that keeps per-session state keyed by Session or SessionID needs no lock
// as long as it keeps that state per shard (callbacks of different shards
// run in parallel). A callback must not block: the whole shard waits for it.
type Handler interface {
	// OnOpen is called when a session is established: on a server when a
	// valid SessionRequest arrives from a new endpoint, on a client when the
	// SessionResponse arrives.
	OnOpen(s Session)
	// OnMessage delivers one complete application packet received on
	// stream 0 to 3, in stream order; -1 for unreliable packets. data is
	// valid only during the call: copy what you keep.
	OnMessage(s Session, stream int, data []byte)
	// OnClose is called once when the session ends, for any reason; s is
	// no longer usable to send.
	OnClose(s Session, reason CloseReason)
}

// CloseReason says why a session ended.
type CloseReason uint8

// Close reasons.
const (
	CloseLocal          = CloseReason(shard.CloseLocal)          // Session.Close, Server.CloseSession, Conn.Close
	ClosePeer           = CloseReason(shard.ClosePeer)           // the peer sent SessionDisconnect
	CloseTimeout        = CloseReason(shard.CloseTimeout)        // nothing received for StaleConnection
	CloseResendTimeout  = CloseReason(shard.CloseResendTimeout)  // the peer stopped acknowledging
	CloseConnectTimeout = CloseReason(shard.CloseConnectTimeout) // client: no answer within ConnectStale
	CloseShutdown       = CloseReason(shard.CloseShutdown)       // Server.Close or Conn's engine closing
	CloseRefused        = CloseReason(shard.CloseRefused)        // client: the server answered OutOfSession
)

func (r CloseReason) String() string { return shard.CloseReason(r).String() }

// handlerAdapter turns shard events into Handler calls with Session values.
type handlerAdapter struct{ h Handler }

func (a handlerAdapter) Open(sh *shard.Shard, id shard.ID) { a.h.OnOpen(Session{sh, id}) }

func (a handlerAdapter) Message(sh *shard.Shard, id shard.ID, stream int, data []byte) {
	a.h.OnMessage(Session{sh, id}, stream, data)
}

func (a handlerAdapter) Close(sh *shard.Shard, id shard.ID, r shard.CloseReason) {
	a.h.OnClose(Session{sh, id}, CloseReason(r))
}

var _ shard.Handler = handlerAdapter{}
