package shard

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// A Tap copies the datagrams of one endpoint (an address, or an address
// and port) as they are read from and written to the sockets, for a packet
// trace. A group has at most one tap; with none, each datagram costs one
// atomic pointer load and nothing is allocated. With one, a matching
// datagram is copied into a TapRecord and offered to the tap's channel
// without blocking: a full channel or a spent byte budget drops the record
// (counted in Dropped), never the datagram.
type Tap struct {
	ip     netip.Addr // unmapped
	port   uint16     // 0: any port
	ch     chan TapRecord
	budget atomic.Int64 // bytes still to copy
	drops  atomic.Uint64
}

// TapRecord is one traced datagram, as on the wire.
type TapRecord struct {
	At    time.Time
	Out   bool           // sent by us (false: received)
	Peer  netip.AddrPort // the remote endpoint
	Local netip.Addr     // our address it was sent to / from, when known (packet info)
	Data  []byte         // a copy
}

// NewTap traces endpoint ip (and port, unless 0), copying at most maxBytes
// of datagrams, offered on a channel of queue records.
func NewTap(ip netip.Addr, port uint16, maxBytes int64, queue int) *Tap {
	t := &Tap{ip: ip.Unmap(), port: port, ch: make(chan TapRecord, queue)}
	t.budget.Store(maxBytes)
	return t
}

// C is where the records arrive.
func (t *Tap) C() <-chan TapRecord { return t.ch }

// Dropped counts records not delivered: channel full or budget spent.
func (t *Tap) Dropped() uint64 { return t.drops.Load() }

// Spent reports whether the byte budget is used up.
func (t *Tap) Spent() bool { return t.budget.Load() <= 0 }

func (t *Tap) match(a netip.AddrPort) bool {
	return a.Addr().Unmap() == t.ip && (t.port == 0 || a.Port() == t.port)
}

// offer copies one matching datagram (any shard goroutine).
func (t *Tap) offer(now time.Time, out bool, peer netip.AddrPort, local netip.Addr, b []byte) {
	if t.budget.Add(-int64(len(b))) < 0 {
		t.drops.Add(1)
		return
	}
	select {
	case t.ch <- TapRecord{At: now, Out: out, Peer: peer, Local: local, Data: append([]byte(nil), b...)}:
	default:
		t.drops.Add(1)
	}
}

// InstallTap installs t unless a tap is already installed; false then.
func (g *Group) InstallTap(t *Tap) bool { return g.tap.CompareAndSwap(nil, t) }

// RemoveTap removes t if it is the installed tap. A shard may still offer
// it a record or two after this returns; it never blocks on it.
func (g *Group) RemoveTap(t *Tap) { g.tap.CompareAndSwap(t, nil) }

// tapIn and tapOut are the loop's hooks: one atomic load when no tap.
func (s *Shard) tapIn(addr netip.AddrPort, local netip.Addr, b []byte) {
	if t := s.g.tap.Load(); t != nil && t.match(addr) {
		t.offer(s.g.epoch.Add(time.Duration(s.now)), false, addr, local, b)
	}
}

func (s *Shard) tapOut(t *Tap, addr netip.AddrPort, local netip.Addr, b []byte) {
	if t.match(addr) {
		t.offer(s.g.epoch.Add(time.Duration(s.now)), true, addr, local, b)
	}
}
