package eqgate

import (
	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// Handler receives a shard's session events. Callbacks run on the goroutine
// of the shard that owns the session, one at a time per shard, so a handler
// that keeps per-session state keyed by Session or SessionID needs no lock
// as long as it keeps that state per shard (callbacks of different shards
// run in parallel). A callback must not block: the whole shard waits for it.
// A callback that panics crashes the process, or, with Config.HandlerPanic
// set to PanicClose, closes its session with ClosePanic (see PanicPolicy).
//
// A dialled session (Dial, Client) calls the Handler given to its dial;
// its OnClose runs after its socket is closed, so Conn.Close returns with
// both done.
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

// CloseReason says why a session ended; String gives the snake_case name
// that labels eqgate_sessions_closed_total. It is the engine's one enum (an
// alias of proto's, so the shard and the protocol report it without a
// mapping); the zero value, CloseNone, is never passed to OnClose.
type CloseReason = proto.CloseReason

// Close reasons.
const (
	CloseNone           = proto.CloseNone           // still open: never reported
	CloseLocal          = proto.CloseLocal          // Session.Close, Server.CloseSession, Conn.Close
	ClosePeer           = proto.ClosePeer           // the peer sent SessionDisconnect
	CloseTimeout        = proto.CloseTimeout        // nothing received for StaleConnection
	CloseResendTimeout  = proto.CloseResendTimeout  // the peer stopped acknowledging for ResendTimeout
	CloseConnectTimeout = proto.CloseConnectTimeout // client: no answer within ConnectStale
	CloseShutdown       = proto.CloseShutdown       // Server.Close, Client.Close, or a Dial Conn's Close
	CloseRefused        = proto.CloseRefused        // client: the server answered OutOfSession
	CloseProtocol       = proto.CloseProtocol       // the peer sent unusable session parameters (SPEC §6)
	ClosePanic          = proto.ClosePanic          // a Handler callback panicked (Config.HandlerPanic)
	CloseReplaced       = proto.CloseReplaced       // EQ2: a SessionRequest with a new connect code from the same endpoint (SPEC §22.1)
)

// handlerAdapter turns shard events into Handler calls with Session values,
// under the Config's PanicPolicy.
type handlerAdapter struct {
	h Handler
	g *guard
}

func (a *handlerAdapter) Open(sh *shard.Shard, id shard.ID) {
	if a.g.recover {
		defer a.g.caught(sh, id)
	}
	a.h.OnOpen(Session{sh, id})
}

func (a *handlerAdapter) Message(sh *shard.Shard, id shard.ID, stream int, data []byte) {
	if a.g.recover {
		defer a.g.caught(sh, id)
	}
	a.h.OnMessage(Session{sh, id}, stream, data)
}

func (a *handlerAdapter) Close(sh *shard.Shard, id shard.ID, r CloseReason) {
	if a.g.recover {
		defer a.g.caught(sh, id)
	}
	a.h.OnClose(Session{sh, id}, r)
}

var _ shard.Handler = (*handlerAdapter)(nil)
