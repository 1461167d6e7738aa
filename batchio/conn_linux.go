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

// defaultWait is the mode that measured best on Linux (bench/RESULTS.md):
// as cheap per datagram, faster to wake, and it never holds a P while asleep.
const defaultWait = WaitNetpoll

// Conn is one socket of a Group. One goroutine reads and one writes at a
// time (usually the same shard goroutine); Wake, GSO and Close are safe from
// any goroutine.
type Conn struct {
	index int
	local netip.AddrPort
	v6    bool // AF_INET6 socket: destinations are sent as IPv6 (IPv4 mapped)
	mode  WaitMode
	batch int

	f  *os.File // owns the socket fd; its poll.FD makes Close safe against in-flight calls
	rc syscall.RawConn

	// thread mode: an eventfd the reader ppolls beside the socket; Wake writes it.
	efd  *os.File
	erc  syscall.RawConn
	one  [8]byte // eventfd increment (read-only after Open)
	sink [8]byte // eventfd drain target (reader/writer only)

	closed atomic.Bool
	wake   atomic.Bool // a wake is pending; coalesces Wake calls
	gso    atomic.Bool
	sleeps atomic.Uint64 // reads that waited; single writer (the reader)

	// Reader state: preallocated per batch slot and touched only by the
	// reader; the callbacks are method values built once so calling them
	// allocates nothing.
	rhdr       []unix.Mmsghdr
	riov       []unix.Iovec
	rname      []unix.RawSockaddrInet6
	rcmsg      []rcmsgSpace // packet info per slot; nil unless Options.PacketInfo (pktinfo_linux.go)
	rwant      int
	rn         int
	rerr       syscall.Errno
	rstat      uint8
	rdl        time.Time // deadline of the current call (zero: none)
	rdlArmed   time.Time // netpoll: the read deadline last set on f
	rdlValid   bool      // netpoll: rdlArmed is what f has
	rpfd       [2]unix.PollFd
	rts        unix.Timespec
	rtsp       uintptr // 0 or &rts for the next ppoll
	rpollErr   syscall.Errno
	readFn     func(uintptr) bool
	readOnceFn func(uintptr) bool
	pollFn     func(uintptr)
	wakeFn     func(uintptr)

	// Writer state.
	whdr    []unix.Mmsghdr
	wiov    []unix.Iovec
	wname   []unix.RawSockaddrInet6
	wcmsg   []cmsgSpace
	runs    []run
	wi      int // next run to send
	wend    int // runs planned
	werr    syscall.Errno
	wpfd    [2]unix.PollFd
	wfd     uintptr
	pollWFn func(uintptr)
	drop    DropError
	// gsoErr is the error that turned GSO off (nil while on). Written once by
	// the writer before gso is cleared; read after gso reads false.
	gsoErr  error
	writeFn func(uintptr) bool
}

const (
	rsData = iota
	rsWoken
	rsDeadline
	rsClosed
)

func newConn(index int, fd int, local netip.AddrPort, v6 bool, opt Options, gso bool) (*Conn, error) {
	c := &Conn{index: index, local: local, v6: v6, mode: opt.Wait, batch: opt.Batch}
	c.f = os.NewFile(uintptr(fd), "batchio")
	rc, err := c.f.SyscallConn()
	if err != nil {
		c.f.Close()
		return nil, err
	}
	c.rc = rc
	if c.mode == WaitThread {
		// Blocking eventfd: it is only read after ppoll reports it readable,
		// and written with +1 (blocks only at 2^64-2, never reached).
		efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			c.f.Close()
			return nil, os.NewSyscallError("eventfd", err)
		}
		c.efd = os.NewFile(uintptr(efd), "batchio-wake")
		if c.erc, err = c.efd.SyscallConn(); err != nil {
			c.f.Close()
			c.efd.Close()
			return nil, err
		}
		c.one[0] = 1 // eventfd takes a native-endian uint64; Linux ports are little-endian except s390x/ppc64/mips, see init
		if nativeBigEndian {
			c.one = [8]byte{7: 1}
		}
	}
	c.allocBatch(opt.Batch)
	if opt.PacketInfo {
		if err := enablePacketInfo(fd, v6); err != nil {
			c.f.Close()
			if c.efd != nil {
				c.efd.Close()
			}
			return nil, err
		}
		c.rcmsg = make([]rcmsgSpace, opt.Batch)
		for i := range c.rhdr {
			c.rhdr[i].Hdr.Control = (*byte)(unsafe.Pointer(&c.rcmsg[i]))
		}
	}
	c.gso.Store(gso)
	switch c.mode {
	case WaitThread:
		c.readFn = c.readThread
		c.pollFn = c.pollThread
		c.wakeFn = c.kick
		c.pollWFn = c.pollWritable
	default:
		c.readFn = c.readNetpoll
	}
	c.writeFn = c.writeOnce
	c.readOnceFn = c.readOnce
	return c, nil
}

