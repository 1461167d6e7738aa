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
}

// ErrSetFull: a Set already has MaxMembers members.
var ErrSetFull = errors.New("batchio: socket set full")

// MaxMembers caps a Set's members (member ids are 24 bits, like a shard's
// session slots, so one member per session always fits).
const MaxMembers = 1<<24 - 1

// setCount is the part of a Set any goroutine may read.
type setCount struct {
	members atomic.Int64
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
