//go:build linux

package batchio

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

type errKind uint8

const (
	errKindFatal  errKind = iota // the socket is unusable; end the loop
	errKindDrop                  // this datagram only: skip it, count it
	errKindGSO                   // the kernel cannot segment this send
	errKindClosed                // fd closed under us
)

// writeErrorKind classifies a sendmmsg error for the datagram (or GSO run)
// that failed. Per-datagram refusals come from sendmsg(2) and udp(7):
// unreachable routes, ICMP errors surfaced on the socket, firewall (EPERM),
// broadcast without SO_BROADCAST (EACCES), a datagram over the MTU with DF or
// over 64 KiB (EMSGSIZE), a bad or foreign-family address (EINVAL,
// EAFNOSUPPORT, EDESTADDRREQ), and a transiently full device queue (ENOBUFS).
// EIO on a UDP_SEGMENT send means the device cannot checksum-offload GSO
// (udp_send_skb, net/ipv4/udp.c); EINVAL there means a segment the route's
// MTU cannot carry. Both are answered by sending without GSO.
func writeErrorKind(e syscall.Errno, gsoRun bool) errKind {
	if gsoRun && (e == unix.EIO || e == unix.EINVAL) {
		return errKindGSO
	}
	switch e {
	case unix.EMSGSIZE, unix.EIO, unix.EINVAL, unix.EAFNOSUPPORT, unix.EDESTADDRREQ,
		unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EHOSTDOWN, unix.ENETDOWN,
		unix.ECONNREFUSED, unix.EPERM, unix.EACCES, unix.ENOBUFS, unix.EADDRNOTAVAIL:
		return errKindDrop
	case unix.EBADF:
		return errKindClosed
	}
	return errKindFatal
}

// readError converts a recvmmsg error (EAGAIN and EINTR never get here).
// Allocates, but only on a failing socket.
func readError(e syscall.Errno) error {
	return os.NewSyscallError("recvmmsg", e)
}
