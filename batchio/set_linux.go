//go:build linux

package batchio

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Set is one goroutine's sockets: an optional main Conn (a shard's member of
// a reuseport group) plus member sockets that Open binds one at a time, each
// on its own ephemeral port, so that each is its own endpoint to the peer it
// talks to (a client session). It implements the same ReadBatchUntil /
// WriteBatch / Wake contract as a Conn, over all of them, with
// Message.Sock naming the socket.
//
// Wake-ups. With no members a Set is its main Conn: the calls pass straight
// through. With members, the Set keeps one epoll instance over every socket
// (main included, level-triggered) and parks its goroutine in Go's
// netpoller on the epoll descriptor itself, so any number of sockets costs
// one netpoll wake-up per batch, no goroutine and no runtime timer per
// socket. A read is one epoll_wait(0) plus one recvmmsg per ready socket.
//
// Memory. Members are raw descriptors in a table (8 bytes each in user
// space); the headers, iovecs and address space of one batch are shared by
// all of them, since one goroutine does all the I/O. Each member is an fd
// (RLIMIT_NOFILE: Go raises the soft limit to the hard one at start) and a
// kernel socket of about 1 KiB plus what is queued on it.
//
// Concurrency. ReadBatchUntil, WriteBatch, Open and CloseMember belong to
// one goroutine (the owner). Wake and Len are safe from any goroutine.
// Close may run on any goroutine once the owner has stopped using the Set,
// or concurrently to cut a sleeping owner short (it then leaves the members
// for the owner to close: closing an fd under its user could recycle it).
type Set struct {
	main  *Conn
	opt   SetOptions
	gso   bool
	count setCount

	// epoll: nil file until the first member; its netpoll registration is
	// what the owner sleeps on.
	ep       atomic.Pointer[os.File] // set once by the owner; Wake and Close read it
	epfd     int
	epRC     syscall.RawConn
	events   []unix.EpollEvent
	nev      int
	waitFn   func(uintptr) bool
	rdlArmed time.Time
	rdlValid bool
	wake     wakeFlag
	sleeps   atomic.Uint64 // parks on epoll (members present); single writer (the owner)

	// Members, owner only: id-1 indexes socks; free ids are reused LIFO.
	socks  []member
	free   []uint32
	shared []sharedSock // SetOptions.Share; index k is epoll tag sharedTag(k)

	// scratch carries the shared per-batch headers for member I/O.
	scratch Conn
	drop    DropError
	closed  atomic.Bool
}

type member struct {
	fd     int32 // -1: free; a shared member's is its shared socket's
	v6     bool
	shared int32      // 0: a socket of its own; k+1: on shared socket k
	local  netip.Addr // a shared member's address: its sends' source
}

// NewSet returns a Set over main (nil for a Set of members only).
func NewSet(main *Conn, opt SetOptions) *Set {
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	opt.Batch = min(opt.Batch, MaxBatch)
	s := &Set{main: main, opt: opt, epfd: -1}
	s.gso = opt.GSO && caps().gso && os.Getenv(gsoKillSwitch) != "1"
	s.scratch.batch = opt.Batch
	s.scratch.mode = WaitNetpoll
	s.scratch.allocBatch(opt.Batch)
	s.events = make([]unix.EpollEvent, opt.Batch)
	s.waitFn = s.epollOnce
	return s
}

// Main returns the main Conn (nil if none).
func (s *Set) Main() *Conn { return s.main }

// mainTag is the epoll data of the main Conn; members carry their id.
const mainTag = 0

// initEpoll makes the epoll instance and registers it with the netpoller.
func (s *Set) initEpoll() error {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so os.NewFile registers it with the runtime's poller:
	// an epoll descriptor is readable while its ready list is not empty.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("fcntl", err)
	}
	if s.main != nil {
		var cerr error
		if err := s.main.rc.Control(func(mfd uintptr) {
			cerr = unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, int(mfd), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: mainTag})
		}); err != nil {
			cerr = err
		}
		if cerr != nil {
			unix.Close(fd)
			return os.NewSyscallError("epoll_ctl", cerr)
		}
	}
	f := os.NewFile(uintptr(fd), "batchio-set")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	s.epfd, s.epRC = fd, rc
	s.ep.Store(f)
	return nil
}

