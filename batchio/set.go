package batchio

import (
	"errors"
	"sync/atomic"
)

// SetOptions configures a Set's member sockets.
type SetOptions struct {
	// Batch is the most datagrams one ReadBatchUntil returns and one
	// sendmmsg carries; 0 means DefaultBatch.
	Batch int
	// RecvBuffer and SendBuffer are SO_RCVBUF/SO_SNDBUF requests for each
	// member; 0 leaves the kernel default (about 208 KiB, of which a member
	// uses only what is queued on it).
	RecvBuffer, SendBuffer int
	// GSO coalesces a member's runs to its peer with UDP_SEGMENT where the
	// kernel has it (and EQGATE_NO_GSO is not set).
	GSO bool
	// Share puts members opened on a specific address with port 0 on shared
	// sockets: one wildcard socket per port carries a member per local
	// address, so members from many addresses cost one fd and batch their
	// reads and writes together (Linux; elsewhere each member keeps a socket
	// of its own). A member's endpoint is then its address and the shared
	// socket's port. Members on the unspecified address, or on a given port,
	// always get their own socket.
	Share bool
	// ShareBuffer is each shared socket's SO_RCVBUF and SO_SNDBUF request;
	// 0 means DefaultShareBuffer.
	ShareBuffer int
}

// ErrSetFull: a Set already has MaxMembers members.
var ErrSetFull = errors.New("batchio: socket set full")

// MaxMembers caps a Set's members (member ids are 24 bits, like a shard's
// session slots, so one member per session always fits).
const MaxMembers = 1<<24 - 1

// NoMember is the Sock of a datagram a shared socket received for an
// address none of its members has (another program's traffic to the port,
// or a member's after it closed): it names no member, so the owner drops it
// as it drops a datagram for a closed member.
const NoMember uint32 = MaxMembers + 1

// DefaultShareBuffer is a shared socket's SO_RCVBUF/SO_SNDBUF request when
// SetOptions.ShareBuffer is 0: a server socket's, since it carries as
// many sessions.
const DefaultShareBuffer = 4 << 20

// setCount is the part of a Set any goroutine may read.
type setCount struct {
	members atomic.Int64
	fds     atomic.Int64 // member sockets: own ones and shared ones
}

// wakeFlag is a Set's pending Wake: set by anyone, consumed by the owner on
// every return from ReadBatchUntil, as on a Conn.
type wakeFlag struct{ b atomic.Bool }

// set reports whether the flag was newly set (the caller then interrupts
// the sleep); a pending wake costs one load.
func (w *wakeFlag) set() bool     { return !w.b.Load() && !w.b.Swap(true) }
func (w *wakeFlag) pending() bool { return w.b.Load() }
func (w *wakeFlag) consume() {
	if w.b.Load() {
		w.b.Store(false)
	}
}

// Len is the number of open member sockets (any goroutine).
func (s *Set) Len() int { return int(s.count.members.Load()) }

// FDs is the number of sockets the members hold: one per member, or one per
// shared socket for members that share (any goroutine).
func (s *Set) FDs() int { return int(s.count.fds.Load()) }
