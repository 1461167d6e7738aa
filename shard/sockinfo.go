package shard

// Optional Socket methods (batchio.Conn has them; test sockets need not):
// what the kernel says about the socket now, read at scrape time.
type (
	gsoReporter interface {
		GSO() (on bool, disabledBy error)
	}
	dropReporter  interface{ KernelDrops() (uint64, error) }
	sleepReporter interface{ Sleeps() uint64 }
)

// SocketInfo is the shard socket's state now, as the kernel reports it.
type SocketInfo struct {
	GSO       bool  // UDP GSO in use now (the socket turns it off on EIO)
	GSOReason error // why GSO is off, when it is

	// KernelDrops counts datagrams the kernel dropped for this socket
	// (receive queue full, or memory): SO_MEMINFO's SK_MEMINFO_DROPS.
	KernelDrops   uint64
	KernelDropsOK bool // false when the socket cannot tell
}

// SocketInfo reads the socket's state now (any goroutine).
func (s *Shard) SocketInfo() SocketInfo {
	var si SocketInfo
	if g, ok := s.sock.(gsoReporter); ok {
		si.GSO, si.GSOReason = g.GSO()
	}
	if d, ok := s.sock.(dropReporter); ok {
		if n, err := d.KernelDrops(); err == nil {
			si.KernelDrops, si.KernelDropsOK = n, true
		}
	}
	return si
}

// countSleeps mirrors the socket's count of reads that slept into
// Counters.Wakeups (owner only; one load and one store per iteration).
func (s *Shard) countSleeps() {
	if r, ok := s.sock.(sleepReporter); ok {
		if n, had := r.Sleeps(), s.counters.Wakeups.Load(); n > had {
			add(&s.counters.Wakeups, n-had)
		}
	}
}
