package proto

// Read-only views of a session for operators (per-session stats pages).
// They read fields the owner goroutine writes, so the same rule applies:
// call them on that goroutine.

// Created is when the session was initialised.
func (s *Session) Created() Nanotime { return s.created }

// LastRecv is when the last datagram from the peer arrived.
func (s *Session) LastRecv() Nanotime { return s.lastRecv }

// LastSend is when the last datagram went to the peer.
func (s *Session) LastSend() Nanotime { return s.lastSend }

// QueueDepth is one stream's backlog.
type QueueDepth struct {
	InFlight int // reliable packets sent and not yet acknowledged
	Reorder  int // future packets held until the gap fills
	Fragment int // bytes of a fragmented packet being reassembled
}

// Queues reports every stream's backlog.
func (s *Session) Queues() [Streams]QueueDepth {
	var q [Streams]QueueDepth
	for i := range s.streams {
		st := &s.streams[i]
		q[i] = QueueDepth{InFlight: st.inflight(), Reorder: st.reorderN}
		if st.fragActive {
			q[i].Fragment = int(st.fragHave)
		}
	}
	return q
}