// allocBatch builds the per-slot message headers, iovecs and address and
// control space for batches of b, once.
func (c *Conn) allocBatch(b int) {
	c.rhdr = make([]unix.Mmsghdr, b)
	c.riov = make([]unix.Iovec, b)
	c.rname = make([]unix.RawSockaddrInet6, b)
	for i := range c.rhdr {
		h := &c.rhdr[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&c.rname[i]))
		h.Iov = &c.riov[i]
		h.SetIovlen(1)
	}
	c.whdr = make([]unix.Mmsghdr, b)
	c.wiov = make([]unix.Iovec, b)
	c.wname = make([]unix.RawSockaddrInet6, b)
	c.wcmsg = make([]cmsgSpace, b)
	c.runs = make([]run, b)
	for i := range c.whdr {
		c.whdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&c.wname[i]))
	}
}

// Index is the socket's position in its Group (bind order).
func (c *Conn) Index() int { return c.index }

// LocalAddr is the bound address.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// GSO reports whether WriteBatch coalesces with UDP_SEGMENT, and if it was
// turned off after the kernel refused a GSO send (EIO: no checksum offload
// on the route's device), the error that did it.
func (c *Conn) GSO() (on bool, disabledBy error) {
	if c.gso.Load() {
		return true, nil
	}
	return false, c.gsoErr
}

// ReadBatch is ReadBatchUntil with no deadline.
func (c *Conn) ReadBatch(msgs []Message) (int, error) {
	return c.ReadBatchUntil(msgs, time.Time{})
}

// ReadBatchUntil receives up to min(len(msgs), Options.Batch) datagrams into
// msgs[i].Buf, setting N, Addr and Truncated, and returns how many. It
// sleeps in the kernel while the socket is empty, until a datagram arrives
// (n > 0, nil), Wake is called (0, ErrWakeup), the deadline passes
// (0, os.ErrDeadlineExceeded; a zero deadline never passes) or the Conn is
// closed (0, net.ErrClosed). Every return consumes a pending wake, so a
// caller that checks its inbox after each return never misses a request;
// ErrWakeup may be spurious. Other errors are the kernel's, wrapped in
// *os.SyscallError.
func (c *Conn) ReadBatchUntil(msgs []Message, deadline time.Time) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n := c.prepRead(msgs)
	if n == 0 {
		return 0, nil
	}
	c.rwant, c.rn, c.rerr, c.rstat, c.rdl = n, 0, 0, rsData, deadline
	var err error
	if c.mode == WaitThread {
		err = c.rc.Read(c.readFn)
	} else {
		err = c.readPollWait()
	}
	// Any return consumes a pending wake (see above). Load first so the
	// common case does not write the shared cache line.
	if c.wake.Load() {
		c.wake.Store(false)
	}
	switch {
	case err != nil:
		if c.closed.Load() {
			return 0, net.ErrClosed
		}
		return 0, err
	case c.rstat == rsWoken:
		return 0, ErrWakeup
	case c.rstat == rsDeadline:
		return 0, os.ErrDeadlineExceeded
	case c.rstat == rsClosed:
		return 0, net.ErrClosed
	case c.rerr != 0:
		return 0, readError(c.rerr)
	}
	c.finishRead(msgs, 0)
	return c.rn, nil
}

// prepRead points the receive headers at up to min(len(msgs), batch)
// caller buffers and returns how many.
func (c *Conn) prepRead(msgs []Message) int {
	n := min(len(msgs), c.batch)
	for i := range n {
		b := msgs[i].Buf
		c.riov[i].Base = unsafe.SliceData(b)
		c.riov[i].SetLen(len(b))
		c.rhdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		c.rhdr[i].Hdr.Flags = 0
		if c.rcmsg != nil {
			c.rhdr[i].Hdr.SetControllen(int(unsafe.Sizeof(c.rcmsg[i]))) // the kernel overwrites it
		}
	}
	return n
}

