//go:build !linux

package batchio

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Set has the Linux contract (see set_linux.go). Off Linux there is no
// epoll to share, so each member has a reader goroutine parked in the
// netpoller that copies its datagrams into a queue the owner drains: the
// portable fallback, correct but with a copy and a lock per datagram.
type Set struct {
	main  *Conn
	opt   SetOptions
	count setCount
	wake  wakeFlag

	mu     sync.Mutex
	q      []queued
	closed atomic.Bool
	signal chan struct{} // capacity 1: arrivals and wakes
	timer  *time.Timer   // owner only

	socks []*net.UDPConn // owner only; nil: free
	free  []uint32
	drop  DropError
}

type queued struct {
	b    []byte
	addr netip.AddrPort
	sock uint32
}

// NewSet returns a Set over main (nil for a Set of members only).
func NewSet(main *Conn, opt SetOptions) *Set {
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Set{main: main, opt: opt, signal: make(chan struct{}, 1), timer: t}
}

// Main returns the main Conn (nil if none).
func (s *Set) Main() *Conn { return s.main }

// Open binds a member socket. Owner only.
func (s *Set) Open(local netip.AddrPort) (uint32, netip.AddrPort, error) {
	if s.closed.Load() {
		return 0, netip.AddrPort{}, net.ErrClosed
	}
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	if s.opt.RecvBuffer > 0 {
		_ = uc.SetReadBuffer(s.opt.RecvBuffer) // best effort, as on Linux
	}
	if s.opt.SendBuffer > 0 {
		_ = uc.SetWriteBuffer(s.opt.SendBuffer) // best effort, as on Linux
	}
	var id uint32
	if k := len(s.free); k > 0 {
		id = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		s.socks = append(s.socks, nil)
		id = uint32(len(s.socks))
	}
	s.socks[id-1] = uc
	s.count.members.Add(1)
	s.count.fds.Add(1)
	go s.reader(uc, id)
	ap := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	return id, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func (s *Set) reader(uc *net.UDPConn, id uint32) {
	buf := make([]byte, 65536)
	for {
		n, ap, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		q := queued{b: append([]byte(nil), buf[:n]...), addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), sock: id}
		s.mu.Lock()
		s.q = append(s.q, q)
		s.mu.Unlock()
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// CloseMember closes member id. Owner only.
func (s *Set) CloseMember(id uint32) {
	if id == 0 || int(id) > len(s.socks) || s.socks[id-1] == nil {
		return
	}
	_ = s.socks[id-1].Close() // its reader exits on net.ErrClosed
	s.socks[id-1] = nil
	s.free = append(s.free, id)
	s.count.members.Add(-1)
	s.count.fds.Add(-1)
}

// CloseMembers closes every member.
func (s *Set) CloseMembers() {
	for i := range s.socks {
		s.CloseMember(uint32(i + 1))
	}
}

// ReadBatchUntil has the Linux contract.
func (s *Set) ReadBatchUntil(msgs []Message, deadline time.Time) (int, error) {
	if s.main != nil {
		// The main Conn first, without waiting, then the members' queue.
		if s.count.members.Load() == 0 {
			return s.main.ReadBatchUntil(msgs, deadline)
		}
		if n, err := s.main.ReadBatchUntil(msgs[:1], aLongTimeAgo); n > 0 || errors.Is(err, net.ErrClosed) {
			return n, err
		}
	}
	for {
		if s.closed.Load() {
			return 0, net.ErrClosed
		}
		s.mu.Lock()
		k := 0
		for ; k < len(msgs) && k < len(s.q); k++ {
			m := &msgs[k]
			q := s.q[k]
			m.N = copy(m.Buf, q.b)
			m.Truncated = m.N < len(q.b)
			m.Addr, m.Sock = q.addr, q.sock
		}
		s.q = append(s.q[:0], s.q[k:]...)
		s.mu.Unlock()
		if k > 0 {
			s.wake.consume()
			return k, nil
		}
		if s.wake.pending() {
			s.wake.consume()
			return 0, ErrWakeup
		}
		var tc <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			s.timer.Reset(d)
			tc = s.timer.C
		}
		select {
		case <-s.signal:
			s.timer.Stop()
		case <-tc:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// WriteBatch has the Linux contract, one datagram per call.
func (s *Set) WriteBatch(msgs []Message) (int, error) {
	sent, dropped := 0, 0
	var first error
	for i := range msgs {
		m := &msgs[i]
		var err error
		switch {
		case m.Sock == 0 && s.main != nil:
			var n int
			n, err = s.main.WriteBatch(msgs[i : i+1])
			if n == 1 {
				sent++
				continue
			}
		case m.Sock != 0 && int(m.Sock) <= len(s.socks) && s.socks[m.Sock-1] != nil:
			if _, err = s.socks[m.Sock-1].WriteToUDPAddrPort(m.Buf[:m.N], m.Addr); err == nil {
				sent++
				continue
			}
		default:
			err = net.ErrClosed
		}
		dropped++
		if first == nil {
			first = err
		}
	}
	if dropped > 0 {
		s.drop = DropError{Dropped: dropped, Err: first}
		return sent, &s.drop
	}
	return sent, nil
}

// Wake has the Linux contract.
func (s *Set) Wake() {
	if s.main != nil {
		s.main.Wake()
	}
	if s.wake.set() {
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// Close ends a sleeping owner's wait; members are closed by CloseMembers.
func (s *Set) Close() error {
	s.closed.Store(true)
	select {
	case s.signal <- struct{}{}:
	default:
	}
	return nil
}
