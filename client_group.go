package eqgate

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate/batchio"
)

// A Client's shard keys sessions by peer endpoint, so two sessions to one
// server must come from two sockets and still look like two endpoints to
// the shard. Each session ("line") therefore has its own socket, bound to
// an ephemeral port, and the shard sees it under a virtual address that
// names the line: fd65:7167:7465::<line>, port = the server's port. The
// fan socket below is the shard's Socket: it gathers what the lines' reader
// goroutines received (each parked in the netpoller, so idle lines cost no
// thread and no CPU) and sends what the shard writes through the socket of
// the line its virtual address names, to the real server.

// virtPrefix is the first 12 bytes of every virtual address (a ULA prefix
// no real peer of a client socket uses).
var virtPrefix = [12]byte{0xfd, 0x65, 0x71, 0x67, 0x74, 0x65}

func virtAddr(line uint32, port uint16) netip.AddrPort {
	var a [16]byte
	copy(a[:], virtPrefix[:])
	a[12], a[13], a[14], a[15] = byte(line>>24), byte(line>>16), byte(line>>8), byte(line)
	return netip.AddrPortFrom(netip.AddrFrom16(a), port)
}

// lineOf decodes a virtual address; false for any other address.
func lineOf(ap netip.AddrPort) (uint32, bool) {
	a := ap.Addr()
	if !a.Is6() || a.Is4In6() {
		return 0, false
	}
	b := a.As16()
	if [12]byte(b[:12]) != virtPrefix {
		return 0, false
	}
	return uint32(b[12])<<24 | uint32(b[13])<<16 | uint32(b[14])<<8 | uint32(b[15]), true
}

// line is one client session's socket.
type line struct {
	id     uint32
	sock   *batchio.Conn
	bg     *batchio.Group
	remote netip.AddrPort // the real server
	virt   netip.AddrPort // how the shard knows it
	conn   *Conn
	done   chan struct{} // closed when the reader goroutine has exited

	// Owned by the shard goroutine.
	closing bool // socket close scheduled or done
}

// fanSocket is a Client shard's shard.Socket over many line sockets.
type fanSocket struct {
	cs *clientShard

	mu      sync.Mutex
	q       []fanItem // FIFO ring of received datagrams
	head, n int
	free    [][]byte
	nbufs   int
	maxBufs int
	bufSize int

	wake  chan struct{} // capacity 1: a pending wake or arrival
	timer *time.Timer   // shard goroutine only

	drops     atomic.Uint64 // datagrams a reader could not queue (fan queue full)
	discarded atomic.Uint64 // datagrams the shard wrote to a line already closed

	// Shard goroutine only.
	closeQ []*line // lines whose sockets close at the next read, after the flush
	run    []batchio.Message
	dropE  batchio.DropError
}

type fanItem struct {
	b     []byte
	n     int
	trunc bool
	addr  netip.AddrPort
}

func newFanSocket(maxBufs, bufSize int) *fanSocket {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &fanSocket{
		q:       make([]fanItem, maxBufs),
		maxBufs: maxBufs,
		bufSize: bufSize,
		wake:    make(chan struct{}, 1),
		timer:   t,
	}
}

func (f *fanSocket) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Wake implements shard.Socket.
func (f *fanSocket) Wake() { f.signal() }

// push queues what a line's reader received. Called by reader goroutines.
func (f *fanSocket) push(ln *line, msgs []batchio.Message) {
	f.mu.Lock()
	for i := range msgs {
		m := &msgs[i]
		if f.n == len(f.q) {
			f.drops.Add(uint64(len(msgs) - i))
			break
		}
		var b []byte
		if k := len(f.free); k > 0 {
			b = f.free[k-1]
			f.free = f.free[:k-1]
		} else {
			b = make([]byte, f.bufSize)
			f.nbufs++
		}
		n := copy(b, m.Buf[:m.N])
		addr := m.Addr
		if addr == ln.remote {
			addr = ln.virt
		} // else: a stranger; the shard drops it as an unknown endpoint
		f.q[(f.head+f.n)%len(f.q)] = fanItem{b: b, n: n, trunc: m.Truncated || n < m.N, addr: addr}
		f.n++
	}
	f.mu.Unlock()
	f.signal()
}