// finishRead fills msgs[:c.rn] from what recvmmsg wrote, tagging each with
// the socket it came from (0: a Group's Conn; a Set's member otherwise).
func (c *Conn) finishRead(msgs []Message, sock uint32) {
	for i := range c.rn {
		h := &c.rhdr[i]
		m := &msgs[i]
		m.N = int(h.Len)
		m.Truncated = h.Hdr.Flags&unix.MSG_TRUNC != 0
		m.Addr = decodeSockaddr(&c.rname[i])
		m.Sock = sock
		m.Local = netip.Addr{}
		if c.rcmsg != nil {
			m.Local = parsePacketInfo(&c.rcmsg[i], int(h.Hdr.Controllen))
		}
	}
}

// readReady is one non-blocking read of what the socket holds now, for a
// Set that learnt from epoll that it is readable: (0, nil) when it was not
// after all. It goes through RawConn.Read so a concurrent Close cannot
// recycle the fd under it, with a callback that never parks.
func (c *Conn) readReady(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n := c.prepRead(msgs)
	if n == 0 {
		return 0, nil
	}
	c.rwant, c.rn, c.rerr = n, 0, 0
	if err := c.rc.Read(c.readOnceFn); err != nil {
		if c.closed.Load() {
			return 0, net.ErrClosed
		}
		return 0, err
	}
	if c.rerr != 0 {
		return 0, readError(c.rerr)
	}
	c.finishRead(msgs, 0)
	return c.rn, nil
}

// readOnce is readReady's RawConn.Read callback.
func (c *Conn) readOnce(fd uintptr) bool {
	c.recv(fd)
	return true
}

// recv is one non-blocking recvmmsg over the prepared slots, retried on
// EINTR. It stores the count (c.rn) or a hard error (c.rerr) and reports
// whether the socket had nothing to read, so each wait mode can then sleep
// its own way.
//
// recvmmsg and sendmmsg go through RawSyscall6: with MSG_DONTWAIT they
// cannot block, so telling the scheduler (entersyscall) buys nothing, and it
// costs: the first syscall after the process went idle wakes sysmon, which
// then polls every 20 us for a millisecond. On a shard that sleeps and wakes
// thousands of times a second that was 15 % of its CPU (bench/RESULTS.md).
func (c *Conn) recv(fd uintptr) (empty bool) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rhdr[0])),
			uintptr(c.rwant), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			c.rn = int(r)
			return false
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return true
		}
		c.rerr = e
		return false
	}
}

// readNetpoll is the RawConn.Read callback in netpoll mode: false asks the
// netpoller to park us until the socket is readable.
func (c *Conn) readNetpoll(fd uintptr) bool {
	if c.recv(fd) {
		c.sleeps.Store(c.sleeps.Load() + 1)
		return false
	}
	return true
}

// readPollWait arms the read deadline (only when it changed: re-arming a
// runtime timer per call is measurable) and reads through the netpoller.
func (c *Conn) readPollWait() error {
	if !c.rdlValid || !c.rdlArmed.Equal(c.rdl) {
		if err := c.f.SetReadDeadline(c.rdl); err != nil {
			return err
		}
		c.rdlArmed, c.rdlValid = c.rdl, true
	}
	// Checked after arming: a Wake that came before we armed set the flag,
	// one that comes after will find the deadline to cut short.
	if c.wake.Load() {
		c.rstat = rsWoken
		return nil
	}
	err := c.rc.Read(c.readFn)
	if err == os.ErrDeadlineExceeded {
		c.rdlValid = false // Wake may have moved it; re-arm next call
		if c.wake.Load() || c.rdl.IsZero() || time.Now().Before(c.rdl) {
			c.rstat = rsWoken
		} else {
			c.rstat = rsDeadline
		}
		return nil
	}
	return err
}