// Open binds a new member socket to local (port 0 for an ephemeral port,
// never SO_REUSEPORT: a port the member shares would share its traffic)
// and returns its id (never 0) and bound address. Owner only.
//
// With SetOptions.Share, a member asked for on a specific address and port
// 0 joins a shared socket instead (see openShared), and its bound address
// is that address with the shared socket's port.
func (s *Set) Open(local netip.AddrPort) (uint32, netip.AddrPort, error) {
	if s.closed.Load() {
		return 0, netip.AddrPort{}, net.ErrClosed
	}
	if len(s.socks)-len(s.free) >= MaxMembers {
		return 0, netip.AddrPort{}, ErrSetFull
	}
	if s.ep.Load() == nil {
		if err := s.initEpoll(); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	// A zoned (link-local) address stays on a socket of its own: packet
	// info reports no zone, so a shared socket could not match it.
	if ip := local.Addr(); s.opt.Share && local.Port() == 0 && ip.IsValid() && !ip.IsUnspecified() && ip.Zone() == "" {
		return s.openShared(ip.Unmap())
	}
	fd, v6, bound, err := bindSocket(local, s.opt.RecvBuffer, s.opt.SendBuffer, false)
	if err != nil {
		return 0, netip.AddrPort{}, err
	}
	id := s.newID()
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(id)}); err != nil {
		s.free = append(s.free, id)
		unix.Close(fd)
		return 0, netip.AddrPort{}, os.NewSyscallError("epoll_ctl", err)
	}
	s.socks[id-1] = member{fd: int32(fd), v6: v6}
	s.count.members.Add(1)
	s.count.fds.Add(1)
	return id, bound, nil
}