// ReadBatchUntil implements shard.Socket: the queued datagrams, or a wait
// for the first one, a Wake or the deadline.
func (f *fanSocket) ReadBatchUntil(msgs []batchio.Message, deadline time.Time) (int, error) {
	// The shard flushed the previous iteration's datagrams before calling
	// here, so lines whose session ended may close now.
	f.closeLines()
	if n := f.pop(msgs); n > 0 {
		return n, nil
	}
	var tc <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		f.timer.Reset(d)
		tc = f.timer.C
	}
	select {
	case <-f.wake:
		f.timer.Stop()
		if n := f.pop(msgs); n > 0 {
			return n, nil
		}
		return 0, batchio.ErrWakeup
	case <-tc:
		return 0, os.ErrDeadlineExceeded
	}
}

func (f *fanSocket) pop(msgs []batchio.Message) int {
	f.mu.Lock()
	k := 0
	for ; k < len(msgs) && f.n > 0; k++ {
		it := &f.q[f.head]
		m := &msgs[k]
		m.N = copy(m.Buf, it.b[:it.n])
		m.Truncated = it.trunc || m.N < it.n
		m.Addr = it.addr
		f.free = append(f.free, it.b)
		*it = fanItem{}
		f.head = (f.head + 1) % len(f.q)
		f.n--
	}
	f.mu.Unlock()
	return k
}

// WriteBatch implements shard.Socket: each run of datagrams for one line
// goes out with one sendmmsg on that line's socket.
func (f *fanSocket) WriteBatch(msgs []batchio.Message) (int, error) {
	sent, dropped := 0, 0
	var first error
	for i := 0; i < len(msgs); {
		j := i + 1
		for j < len(msgs) && msgs[j].Addr == msgs[i].Addr {
			j++
		}
		run := msgs[i:j]
		i = j
		id, ok := lineOf(run[0].Addr)
		ln := f.cs.lines[id]
		if !ok || ln == nil {
			// A closed session's linger (or a stray address): nobody
			// listens any more, so the datagrams go nowhere on purpose.
			f.discarded.Add(uint64(len(run)))
			sent += len(run)
			continue
		}
		for k := range run {
			run[k].Addr = ln.remote
		}
		n, err := ln.sock.WriteBatch(run)
		sent += n
		if err != nil {
			dropped += len(run) - n
			if first == nil {
				first = err
			}
		}
	}
	if dropped > 0 {
		f.dropE = batchio.DropError{Dropped: dropped, Err: first}
		return sent, &f.dropE
	}
	return sent, nil
}

// scheduleClose closes ln's socket at the next read (shard goroutine).
func (f *fanSocket) scheduleClose(ln *line) {
	if ln.closing {
		return
	}
	ln.closing = true
	f.closeQ = append(f.closeQ, ln)
}

func (f *fanSocket) closeLines() {
	for i, ln := range f.closeQ {
		delete(f.cs.lines, ln.id)
		_ = ln.bg.Close() // the reader sees net.ErrClosed and exits
		f.closeQ[i] = nil
	}
	f.closeQ = f.closeQ[:0]
}

// reader is a line's receive goroutine: it sleeps in the netpoller until
// the line's socket has datagrams, then queues them for the shard. It returns
// when the socket is closed; its caller then closes ln.done.
func (f *fanSocket) reader(ln *line, batch, bufSize int) {
	msgs := make([]batchio.Message, batch)
	backing := make([]byte, batch*bufSize)
	for i := range msgs {
		msgs[i].Buf = backing[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
	}
	fails := 0
	for {
		n, err := ln.sock.ReadBatchUntil(msgs, time.Time{})
		if n > 0 {
			f.push(ln, msgs[:n])
			fails = 0
			continue
		}
		switch {
		case err == nil, errors.Is(err, batchio.ErrWakeup), errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, net.ErrClosed):
			return
		default:
			// A kernel error on a datagram socket is transient (ENOMEM);
			// a socket that keeps failing is given up, and its session
			// times out like one whose server went silent.
			if fails++; fails > 100 {
				return
			}
		}
	}
}
