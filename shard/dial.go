package shard

import (
	"net/netip"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/proto"
)

// Dialled sessions (DESIGN.md, "Roles and variants": one engine for both
// roles). A session the shard dials is a session like any other: a slot in
// the slab, timers on the wheel, buffers from the pools, run by the shard
// goroutine. What a server's peers get from their address and port, a
// dialled session gets from a socket of its own: the shard's Socket, when it
// is an Opener (batchio.Set), binds one ephemeral member socket per dialled
// session, so each is its own endpoint to its server, and a datagram read
// from member k goes straight to the session that owns k, with no lookup by
// address and no handoff between shards.
//
// With Config.ShareSockets, sessions dialled from specific addresses share
// the Set's wildcard sockets instead (one per port, a session per address):
// the Set names each datagram's member by the address it was sent to, so
// the shard sees the same Message.Sock either way, and a datagram to an
// address no session has comes as batchio.NoMember, which names no slot.
//
// Cost at scale (100k dialled sessions on a few shards): one fd and a kernel
// socket (~1 KiB plus what is queued) per session, or per shared socket; in user space a slab slot
// and 8 bytes of socket table; no goroutine, runtime timer or buffer per
// session; one epoll instance per shard, parked in the netpoller, so a
// batch of datagrams over any number of sockets is one wake-up.

// Opener is a Socket that can bind one more socket per dialled session
// (batchio.Set). Message.Sock names the member a datagram came in on or is
// to go out from.
type Opener interface {
	Socket
	Open(local netip.AddrPort) (sock uint32, bound netip.AddrPort, err error)
	CloseMember(sock uint32)
	Len() int // members open
	FDs() int // sockets they hold (shared ones count once)
}

var _ Opener = (*batchio.Set)(nil)

// DialFrom opens a client session to remote (owner only: inside a Handler
// callback or a Posted function), so a Handler can dial a backend leg for
// the session it is serving, synchronously, on the same goroutine (a relay).
// The session gets its own socket bound to local:0 (local invalid: any
// address of remote's family) and its events go to h (nil: the group's
// Handler). The SessionRequest leaves at the end of this iteration; h.Open
// follows when the server answers, h.Close if it never does. The returned
// address is the session's bound local endpoint.
//
// A shard whose Socket is not an Opener (an in-memory test socket) keys the
// session by remote on its one socket instead: one session per remote.
func (s *Shard) DialFrom(local netip.Addr, remote netip.AddrPort, h Handler) (ID, netip.AddrPort, error) {
	s.owner.check()
	if s.stopping || s.stop.Load() {
		return 0, netip.AddrPort{}, ErrClosed
	}
	if s.live >= s.cfg.MaxSessionsPerShard {
		return 0, netip.AddrPort{}, ErrSessionCap
	}
	ep := endpointOf(remote)
	var sock uint32
	var bound netip.AddrPort
	if s.opener != nil {
		if !local.IsValid() {
			local = netip.IPv4Unspecified()
			if remote.Addr().Is6() && !remote.Addr().Is4In6() {
				local = netip.IPv6Unspecified()
			}
		}
		var err error
		if sock, bound, err = s.opener.Open(netip.AddrPortFrom(local, 0)); err != nil {
			return 0, netip.AddrPort{}, err
		}
	} else if s.index.find(ep.hash(), &ep, &s.meta) >= 0 {
		return 0, netip.AddrPort{}, ErrDialBusy
	}
	i := s.newDialSlot(&ep, sock)
	s.setHandler(i, h)
	ps := s.session(i)
	id := s.idOf(i)
	ps.Tag = uint64(id)
	if err := ps.InitClient(&s.cfg.Proto, s.env.Random(), s.now); err != nil {
		panic("shard: InitClient: " + err.Error()) // Open validated the Config
	}
	// The first Tick queues the SessionRequest (out with this iteration's
	// batch) and says when to retry. A Handler may be dialling while
	// another session is driven: give the sink its destination back.
	prev, prevSock, prevLocal := s.cur, s.curSock, s.curLocal
	ps = s.drive(i)
	mark := markOf(ps.Stats())
	next := ps.Tick(&s.env, s.now)
	s.fold(ps.Stats(), mark)
	s.cur, s.curSock, s.curLocal = prev, prevSock, prevLocal
	s.settle(i, ps, next)
	return id, bound, nil
}