// readThread is the RawConn.Read callback in thread mode: it never returns
// false, sleeping in ppoll on this OS thread instead of the netpoller.
func (c *Conn) readThread(fd uintptr) bool {
	for {
		if !c.recv(fd) {
			return true
		}
		if c.closed.Load() {
			c.rstat = rsClosed
			return true
		}
		if c.wake.Load() {
			c.rstat = rsWoken
			return true
		}
		c.rtsp = 0
		if !c.rdl.IsZero() {
			d := time.Until(c.rdl)
			if d <= 0 {
				c.rstat = rsDeadline
				return true
			}
			c.rts = unix.NsecToTimespec(int64(d))
			c.rtsp = uintptr(unsafe.Pointer(&c.rts))
		}
		c.rpfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		c.sleeps.Store(c.sleeps.Load() + 1)
		// Control holds a reference on the eventfd so Close cannot recycle
		// its number while we sleep on it.
		if c.erc.Control(c.pollFn) != nil {
			c.rstat = rsClosed
			return true
		}
		if e := c.rpollErr; e != 0 && e != unix.EINTR {
			c.rerr = e
			return true
		}
	}
}

// pollThread sleeps in ppoll on the socket and the eventfd (called under
// erc.Control with the eventfd's number). A readable eventfd is drained: the
// wake flag, not the counter, carries the request.
func (c *Conn) pollThread(efd uintptr) {
	c.rpfd[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&c.rpfd[0])), 2, c.rtsp, 0, 0, 0)
	c.rpollErr = e
	if e == 0 && c.rpfd[1].Revents&unix.POLLIN != 0 {
		unix.Syscall(unix.SYS_READ, efd, uintptr(unsafe.Pointer(&c.sink[0])), 8)
	}
}

// kick adds 1 to the eventfd (called under erc.Control).
func (c *Conn) kick(efd uintptr) {
	unix.Syscall(unix.SYS_WRITE, efd, uintptr(unsafe.Pointer(&c.one[0])), 8)
}

// Wake makes a ReadBatch sleeping on c (or the next one to call) return
// ErrWakeup. Safe from any goroutine; calls while a wake is pending cost one
// atomic load.
func (c *Conn) Wake() {
	if c.wake.Load() || c.wake.Swap(true) {
		return
	}
	if c.mode == WaitThread {
		_ = c.erc.Control(c.wakeFn) // fails only once closed, when nobody sleeps
		return
	}
	// A deadline in the past cuts the netpoller sleep short; the reader
	// re-arms its own deadline on the next call. Fails only once closed.
	_ = c.f.SetReadDeadline(aLongTimeAgo)
}

var aLongTimeAgo = time.Unix(1, 0)

// WriteBatch sends msgs[i].Buf[:N] to msgs[i].Addr for every message, in
// order, in as many sendmmsg calls as it takes (partial sends are resumed),
// and returns how many datagrams the kernel accepted. Datagrams the kernel
// refuses one by one are skipped and reported by a *DropError (owned by c,
// valid until the next WriteBatch); any other error is fatal for the socket
// (net.ErrClosed once closed). With GSO on, runs to one peer go out as
// UDP_SEGMENT messages; if the kernel answers EIO, GSO is turned off for c
// (see Conn.GSO) and the run is resent without it.
func (c *Conn) WriteBatch(msgs []Message) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	sent, dropped := 0, 0
	var firstDrop error
	for len(msgs) > 0 {
		chunk := msgs[:min(len(msgs), c.batch)]
		gso := c.gso.Load()
		c.wend = planRuns(chunk, gso, gsoMaxSegments, gsoMaxBytes, gsoMaxSegment, c.runs)
		c.fillWrite(chunk)
		c.wi, c.werr = 0, 0
		if err := c.rc.Write(c.writeFn); err != nil {
			if c.closed.Load() {
				return sent, net.ErrClosed
			}
			return sent, err
		}
		done := 0 // datagrams of chunk dealt with
		if c.wi > 0 {
			done = int(c.runs[c.wi-1].end)
		}
		sent += done
		if c.werr != 0 {
			r := c.runs[c.wi]
			switch writeErrorKind(c.werr, r.seg > 0) {
			case errKindGSO:
				// Turn GSO off for good on this socket and resend the
				// run (and the rest) one datagram per message.
				c.gsoErr = os.NewSyscallError("sendmmsg UDP_SEGMENT", c.werr)
				c.gso.Store(false)
				msgs = msgs[done:]
				continue
			case errKindDrop:
				dropped += int(r.end - r.start)
				if firstDrop == nil {
					firstDrop = c.werr
				}
				done = int(r.end)
			case errKindClosed:
				return sent, net.ErrClosed
			default:
				return sent, os.NewSyscallError("sendmmsg", c.werr)
			}
		}
		msgs = msgs[done:]
	}
	if dropped > 0 {
		c.drop = DropError{Dropped: dropped, Err: firstDrop}
		return sent, &c.drop
	}
	return sent, nil
}

