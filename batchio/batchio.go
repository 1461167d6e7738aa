package batchio

import (
	"crypto/rand"
	"errors"
	"net/netip"
	"strconv"
)

// Message is one datagram slot of a batch. Buf is the caller's buffer and
// stays the caller's: ReadBatch fills Buf[:N] and sets Addr; WriteBatch sends
// Buf[:N] to Addr (0 <= N <= cap(Buf), or it panics).
type Message struct {
	Buf  []byte
	N    int
	Addr netip.AddrPort // received: source (IPv4-mapped addresses unmapped, zone dropped); sent: destination
	// Truncated reports that the datagram was longer than Buf and was cut
	// (MSG_TRUNC); the caller should drop it with a reason counter.
	Truncated bool
	// Sock names the socket of a Set: received, the member it came in on
	// (0 for the Set's main Conn, and always 0 from a Conn); sent, the
	// member to send it from (0: the main Conn).
	Sock uint32
	// Local is, received, the address the datagram was sent to, and, sent,
	// the source address to send it from (IP_PKTINFO). Only with
	// Options.PacketInfo; the zero Addr otherwise, and a zero Local sends
	// from whatever address the kernel picks.
	Local netip.Addr
}

// WaitMode selects how a reader sleeps when its socket is empty.
type WaitMode uint8

const (
	// WaitDefault is the mode that measured best: WaitNetpoll
	// (bench/RESULTS.md, "batchio", 2026-11-22).
	WaitDefault WaitMode = iota
	// WaitNetpoll parks the goroutine in Go's netpoller (RawConn.Read with a
	// non-blocking recvmmsg callback; deadlines and Wake via SetReadDeadline).
	// A sleeping reader holds no P, so other goroutines run at once.
	WaitNetpoll
	// WaitThread sleeps in ppoll(socket, eventfd) on the calling OS thread;
	// Wake writes the eventfd. It measured no cheaper per datagram, slower to
	// wake, and a reader asleep in ppoll keeps its P until sysmon retakes it
	// (20 us to 10 ms), stalling other goroutines when GOMAXPROCS is small.
	// Kept for boxes with cores to spare and for re-running the comparison.
	WaitThread
)

func (m WaitMode) String() string {
	switch m {
	case WaitNetpoll:
		return "netpoll"
	case WaitThread:
		return "thread"
	}
	return "default"
}

// Options configures Open. The zero value opens one socket with kernel
// default buffers, no steering, no GSO and batches of DefaultBatch.
type Options struct {
	Sockets    int  // sockets in the reuseport group (one per shard); 0 means 1
	RecvBuffer int  // SO_RCVBUF bytes to request; 0 leaves the kernel default
	SendBuffer int  // SO_SNDBUF bytes to request; 0 leaves the kernel default
	Steering   bool // attach the reuseport steering program (see Route)
	GSO        bool // coalesce runs to one peer with UDP_SEGMENT when the kernel has it
	Batch      int  // max datagrams per syscall; 0 means DefaultBatch, capped at MaxBatch
	Wait       WaitMode
	// PacketInfo reports each received datagram's destination address in
	// Message.Local and sends from Message.Local: for wildcard binds on
	// hosts with several addresses, so replies leave from the address the
	// client sent to (Linux; ignored elsewhere).
	PacketInfo bool
}

const (
	// DefaultBatch is the batch size when Options.Batch is 0.
	DefaultBatch = 64
	// MaxBatch caps Options.Batch; the kernel caps a recvmmsg/sendmmsg vector
	// at UIO_MAXIOV (1024) anyway.
	MaxBatch = 1024
)

