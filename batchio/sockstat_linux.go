//go:build linux

package batchio

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KernelDrops returns how many datagrams the kernel dropped for c: receive
// queue full (SO_RCVBUF reached) or out of memory, getsockopt(SO_MEMINFO)
// [SK_MEMINFO_DROPS], the figure /proc/net/udp prints as "drops" (Linux
// 4.6+). Any goroutine; one syscall.
func (c *Conn) KernelDrops() (uint64, error) {
	var mem [unix.SK_MEMINFO_VARS]uint32
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mem))
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mem[0])), uintptr(unsafe.Pointer(&l)), 0)
		if e != 0 {
			serr = os.NewSyscallError("getsockopt SO_MEMINFO", e)
		} else if l <= unix.SK_MEMINFO_DROPS*4 {
			serr = ErrNotSupported // an older kernel's shorter array
		}
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return uint64(mem[unix.SK_MEMINFO_DROPS]), nil
}

// Sleeps counts reads that found the socket empty and waited (in the
// netpoller or in ppoll): the loop's wake-ups. Any goroutine.
func (c *Conn) Sleeps() uint64 { return c.sleeps.Load() }

// GSO is the main Conn's (a Set without one reports whether its members
// coalesce).
func (s *Set) GSO() (on bool, disabledBy error) {
	if s.main != nil {
		return s.main.GSO()
	}
	return s.gso, nil
}

// KernelDrops is the main Conn's; ErrNotSupported without one.
func (s *Set) KernelDrops() (uint64, error) {
	if s.main == nil {
		return 0, ErrNotSupported
	}
	return s.main.KernelDrops()
}

// Sleeps counts the Set's reads that waited: in its main Conn while it has
// no members, on its epoll descriptor while it has (dialled sessions'
// sockets). Any goroutine.
func (s *Set) Sleeps() uint64 {
	n := s.sleeps.Load()
	if s.main != nil {
		n += s.main.Sleeps()
	}
	return n
}
