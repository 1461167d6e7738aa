package shard

import "net/netip"

// Replies from the right address. With a wildcard bind the socket reports
// each datagram's destination (batchio Options.PacketInfo); the session's
// slot keeps the last one, pointer-free, and every datagram to the peer
// (the sink's dest) names it as the source.

// dest is where the shard sends: the peer, and the local address to send
// from (zero: the kernel's choice).
type dest struct {
	addr  netip.AddrPort
	local netip.Addr
}

// setLocal records a datagram's destination address; a zero one (packet
// info off) changes nothing. One 16-byte compare per datagram.
func (m *meta) setLocal(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	if b := a.As16(); !m.hasLocal || b != m.local {
		m.local, m.hasLocal = b, true
	}
}

// localAddr rebuilds the recorded address (no allocation: IPv4 and
// zone-less IPv6 addresses use static handles).
func (m *meta) localAddr() netip.Addr {
	if !m.hasLocal {
		return netip.Addr{}
	}
	return netip.AddrFrom16(m.local).Unmap()
}

// packetInfo says whether a group bound to addr needs packet info: a
// wildcard server bind, where the kernel's choice of source can differ
// from the address a client sent to.
func packetInfo(addr netip.AddrPort, role Role) bool {
	return role == RoleServer && addr.Addr().IsUnspecified()
}

// clearInLocal ends input's datagram: later sends (timers, other
// goroutines' posts) are not answers to it.
func (s *Shard) clearInLocal() { s.inLocal = netip.Addr{} }