// bindSocket makes a non-blocking datagram socket bound to local, with the
// buffer requests and, if pktinfo, packet info on; it returns the bound
// address (the port the kernel chose for port 0).
func bindSocket(local netip.AddrPort, rbuf, sbuf int, pktinfo bool) (fd int, v6 bool, bound netip.AddrPort, err error) {
	ip := local.Addr()
	v6 = ip.Is6() && !ip.Is4In6()
	// As4 panics on an IPv6 address: build each family's address only on
	// its own branch.
	var (
		family int
		sa     unix.Sockaddr
	)
	if v6 {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(local.Port()), Addr: ip.As16()}
	} else {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(local.Port()), Addr: ip.Unmap().As4()}
	}
	fd, err = unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, v6, netip.AddrPort{}, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (int, bool, netip.AddrPort, error) {
		unix.Close(fd)
		return -1, v6, netip.AddrPort{}, err
	}
	setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, rbuf)
	setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, sbuf)
	if pktinfo {
		if err := enablePacketInfo(fd, v6); err != nil {
			return fail(err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	bound = local
	switch a := got.(type) {
	case *unix.SockaddrInet4:
		bound = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		bound = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return fd, v6, bound, nil
}

// newID takes a member id (a free one first) whose slot the caller fills.
func (s *Set) newID() uint32 {
	if k := len(s.free); k > 0 {
		id := s.free[k-1]
		s.free = s.free[:k-1]
		return id
	}
	s.socks = append(s.socks, member{fd: -1})
	return uint32(len(s.socks))
}

// Shared sockets (SetOptions.Share). A member that only needs to be its own
// endpoint to its peer does not need a socket of its own when it has an
// address of its own: a wildcard socket on one port, with packet info on,
// carries any number of members bound to different local addresses
// (127.0.0.0/8 is all local, so a load generator has 16 million). Each
// received datagram goes to the member whose address it was sent to, each
// send names its member's address as the source, and a batch over many
// members is one recvmmsg and one sendmmsg instead of one per member: an fd
// per socket, not per member.

// sharedSock is one shared socket; members maps each local address to the
// member that has it here (one per address per socket: the endpoint is the
// address and the socket's port).
type sharedSock struct {
	fd      int32 // -1: closed, the slot free
	v6      bool
	port    uint16
	members map[netip.Addr]uint32
}

// sharedTag is the epoll data of shared socket k (members carry ids > 0,
// the main Conn 0).
func sharedTag(k int) int32 { return -int32(k) - 1 }

// openShared makes a member on ip: on the first shared socket of ip's
// family where ip is free, or on a new one. ip must be an address of this
// host: a probe bind to ip:0 checks it first, so a bad address fails here
// with bind's error, as it does without sharing.
func (s *Set) openShared(ip netip.Addr) (uint32, netip.AddrPort, error) {
	v6 := ip.Is6()
	family := unix.AF_INET
	if v6 {
		family = unix.AF_INET6
	}
	if _, err := probeBind(family, ip, 0, 0); err != nil {
		return 0, netip.AddrPort{}, err
	}
	k := -1
	for i := range s.shared {
		sh := &s.shared[i]
		if sh.fd >= 0 && sh.v6 == v6 {
			if _, taken := sh.members[ip]; !taken {
				k = i
				break
			}
		}
	}
	if k < 0 {
		var err error
		if k, err = s.newShared(v6); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
	sh := &s.shared[k]
	id := s.newID()
	s.socks[id-1] = member{fd: sh.fd, v6: v6, shared: int32(k) + 1, local: ip}
	sh.members[ip] = id
	s.count.members.Add(1)
	return id, netip.AddrPortFrom(ip, sh.port), nil
}

// newShared opens a shared socket of the family, in a free slot, and
// returns its index.
func (s *Set) newShared(v6 bool) (int, error) {
	wild := netip.IPv4Unspecified()
	if v6 {
		wild = netip.IPv6Unspecified()
	}
	buf := s.opt.ShareBuffer
	if buf == 0 {
		buf = DefaultShareBuffer
	}
	fd, _, bound, err := bindSocket(netip.AddrPortFrom(wild, 0), buf, buf, true)
	if err != nil {
		return 0, err
	}
	k := len(s.shared)
	for i := range s.shared {
		if s.shared[i].fd < 0 {
			k = i
			break
		}
	}
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: sharedTag(k)}); err != nil {
		unix.Close(fd)
		return 0, os.NewSyscallError("epoll_ctl", err)
	}
	if k == len(s.shared) {
		s.shared = append(s.shared, sharedSock{})
	}
	s.shared[k] = sharedSock{fd: int32(fd), v6: v6, port: bound.Port(), members: make(map[netip.Addr]uint32)}
	if s.scratch.rcmsg == nil {
		// Shared reads need the packet info; a member's own socket sends
		// none, so its reads find none and report no Local, as before.
		s.scratch.rcmsg = make([]rcmsgSpace, len(s.scratch.rhdr))
		for i := range s.scratch.rhdr {
			s.scratch.rhdr[i].Hdr.Control = (*byte)(unsafe.Pointer(&s.scratch.rcmsg[i]))
		}
	}
	s.count.fds.Add(1)
	return k, nil
}

// CloseMember closes member id; later reads never return it, and writes
// from it are dropped. Owner only; an unknown id is a no-op.
func (s *Set) CloseMember(id uint32) {
	m := s.member(id)
	if m == nil {
		return
	}
	if m.shared != 0 {
		// The last member closes its shared socket.
		sh := &s.shared[m.shared-1]
		delete(sh.members, m.local)
		if len(sh.members) == 0 {
			unix.Close(int(sh.fd))
			sh.fd, sh.members = -1, nil
			s.count.fds.Add(-1)
		}
	} else {
		// Closing the fd removes it from the epoll set (no other
		// descriptor refers to its file).
		unix.Close(int(m.fd))
		s.count.fds.Add(-1)
	}
	*m = member{fd: -1}
	s.free = append(s.free, id)
	s.count.members.Add(-1)
}

func (s *Set) member(id uint32) *member {
	if id == 0 || int(id) > len(s.socks) || s.socks[id-1].fd < 0 {
		return nil
	}
	return &s.socks[id-1]
}

// ReadBatchUntil has Conn's contract over every socket of the Set, and sets
// each Message's Sock.
func (s *Set) ReadBatchUntil(msgs []Message, deadline time.Time) (int, error) {
	if s.Len() == 0 && s.main != nil {
		return s.main.ReadBatchUntil(msgs, deadline)
	}
	if s.ep.Load() == nil {
		// No main and no member yet: sleep until a wake or the deadline.
		if err := s.initEpoll(); err != nil {
			return 0, err
		}
	}
	for {
		if s.main != nil && s.main.closed.Load() {
			return 0, net.ErrClosed
		}
		// sleep polls before it parks, so a call with sockets ready costs
		// one epoll_wait, and one that finds none parks after that one.
		if err := s.sleep(deadline); err != nil {
			s.wake.consume()
			return 0, err
		}
		if n, err := s.readReady(msgs); n > 0 || err != nil {
			s.wake.consume()
			return n, err
		}
	}
}

// readReady reads each socket the last poll found ready once, into the
// free part of msgs; sockets left over when msgs is full are reported again
// by the next poll (level-triggered).
func (s *Set) readReady(msgs []Message) (int, error) {
	nev := s.nev
	s.nev = 0
	got := 0
	for _, ev := range s.events[:nev] {
		if got == len(msgs) {
			break // the rest stay ready (level-triggered) for the next call
		}
		if ev.Fd < 0 {
			got += s.readShared(int(-ev.Fd-1), msgs[got:])
			continue
		}
		id := uint32(ev.Fd)
		if id == mainTag {
			n, err := s.main.readReady(msgs[got:])
			got += n
			if err != nil {
				return got, err
			}
			continue
		}
		m := s.member(id)
		if m == nil {
			continue
		}
		c := &s.scratch
		c.rwant = c.prepRead(msgs[got:])
		c.rn, c.rerr = 0, 0
		c.recv(uintptr(m.fd))
		if c.rerr != 0 {
			// A datagram socket's receive errors are the peer's ICMP
			// (ECONNREFUSED once the server is gone): the session notices
			// by its own timers, so skip, as for a drop.
			continue
		}
		c.finishRead(msgs[got:], id)
		got += c.rn
	}
	return got, nil
}

// readShared reads shared socket k once into msgs and names each
// datagram's member by the address it was sent to (NoMember for none).
func (s *Set) readShared(k int, msgs []Message) int {
	sh := &s.shared[k]
	if sh.fd < 0 {
		return 0
	}
	c := &s.scratch
	c.rwant = c.prepRead(msgs)
	c.rn, c.rerr = 0, 0
	c.recv(uintptr(sh.fd))
	if c.rerr != 0 {
		return 0 // a peer's ICMP, as on a member's own socket
	}
	c.finishRead(msgs, NoMember)
	for i := range c.rn {
		if id, ok := sh.members[msgs[i].Local]; ok {
			msgs[i].Sock = id
		}
	}
	return c.rn
}

// epollWait is one non-blocking epoll_wait (RawSyscall: it cannot block,
// see Conn.recv) and returns the ready count.
func (s *Set) epollWait() int {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(s.epfd), uintptr(unsafe.Pointer(&s.events[0])),
			uintptr(len(s.events)), 0, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0
		}
		return int(r)
	}
}

