//go:build linux

package batchio

import (
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet info (Options.PacketInfo): on a wildcard bind the kernel picks a
// reply's source address from the route to the client, which on a host
// with several addresses (direct routing, anycast, a second loopback
// address) is not always the one the client sent to; the client then drops
// the reply. With IP_PKTINFO (IPv4 sockets) or IPV6_RECVPKTINFO (IPv6
// sockets, which report IPv4-mapped destinations for IPv4 datagrams) each
// received datagram carries its destination address (Message.Local), and a
// send with Message.Local set names it as the source in an
// IP_PKTINFO/IPV6_PKTINFO control message (ip(7), ipv6(7)). The control
// buffers live per batch slot, so this allocates nothing.

// cmsgSpace holds a send's control messages: UDP_SEGMENT (CMSG_SPACE(2) =
// 24 bytes on 64-bit Linux) then IPV6_PKTINFO (CMSG_SPACE(20) = 40) or
// IP_PKTINFO (CMSG_SPACE(12) = 32). uint64 elements keep it 8-byte aligned
// as cmsghdr needs.
type cmsgSpace [8]uint64

// rcmsgSpace receives one datagram's packet info (CMSG_SPACE(20) = 40 bytes,
// with room to spare for a control message we did not ask for).
type rcmsgSpace [8]uint64

// enablePacketInfo asks the kernel for each datagram's destination address.
func enablePacketInfo(fd int, v6 bool) error {
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1); err != nil {
			return os.NewSyscallError("setsockopt IPV6_RECVPKTINFO", err)
		}
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1); err != nil {
		return os.NewSyscallError("setsockopt IP_PKTINFO", err)
	}
	return nil
}

// parsePacketInfo returns the destination address in the control messages
// cm[:n], or the zero Addr. Bounds are checked before every read: the
// kernel wrote n bytes, and a truncated buffer (MSG_CTRUNC) is just "none".
func parsePacketInfo(cm *rcmsgSpace, n int) netip.Addr {
	b := unsafe.Slice((*byte)(unsafe.Pointer(cm)), unsafe.Sizeof(*cm))
	n = min(n, len(b))
	hdr := unix.CmsgLen(0)
	for off := 0; off+hdr <= n; {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[off]))
		l := int(h.Len)
		if l < hdr || off+l > n {
			return netip.Addr{}
		}
		data := b[off+hdr : off+l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom4(pi.Addr) // the header's destination (ipi_addr)
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom16(pi.Addr).Unmap()
		}
		off += unix.CmsgSpace(l - hdr)
	}
	return netip.Addr{}
}

// fillControl writes a send's control messages into cm and returns their
// length: UDP_SEGMENT when seg > 0, and the source address when local is
// valid (as IPV6_PKTINFO, IPv4 mapped, on an IPv6 socket).
func fillControl(cm *cmsgSpace, seg int, local netip.Addr, v6 bool) int {
	b := unsafe.Slice((*byte)(unsafe.Pointer(cm)), unsafe.Sizeof(*cm))
	n := 0
	put := func(level, typ int32, size int) []byte {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[n]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(size))
		data := b[n+unix.CmsgLen(0) : n+unix.CmsgLen(size)]
		n += unix.CmsgSpace(size)
		return data
	}
	if seg > 0 {
		d := put(unix.SOL_UDP, unix.UDP_SEGMENT, 2)
		*(*uint16)(unsafe.Pointer(&d[0])) = uint16(seg)
	}
	if local.IsValid() {
		if v6 {
			d := put(unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
			*(*unix.Inet6Pktinfo)(unsafe.Pointer(&d[0])) = unix.Inet6Pktinfo{Addr: local.As16()}
		} else if local.Is4() || local.Is4In6() {
			d := put(unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
			*(*unix.Inet4Pktinfo)(unsafe.Pointer(&d[0])) = unix.Inet4Pktinfo{Spec_dst: local.Unmap().As4()}
		}
	}
	return n
}
