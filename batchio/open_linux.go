//go:build linux

package batchio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// caps are the kernel's UDP offloads, probed once per process.
var caps = sync.OnceValue(func() (c struct{ gso, gro bool }) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return c
	}
	defer unix.Close(fd)
	// UDP_SEGMENT is readable wherever it is settable (Linux >= 4.18).
	_, err = unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
	c.gso = err == nil
	c.gro = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	return c
})

// gsoKillSwitch turns GSO off whatever Options say (for a misbehaving NIC or
// driver, without a rebuild).
const gsoKillSwitch = "EQGATE_NO_GSO"

// Open binds opt.Sockets UDP sockets to addr with SO_REUSEPORT, in order,
// so Conn(i) is the i-th member of the kernel's reuseport group. Port 0
// picks a free port for the first socket and binds the rest to it.
func Open(addr netip.AddrPort, opt Options) (*Group, error) {
	opt.normalize()
	if opt.Wait == WaitDefault {
		opt.Wait = defaultWait
	}
	if !addr.IsValid() {
		return nil, fmt.Errorf("batchio: open %v: invalid address", addr)
	}
	ip := addr.Addr()
	v6 := ip.Is6() && !ip.Is4In6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	} else {
		ip = ip.Unmap()
	}
	var scope uint32
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return nil, fmt.Errorf("batchio: open %v: %w", addr, err)
		}
		scope = uint32(ifi.Index)
	}

	g := &Group{}
	f := &g.facts
	f.Sockets, f.Batch, f.Wait = opt.Sockets, opt.Batch, opt.Wait
	f.PacketInfo = opt.PacketInfo
	cp := caps()
	f.GSOSupported, f.GROSupported = cp.gso, cp.gro
	switch {
	case !opt.GSO:
		f.GSOReason = "not asked"
	case os.Getenv(gsoKillSwitch) == "1":
		f.GSOReason = gsoKillSwitch + "=1"
	case !cp.gso:
		f.GSOReason = "kernel lacks UDP_SEGMENT"
	default:
		f.GSO = true
	}

	port := int(addr.Port())
	// With SO_REUSEPORT set, the kernel may give port 0 a port that another
	// reuseport socket of the same user already holds (seen here: 150 of
	// 3000 client binds collided), and the two would then share traffic. So
	// an ephemeral single socket binds without it, and an ephemeral group
	// first takes a port exclusively, then binds its members to that port.
	reuse := port != 0 || opt.Sockets > 1
	if port == 0 && opt.Sockets > 1 {
		p, err := probeBind(family, ip, scope, 0)
		if err != nil {
			return nil, fmt.Errorf("batchio: open %v: %w", addr, err)
		}
		port = p
	} else if port != 0 {
		// A reuseport bind would join another process's group on this
		// port (same user) and share its traffic silently: the port must
		// be free first. A group that binds in between still fails below.
		if _, err := probeBind(family, ip, scope, port); err != nil {
			if errors.Is(err, unix.EADDRINUSE) {
				return nil, fmt.Errorf("batchio: open %v: %w", addr, ErrAddrInUse)
			}
			return nil, fmt.Errorf("batchio: open %v: %w", addr, err)
		}
	}
	fail := func(err error) (*Group, error) {
		_ = g.Close() // best effort: the Open error is the one to report
		return nil, fmt.Errorf("batchio: open %v: %w", addr, err)
	}
	for i := range opt.Sockets {
		fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fail(os.NewSyscallError("socket", err))
		}
		if reuse {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				unix.Close(fd)
				return fail(os.NewSyscallError("setsockopt SO_REUSEPORT", err))
			}
		}
		rf := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, opt.RecvBuffer)
		sf := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, opt.SendBuffer)
		var sa unix.Sockaddr
		if v6 {
			sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16(), ZoneId: scope}
		} else {
			sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
		}
		if err := unix.Bind(fd, sa); err != nil {
			unix.Close(fd)
			return fail(os.NewSyscallError("bind", err))
		}
		if i == 0 {
			got, err := unix.Getsockname(fd)
			if err != nil {
				unix.Close(fd)
				return fail(os.NewSyscallError("getsockname", err))
			}
			switch s := got.(type) {
			case *unix.SockaddrInet4:
				port = s.Port
			case *unix.SockaddrInet6:
				port = s.Port
			}
			f.Addr = netip.AddrPortFrom(ip, uint16(port))
			f.BufferForced = (opt.RecvBuffer <= 0 || rf) && (opt.SendBuffer <= 0 || sf) && (opt.RecvBuffer > 0 || opt.SendBuffer > 0)
			f.RecvBuffer, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
			f.SendBuffer, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		}
		c, err := newConn(i, fd, f.Addr, v6, opt, f.GSO)
		if err != nil {
			return fail(err)
		}
		g.conns = append(g.conns, c)
	}

	switch {
	case !opt.Steering:
		f.SteeringReason = "not asked"
	case opt.Sockets == 1:
		// Every datagram reaches the only socket; an ephemeral lone socket
		// is not even in a reuseport group to attach a program to.
		f.SteeringReason = "one socket: nothing to steer"
	default:
		var err error
		if rerr := g.conns[0].rc.Control(func(fd uintptr) { err = attachSteering(int(fd), opt.Sockets) }); rerr != nil {
			err = rerr
		}
		if err != nil {
			// Not fatal: the engine hands misrouted datagrams over instead.
			f.SteeringReason = "SO_ATTACH_REUSEPORT_CBPF: " + err.Error()
		} else {
			f.Steering = true
		}
	}
	return g, nil
}

// setBuffer asks for size bytes, first with the *FORCE option that ignores
// net.core.{r,w}mem_max (needs CAP_NET_ADMIN), then with the clamped one.
// Best effort: the granted size is read back and reported instead.
func setBuffer(fd, force, plain, size int) (forced bool) {
	if size <= 0 {
		return false
	}
	// EPERM without CAP_NET_ADMIN; any error leaves the plain option to try.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
		return true
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size) // clamped, never fails for size > 0
	return false
}

// probeBind binds a socket without SO_REUSEPORT to port (0: any) and
// returns the port bound, then closes it: the port no other socket holds at
// that moment. The caller binds its reuseport group there right after; a
// socket that takes the port in between makes that bind fail with
// EADDRINUSE rather than share it.
func probeBind(family int, ip netip.Addr, scope uint32, port int) (int, error) {
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16(), ZoneId: scope}
	} else {
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return 0, os.NewSyscallError("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return 0, os.NewSyscallError("getsockname", err)
	}
	switch s := got.(type) {
	case *unix.SockaddrInet4:
		return s.Port, nil
	case *unix.SockaddrInet6:
		return s.Port, nil
	}
	return 0, errors.New("getsockname: unexpected address family")
}
