package eqgate

import (
	"net/netip"

	"github.com/eqgate/eqgate/shard"
)

// ErrSessionCap: Session.Dial found the shard at MaxSessionsPerShard (a
// dialled session counts against it like a served one).
var ErrSessionCap = shard.ErrSessionCap

// Dial opens a client session to remote from the shard that owns s, on
// that shard's goroutine, and returns its handle at once: the way a
// Handler gives the session it serves a leg of its own to another server
// (a relay's backend leg) with no cross-core hop and no lock. Owner shard
// goroutine only: inside a Handler callback or a function given to
// Server.Post.
//
// The new session has a socket of its own (an ephemeral port on any local
// address of remote's family, read and written by the shard with its other
// sockets) and the shard's Config for its timers and send window; its
// encoding, CRC and packet size are what the server's SessionResponse
// says. The SessionRequest leaves with the shard's current batch and is
// retried every ConnectDelay. h gets the session's events on this
// goroutine: OnOpen when the server answers; OnClose when it ends, or with
// CloseConnectTimeout (no answer within ConnectStale) or CloseRefused if
// it never opens. Errors: ErrNoSession (s has closed), ErrClosed (the
// server is closing), ErrSessionCap, or the socket's bind error.
func (s Session) Dial(remote netip.AddrPort, h Handler) (Session, error) {
	if h == nil {
		return Session{}, configError("nil Handler")
	}
	if !s.Alive() {
		return Session{}, ErrNoSession
	}
	gd := &guard{} // PanicCrash
	if a, ok := s.sh.GroupHandler().(*handlerAdapter); ok {
		gd = a.g // the server's policy and counts
	}
	id, _, err := s.sh.DialFrom(netip.Addr{}, remote, &handlerAdapter{h, gd})
	if err != nil {
		return Session{}, err
	}
	return Session{s.sh, id}, nil
}
