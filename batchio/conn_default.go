//go:build !linux

package batchio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"
)

// Conn is one socket of a Group. Off Linux it moves one datagram per call
// through net.UDPConn (no recvmmsg/sendmmsg, GSO or steering). One goroutine
// reads and one writes at a time; Wake, GSO and Close are safe from any
// goroutine.
type Conn struct {
	index int
	local netip.AddrPort
	uc    *net.UDPConn

	closed atomic.Bool
	wake   atomic.Bool

	rdlArmed time.Time
	rdlValid bool
	drop     DropError
}

// Open binds one UDP socket to addr. Off Linux a group cannot share a port
// between sockets the way Linux SO_REUSEPORT balances it, so Sockets > 1 is
// ErrNotSupported; steering and GSO are reported off with a reason.
func Open(addr netip.AddrPort, opt Options) (*Group, error) {
	opt.normalize()
	if opt.Sockets > 1 {
		return nil, fmt.Errorf("batchio: open %v with %d sockets: %w", addr, opt.Sockets, ErrNotSupported)
	}
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	} else {
		addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	}
	uc, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("batchio: open %v: %w", addr, err)
	}
	// Best effort, as on Linux; the granted sizes are not readable portably.
	if opt.RecvBuffer > 0 {
		_ = uc.SetReadBuffer(opt.RecvBuffer)
	}
	if opt.SendBuffer > 0 {
		_ = uc.SetWriteBuffer(opt.SendBuffer)
	}
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	g := &Group{conns: []*Conn{{local: local, uc: uc}}}
	g.facts = Facts{
		Addr: local, Sockets: 1, Batch: opt.Batch, Wait: WaitNetpoll,
		RecvBuffer: opt.RecvBuffer, SendBuffer: opt.SendBuffer,
		SteeringReason: "reuseport steering is Linux-only",
		GSOReason:      "UDP GSO is Linux-only",
	}
	return g, nil
}

// Index is the socket's position in its Group.
func (c *Conn) Index() int { return c.index }

// LocalAddr is the bound address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// GSO is always off off Linux.
func (c *Conn) GSO() (on bool, disabledBy error) { return false, nil }

// ReadBatch is ReadBatchUntil with no deadline.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	return c.ReadBatchUntil(msgs, time.Time{})
}

// ReadBatchUntil has the Linux contract but receives one datagram per call;
// Truncated is never set.
func (c *Conn) ReadBatchUntil(msgs []Message, deadline time.Time) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	n, err := c.read(&msgs[0], deadline)
	if c.wake.Load() {
		c.wake.Store(false)
	}
	return n, err
}

func (c *Conn) read(m *Message, deadline time.Time) (int, error) {
	if !c.rdlValid || !c.rdlArmed.Equal(deadline) {
		if err := c.uc.SetReadDeadline(deadline); err != nil {
			return 0, c.fatal(err)
		}
		c.rdlArmed, c.rdlValid = deadline, true
	}
	if c.wake.Load() {
		return 0, ErrWakeup
	}
	n, ap, err := c.uc.ReadFromUDPAddrPort(m.Buf)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.rdlValid = false
			if c.wake.Load() || deadline.IsZero() || time.Now().Before(deadline) {
				return 0, ErrWakeup
			}
			return 0, os.ErrDeadlineExceeded
		}
		return 0, c.fatal(err)
	}
	m.N, m.Addr, m.Truncated, m.Sock = n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), false, 0
	return 1, nil
}

// Wake has the Linux contract (netpoll mode).
func (c *Conn) Wake() {
	if c.wake.Load() || c.wake.Swap(true) {
		return
	}
	_ = c.uc.SetReadDeadline(aLongTimeAgo) // fails only once closed
}

var aLongTimeAgo = time.Unix(1, 0)

// WriteBatch has the Linux contract, one datagram per call. Errors other
// than a closed socket are counted as drops.
func (c *Conn) WriteBatch(msgs []Message) (int, error) {
	sent, dropped := 0, 0
	var first error
	for i := range msgs {
		m := &msgs[i]
		if _, err := c.uc.WriteToUDPAddrPort(m.Buf[:m.N], m.Addr); err != nil {
			if c.closed.Load() || errors.Is(err, net.ErrClosed) {
				return sent, net.ErrClosed
			}
			dropped++
			if first == nil {
				first = err
			}
			continue
		}
		sent++
	}
	if dropped > 0 {
		c.drop = DropError{Dropped: dropped, Err: first}
		return sent, &c.drop
	}
	return sent, nil
}

// Close closes the socket; a blocked reader returns net.ErrClosed.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	return c.uc.Close()
}