// newDialSlot takes a slot for a dialled session: indexed by its socket
// when it has one, by endpoint otherwise.
func (s *Shard) newDialSlot(ep *endpoint, sock uint32) int32 {
	if sock == 0 {
		i := s.newSlot(ep, ep.hash())
		s.meta.meta(i).dialled = true
		return i
	}
	i := s.takeSlot(ep)
	m := s.meta.meta(i)
	m.dialled, m.sock = true, sock
	for int(sock) >= len(s.bySock) {
		s.bySock = append(s.bySock, -1)
	}
	s.bySock[sock] = i
	return i
}

// setHandler records slot i's own Handler (nil: the group's).
func (s *Shard) setHandler(i int32, h Handler) {
	if h == nil && int(i) >= len(s.hs) {
		return
	}
	for int(i) >= len(s.hs) {
		s.hs = append(s.hs, nil)
	}
	s.hs[i] = h
}

// handler returns the Handler of the session ps.
func (s *Shard) handler(ps *proto.Session) Handler { return s.handlerOf(ID(ps.Tag).Slot()) }

// handlerOf returns slot i's Handler.
func (s *Shard) handlerOf(i int32) Handler {
	if int(i) < len(s.hs) {
		if h := s.hs[i]; h != nil {
			return h
		}
	}
	return s.h
}

// fromMember handles a datagram read from member socket sock: it belongs
// to that socket's session if it comes from the session's server, and to
// nobody otherwise.
func (s *Shard) fromMember(b []byte, from netip.AddrPort, sock uint32) {
	if s.dropEarly(b) {
		return
	}
	i := int32(-1)
	if int(sock) < len(s.bySock) {
		i = s.bySock[sock]
	}
	if i < 0 || s.meta.meta(i).state != slotLive || s.meta.meta(i).ep != endpointOf(from) {
		s.counters.outcome(OutcomeDropUnknown)
		return
	}
	s.counters.outcome(OutcomeSession)
	s.receive(i, b)
}

// hangUp is a dialled session's end, once proto has reported it closed: a
// dialled session has no linger, since nobody else answers on its endpoint
// once the application is done with it. What it has queued (the
// SessionDisconnect) is written, its socket closed and its slot released,
// and only then does its Handler's Close run, so a Handler that sees Close
// sees the socket gone.
func (s *Shard) hangUp(e hangup) {
	m := s.meta.meta(e.id.Slot())
	if m.sock != 0 {
		i := e.id.Slot()
		if m.state == slotLive {
			ps := s.drive(i)
			mark := markOf(ps.Stats())
			ps.Flush(&s.env, s.now)
			s.fold(ps.Stats(), mark)
			s.writeTx()
			s.closeMember(i)
			ps.Release(&s.env)
			s.settle(i, ps, proto.Never)
		} else {
			s.closeMember(i) // shutdown has released and written already
		}
	}
	s.handlerOf(e.id.Slot()).Close(s, e.id, e.reason)
}

// hangup is a dialled session whose close proto reported in this iteration.
type hangup struct {
	id     ID
	reason proto.CloseReason
}

// closeMember closes slot i's socket, once.
func (s *Shard) closeMember(i int32) {
	m := s.meta.meta(i)
	if m.sock == 0 {
		return
	}
	s.opener.CloseMember(m.sock)
	s.bySock[m.sock] = -1
	m.sock = 0
}

// hangUps runs the hang-ups pending, after the iteration's datagrams are
// written. Last first, so that a Handler's Close may close (and hang up)
// more sessions from inside.
func (s *Shard) hangUps() {
	for n := len(s.hangup); n > 0; n = len(s.hangup) {
		e := s.hangup[n-1]
		s.hangup = s.hangup[:n-1]
		s.hangUp(e)
	}
}

// Sockets is the number of dialled sessions' sockets open (any goroutine).
func (s *Shard) Sockets() int {
	if s.opener == nil {
		return 0
	}
	return s.opener.Len()
}

// SocketFDs is the number of sockets the dialled sessions hold: Sockets,
// less what sharing saves (any goroutine).
func (s *Shard) SocketFDs() int {
	if s.opener == nil {
		return 0
	}
	return s.opener.FDs()
}

// GroupHandler is the Handler the shard's group was built with, so the
// layer above can wrap a dial's own Handler the way it wrapped that one
// (its panic policy).
func (s *Shard) GroupHandler() Handler { return s.h }