// epollOnce is the netpoll callback: false parks until epoll is readable.
// It runs under the descriptor's read lock, so a Close on another
// goroutine cannot recycle the number under it.
func (s *Set) epollOnce(uintptr) bool {
	s.nev = s.epollWait()
	if s.nev == 0 {
		s.sleeps.Store(s.sleeps.Load() + 1) // false parks: one wake-up to come
	}
	return s.nev > 0
}

// sleep parks on the epoll descriptor until a socket is ready (nil), a
// Wake (ErrWakeup), the deadline (os.ErrDeadlineExceeded) or Close.
func (s *Set) sleep(deadline time.Time) error {
	if !s.rdlValid || !s.rdlArmed.Equal(deadline) {
		if err := s.ep.Load().SetReadDeadline(deadline); err != nil {
			return net.ErrClosed
		}
		s.rdlArmed, s.rdlValid = deadline, true
	}
	if s.wake.pending() {
		return ErrWakeup
	}
	err := s.epRC.Read(s.waitFn)
	switch {
	case err == nil:
		return nil
	case err == os.ErrDeadlineExceeded:
		s.rdlValid = false
		if s.wake.pending() || deadline.IsZero() || time.Now().Before(deadline) {
			return ErrWakeup
		}
		return os.ErrDeadlineExceeded
	}
	return net.ErrClosed
}