func (o *Options) normalize() {
	if o.Sockets <= 0 {
		o.Sockets = 1
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch > MaxBatch {
		o.Batch = MaxBatch
	}
}

// Facts describes what the kernel granted a Group at Open.
type Facts struct {
	Addr    netip.AddrPort // bound address (port resolved when 0 was asked)
	Sockets int
	Batch   int
	Wait    WaitMode // the mode in use (never WaitDefault)

	// Granted buffer sizes as getsockopt reports them: the kernel doubles the
	// request for its bookkeeping and, unless the *BUFFORCE option was
	// accepted (needs CAP_NET_ADMIN), clamps it to net.core.rmem_max/wmem_max.
	RecvBuffer, SendBuffer int
	BufferForced           bool // SO_RCVBUFFORCE/SO_SNDBUFFORCE accepted

	Steering       bool   // the steering program is attached to the group
	PacketInfo     bool   // datagrams carry their destination; sends name their source (Options.PacketInfo)
	SteeringReason string // why not, when Steering is false

	GSOSupported bool   // UDP_SEGMENT probe succeeded
	GROSupported bool   // UDP_GRO probe succeeded (probed and reported only; GRO is never enabled)
	GSO          bool   // GSO in use at Open (asked, supported, not killed by EQGATE_NO_GSO)
	GSOReason    string // why not, when GSO is false
}

// Errors. A ReadBatchUntil that returns no datagrams returns ErrWakeup or
// os.ErrDeadlineExceeded; a closed Conn returns net.ErrClosed.
var (
	// ErrWakeup: Wake was called (or a wake raced a previous return; wakes
	// may be spurious, never lost).
	ErrWakeup = errors.New("batchio: woken")
	// ErrAddrInUse: Open's port is held by another socket, such as another
	// process's reuseport group, which a reuseport bind would silently join.
	ErrAddrInUse = errors.New("address already in use")
	// ErrNotSupported: the platform cannot do what Options asked.
	ErrNotSupported = errors.New("batchio: not supported on this platform")
)

// DropError reports datagrams WriteBatch dropped because the kernel refused
// them one by one (unreachable, too big, bad address, filtered); the rest of
// the batch was sent. It is not fatal. The value is owned by the Conn and is
// valid until its next WriteBatch, so no error allocates on the hot path.
type DropError struct {
	Dropped int   // datagrams dropped in this WriteBatch
	Err     error // the first cause
}

func (e *DropError) Error() string {
	return "batchio: dropped " + strconv.Itoa(e.Dropped) + " datagrams: " + e.Err.Error()
}

func (e *DropError) Unwrap() error { return e.Err }

// Route's constants: odd multipliers and xor seeds drawn per process, so a
// flood cannot be aimed at one shard by precomputing endpoints (DESIGN.md,
// "Admission"). The steering program is built from the same values.
var routeK1, routeK2, routeK3, routeS1, routeS2 = routeConstants()

func routeConstants() (k1, k2, k3, s1, s2 uint32) {
	var b [20]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	w := func(i int) uint32 { return be32(b[4*i:]) }
	return w(0) | 1, w(1) | 1, w(2) | 1, w(3), w(4)
}

// Route is the hash of a client endpoint that decides its owner shard, fixed
// for the process. The reuseport steering program computes exactly this, in
// 32-bit arithmetic:
//
//	a = IPv4 address as a big-endian uint32
//	    (IPv6: the xor of its four big-endian 32-bit words)
//	h = (a^S1)*K1 ^ (port^S2)*K2
//	h ^= h >> 16; h *= K3; h ^= h >> 15
//
// IPv4-mapped IPv6 addresses hash as the IPv4 address; zones are ignored.
func Route(ap netip.AddrPort) uint32 {
	addr := ap.Addr()
	var a uint32
	if addr.Is4() || addr.Is4In6() {
		b := addr.As16() // As16 works for both and does not allocate
		a = be32(b[12:16])
	} else {
		b := addr.As16()
		a = be32(b[0:4]) ^ be32(b[4:8]) ^ be32(b[8:12]) ^ be32(b[12:16])
	}
	h := (a^routeS1)*routeK1 ^ (uint32(ap.Port())^routeS2)*routeK2
	h ^= h >> 16
	h *= routeK3
	h ^= h >> 15
	return h
}

// Owner is the index of the socket (and shard) that owns ap in a group of n:
// Route(ap) % n, the same function the kernel runs when steering is attached.
func Owner(ap netip.AddrPort, n int) int {
	return int(Route(ap) % uint32(n))
}

func be32(b []byte) uint32 {
	_ = b[3] // one bounds check
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// GSO limits. UDP_MAX_SEGMENTS is 64 in older kernels (include/linux/udp.h,
// raised to 128 in 6.9); a datagram is at most 65535 bytes of IP payload
// (minus the IPv4 header); a segment must fit the path MTU, and 1452 fits a
// 1500-byte MTU for IPv6 and IPv4 alike.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65507
	gsoMaxSegment  = 1452
)

// run is one outgoing message: msgs[start:end] to one peer. seg > 0 means the
// run goes out as one UDP_SEGMENT message of that segment size.
type run struct {
	start, end int32
	seg        int32
}

// planRuns splits msgs into runs. With gso on, consecutive datagrams to the
// same peer with equal sizes (the last of a run may be shorter) become one
// run, within the segment count, byte and segment-size limits. A run of one
// has seg 0 (no control message). It fills out and returns how many runs it
// used; out must have room for len(msgs) runs. Pure, so it is tested on any OS.
func planRuns(msgs []Message, gso bool, maxSegs, maxBytes, maxSeg int, out []run) int {
	n := 0
	for i := 0; i < len(msgs); {
		seg := msgs[i].N
		j := i + 1
		if gso && seg > 0 && seg <= maxSeg {
			total := seg
			for j < len(msgs) && j-i < maxSegs {
				m := &msgs[j]
				if m.N <= 0 || m.N > seg || total+m.N > maxBytes || m.Addr != msgs[i].Addr || m.Local != msgs[i].Local {
					break
				}
				total += m.N
				j++
				if m.N < seg { // a short segment ends the run
					break
				}
			}
		}
		r := run{start: int32(i), end: int32(j)}
		if j-i > 1 {
			r.seg = int32(seg)
		}
		out[n] = r
		n++
		i = j
	}
	return n
}
