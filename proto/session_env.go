package proto

import "math/rand/v2"

// Nanotime is a monotonic clock reading in nanoseconds, from any fixed epoch
// the caller chooses. Every session entry point takes the current Nanotime;
// the package never reads a clock.
type Nanotime int64

// Never is the Nanotime Tick returns when a session needs no more ticks.
const Never Nanotime = 1<<63 - 1

// Unsequenced is the stream number Handler.Deliver reports for application
// packets that did not arrive inside a reliable packet.
const Unsequenced = -1

// Sink receives the encoded datagrams a session sends. Buffer returns an
// empty slice (len 0) with capacity of at least the session's max packet
// size plus 8 bytes (MaxDatagram is always enough); the session appends one
// datagram to it and hands it to Send before asking for another Buffer.
// The sink owns the bytes after Send.
type Sink interface {
	Buffer() []byte
	Send(dgram []byte)
}

// Handler receives what a session delivers. Its methods run synchronously
// inside the session entry point that caused them; they may call Send and
// Close on the same session, but not Init*, Reset or Release.
type Handler interface {
	// Opened reports a server session that accepted its first
	// SessionRequest, or a client session that got its SessionResponse.
	Opened(s *Session)
	// Deliver hands over one application packet, in order per stream.
	// stream is 0..3, or Unsequenced. app is valid only during the call.
	Deliver(s *Session, stream int, app []byte)
	// Closed is called once, when the session stops carrying application
	// traffic (it enters Disconnecting or Disconnected). The session's
	// memory may be reused once State() is StateDisconnected.
	Closed(s *Session, reason CloseReason)
}

// Allocator provides the buffers a session keeps between calls: stored
// reliable packets, reorder-queue copies, fragment reassembly and the hold
// buffer. Get returns a slice of length n (capacity ≥ n); Put takes back a
// slice that Get returned. A shard backs it with a pool.Sized (the
// consumer owns the interface, so proto imports no pool). With a nil
// Allocator sessions use make and leave freeing to the GC.
type Allocator interface {
	Get(n int) []byte
	Put(b []byte)
}

// Env is the per-shard context passed into every session call; a session
// never stores it. One Env belongs to one goroutine.
type Env struct {
	Coder   *Coder
	Sink    Sink
	Handler Handler
	Rand    func() uint32 // keys and connect codes; nil = math/rand/v2
	Alloc   Allocator
	// Budget, when set, caps the peer data all sessions of this Env hold
	// (budget.go).
	Budget *Budget
	// EQ2 is the EQ2 application layer's shared scratch (made on first use
	// by an EQ2 session).
	EQ2 *EQ2Coder

	ctl     [64]byte // scratch for control packets and escaped unreliable sends
	sent    rings[sentEntry]
	reorder rings[[]byte]
}

// Random returns a uniformly random u32 for a session key or connect code
// (SPEC §6.4 recommendation, not RS's 0/0xffffffff).
func (e *Env) Random() uint32 {
	if e.Rand != nil {
		return e.Rand()
	}
	return rand.Uint32()
}

func (e *Env) get(n int) []byte {
	if e.Alloc != nil {
		return e.Alloc.Get(n)
	}
	return make([]byte, n)
}

func (e *Env) put(b []byte) {
	if e.Alloc != nil && b != nil {
		e.Alloc.Put(b)
	}
}

// NoSessionAction is what a server does with a datagram from an endpoint
// that has no session (SPEC §6.3).
type NoSessionAction uint8

const (
	NoSessionDrop         NoSessionAction = iota // too short, a short SessionRequest, or an OutOfSession
	NoSessionCreate                              // a SessionRequest: InitServer, then Receive it
	NoSessionOutOfSession                        // reply with AppendOutOfSession, raw
)

// ClassifyNoSession tells a server what to do with datagram d from an
// endpoint with no session: create one for a full SessionRequest, drop
// short requests and OutOfSession (which stops loops between two servers),
// and answer everything else with OutOfSession.
func ClassifyNoSession(d []byte) NoSessionAction {
	if len(d) < 2 {
		return NoSessionDrop
	}
	if d[0] == 0 && Opcode(d[1]) == OpSessionRequest {
		if len(d) < SessionRequestLen {
			return NoSessionDrop
		}
		return NoSessionCreate
	}
	if d[0] == 0 && Opcode(d[1]) == OpOutOfSession {
		return NoSessionDrop
	}
	return NoSessionOutOfSession
}