// fillWrite points the prepared headers at the caller's buffers, one header
// per run and one iovec per datagram (a GSO run gathers its datagrams'
// buffers, so nothing is copied).
func (c *Conn) fillWrite(msgs []Message) {
	for i := range msgs {
		b := msgs[i].Buf[:msgs[i].N]
		c.wiov[i].Base = unsafe.SliceData(b)
		c.wiov[i].SetLen(len(b))
	}
	for k := range c.wend {
		r := c.runs[k]
		h := &c.whdr[k].Hdr
		h.Iov = &c.wiov[r.start]
		h.SetIovlen(int(r.end - r.start))
		h.Namelen = encodeSockaddr(&c.wname[k], msgs[r.start].Addr, c.v6)
		if n := fillControl(&c.wcmsg[k], int(r.seg), msgs[r.start].Local, c.v6); n > 0 {
			h.Control = (*byte)(unsafe.Pointer(&c.wcmsg[k]))
			h.SetControllen(n)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
	}
}

// writeOnce is the RawConn.Write callback: sendmmsg from run wi until all
// runs are out or one fails (werr, failing run wi).
func (c *Conn) writeOnce(fd uintptr) bool {
	for c.wi < c.wend {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.whdr[c.wi])),
			uintptr(c.wend-c.wi), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			c.wi += int(r)
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if c.mode != WaitThread {
				return false // park in the netpoller until writable
			}
			c.wfd = fd
			if c.closed.Load() || c.erc.Control(c.pollWFn) != nil {
				c.werr = unix.EBADF
				return true
			}
			continue
		}
		c.werr = e
		return true
	}
	return true
}

// pollWritable sleeps until the socket (wfd) is writable or the eventfd
// fires (Close, or a Wake meant for the reader: the wake flag keeps that
// wake, so draining the counter here is safe). Called under erc.Control.
func (c *Conn) pollWritable(efd uintptr) {
	c.wpfd[0] = unix.PollFd{Fd: int32(c.wfd), Events: unix.POLLOUT}
	c.wpfd[1] = unix.PollFd{Fd: int32(efd), Events: unix.POLLIN}
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&c.wpfd[0])), 2, 0, 0, 0, 0)
	if e == 0 && c.wpfd[1].Revents&unix.POLLIN != 0 {
		var b [8]byte
		unix.Syscall(unix.SYS_READ, efd, uintptr(unsafe.Pointer(&b[0])), 8)
	}
}

// Close closes the socket. A reader sleeping in ReadBatch returns
// net.ErrClosed. Safe to call more than once and from any goroutine.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.mode == WaitThread {
		// Kick a reader out of ppoll first: os.File.Close waits for
		// in-flight calls on a non-blocking fd.
		_ = c.erc.Control(c.wakeFn)
	}
	err := c.f.Close()
	if c.efd != nil {
		_ = c.efd.Close() // after f: no ppoll can still be using it
	}
	return err
}

// decodeSockaddr converts a kernel-written sockaddr_in/sockaddr_in6 to an
// AddrPort without allocating. IPv4-mapped IPv6 addresses are unmapped so
// Route sees one form; the IPv6 scope id is dropped (a zone would allocate).
func decodeSockaddr(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), port)
	}
	return netip.AddrPort{}
}

// encodeSockaddr writes ap as the socket's family and returns the length. An
// address the socket cannot reach (invalid, or IPv6 on an IPv4 socket) is
// written as AF_UNSPEC so the kernel refuses that one datagram.
func encodeSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, v6 bool) uint32 {
	addr := ap.Addr()
	port := ap.Port()
	if v6 && addr.IsValid() {
		sa.Family = unix.AF_INET6
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.Flowinfo = 0
		sa.Addr = addr.As16()
		sa.Scope_id = 0
		return unix.SizeofSockaddrInet6
	}
	sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
	if !addr.Is4() && !addr.Is4In6() {
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_UNSPEC}
		return unix.SizeofSockaddrInet4
	}
	sa4.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa4.Addr = addr.Unmap().As4()
	sa4.Zero = [8]uint8{}
	return unix.SizeofSockaddrInet4
}

var nativeBigEndian = func() bool {
	x := uint16(1)
	return (*[2]byte)(unsafe.Pointer(&x))[0] == 0
}()