// WriteBatch has Conn's contract: messages with Sock 0 go out on the main
// Conn, the others from their member, each run on one socket in one
// sendmmsg (a shared socket's run may span many members; WriteBatch sets
// each one's Local to its member's address). A member whose send buffer is
// full (EAGAIN) drops the run, counted in the *DropError, rather than block
// the owner: the protocol above resends.
func (s *Set) WriteBatch(msgs []Message) (int, error) {
	if s.Len() == 0 && s.main != nil {
		return s.main.WriteBatch(msgs)
	}
	sent, dropped := 0, 0
	var first error
	for i := 0; i < len(msgs); {
		r := s.route(&msgs[i])
		j := i + 1
		for j < len(msgs) && s.route(&msgs[j]) == r {
			j++
		}
		run := msgs[i:j]
		i = j
		var (
			n, d int
			err  error
		)
		switch {
		case r == 0:
			if s.main == nil {
				dropped += len(run)
				if first == nil {
					first = errNoSocket
				}
				continue
			}
			n, err = s.main.WriteBatch(run)
			if err != nil {
				de, ok := err.(*DropError)
				if !ok {
					return sent + n, err
				}
				d, err = de.Dropped, de.Err
			}
		case r < 0:
			sh := &s.shared[-r-1]
			n, d, err = s.writeFD(int(sh.fd), sh.v6, run)
		default:
			if m := s.member(run[0].Sock); m != nil {
				n, d, err = s.writeFD(int(m.fd), m.v6, run)
			} else {
				d, err = len(run), errNoSocket
			}
		}
		sent += n
		dropped += d
		if err != nil && first == nil {
			first = err
		}
	}
	if dropped > 0 {
		s.drop = DropError{Dropped: dropped, Err: first}
		return sent, &s.drop
	}
	return sent, nil
}

// route names the socket a message goes out on: 0 the main Conn, a member
// id its own socket (or a closed one), sharedTag(k) shared socket k, whose
// members' messages it gives their source address.
func (s *Set) route(m *Message) int64 {
	if m.Sock == 0 {
		return 0
	}
	if mb := s.member(m.Sock); mb != nil && mb.shared != 0 {
		m.Local = mb.local
		return int64(sharedTag(int(mb.shared - 1)))
	}
	return int64(m.Sock)
}

// errNoSocket: a datagram named a member that is closed (a session's
// last datagrams after its socket went) or a main Conn the Set lacks.
var errNoSocket = os.NewSyscallError("sendmmsg", unix.EBADF)

// writeFD sends msgs (all on the socket fd) and reports sent, dropped and
// the first drop's cause.
func (s *Set) writeFD(fd int, v6 bool, msgs []Message) (sent, dropped int, first error) {
	c := &s.scratch
	c.v6 = v6
	for len(msgs) > 0 {
		chunk := msgs[:min(len(msgs), c.batch)]
		c.wend = planRuns(chunk, s.gso, gsoMaxSegments, gsoMaxBytes, gsoMaxSegment, c.runs)
		c.fillWrite(chunk)
		c.wi, c.werr = 0, 0
		if !c.writeOnce(uintptr(fd)) {
			c.werr = unix.EAGAIN // full send buffer: drop what is left
		}
		done := 0
		if c.wi > 0 {
			done = int(c.runs[c.wi-1].end)
		}
		sent += done
		if c.werr != 0 {
			r := c.runs[c.wi]
			kind := writeErrorKind(c.werr, r.seg > 0)
			switch {
			case kind == errKindGSO:
				s.gso = false // for every member: same route, same device
				msgs = msgs[done:]
				continue
			case c.werr == unix.EAGAIN:
				dropped += len(chunk) - done
				done = len(chunk)
			default:
				// Drops and hard errors alike cost only this run: a member
				// failing is its session's business (its timers end it).
				dropped += int(r.end - r.start)
				done = int(r.end)
			}
			if first == nil {
				first = os.NewSyscallError("sendmmsg", c.werr)
			}
		}
		msgs = msgs[done:]
	}
	return sent, dropped, first
}

// Wake ends a sleeping ReadBatchUntil (or the next one) with ErrWakeup.
// Any goroutine.
func (s *Set) Wake() {
	if s.main != nil {
		s.main.Wake()
	}
	if !s.wake.set() {
		return
	}
	if ep := s.ep.Load(); ep != nil {
		_ = ep.SetReadDeadline(aLongTimeAgo) // fails only once closed
	}
}

// Close closes the epoll descriptor, so a sleeping owner returns
// net.ErrClosed, and makes Open fail; members are left to CloseMembers (the
// owner's, or anyone's once the owner has stopped), and the main Conn to its
// Group. Any goroutine; idempotent.
func (s *Set) Close() error {
	s.closed.Store(true)
	if ep := s.ep.Load(); ep != nil {
		_ = ep.Close() // a second Close reports os.ErrClosed: nothing to say
	}
	return nil
}

// CloseMembers closes every member (owner, or any goroutine once the owner
// has stopped).
func (s *Set) CloseMembers() {
	for i := range s.socks {
		if s.socks[i].fd >= 0 {
			s.CloseMember(uint32(i + 1))
		}
	}
}
