//go:build linux

package batchio

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// Spoofer sends IPv4 UDP datagrams with any source address through a raw
// socket (IPPROTO_RAW implies IP_HDRINCL, raw(7)): the bench kit's flood uses
// it to play an attacker forging 127.x.y.z sources on loopback. It needs
// CAP_NET_RAW; OpenSpoofer returns ErrNotSupported without it. One
// goroutine at a time; WriteTo allocates nothing.
type Spoofer struct {
	fd  int
	buf []byte
}

// OpenSpoofer opens the raw socket.
func OpenSpoofer() (*Spoofer, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, ErrNotSupported
		}
		return nil, os.NewSyscallError("socket", err)
	}
	return &Spoofer{fd: fd, buf: make([]byte, 28+65507)}, nil
}

// WriteTo sends payload from src to dst (both IPv4). The kernel fills in
// the IP checksum and ID (raw(7)); the UDP checksum is left 0 (optional
// for IPv4, RFC 768).
func (s *Spoofer) WriteTo(payload []byte, src, dst netip.AddrPort) error {
	if !src.Addr().Is4() || !dst.Addr().Is4() || len(payload) > len(s.buf)-28 {
		return ErrNotSupported
	}
	n := 28 + len(payload)
	b := s.buf[:n]
	b[0], b[1] = 0x45, 0 // version 4, 20-byte header
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 0) // ID and fragment: the kernel sets the ID
	b[8], b[9] = 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(b[10:], 0)
	sa, da := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], sa[:])
	copy(b[16:20], da[:])
	binary.BigEndian.PutUint16(b[20:], src.Port())
	binary.BigEndian.PutUint16(b[22:], dst.Port())
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	binary.BigEndian.PutUint16(b[26:], 0)
	copy(b[28:], payload)
	to := unix.SockaddrInet4{Addr: da}
	for {
		err := unix.Sendto(s.fd, b, 0, &to)
		if err != unix.EINTR {
			if err != nil {
				return os.NewSyscallError("sendto", err)
			}
			return nil
		}
	}
}

// Close closes the raw socket.
func (s *Spoofer) Close() error { return unix.Close(s.fd) }
