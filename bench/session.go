package bench

import (
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate"
)

// entry is one sent, not yet retired message of a stream's window.
type entry struct {
	seq    uint32
	size   int32
	sent   int64 // runner clock, ns
	echoed bool
}

// window is a FIFO of a stream's outstanding messages, oldest first, with
// consecutive sequence numbers: entry k has sequence front+k.
type window struct {
	ring  []entry
	head  int
	n     int
	front uint32 // sequence number of the oldest entry (when n > 0)
	next  uint32 // next sequence number to send
}

func (w *window) at(k int) *entry { return &w.ring[(w.head+k)%len(w.ring)] }

func (w *window) push(e entry) {
	if w.n == 0 {
		w.front = e.seq
	}
	w.ring[(w.head+w.n)%len(w.ring)] = e
	w.n++
}

func (w *window) pop() {
	w.ring[w.head] = entry{}
	w.head = (w.head + 1) % len(w.ring)
	w.n--
	w.front++
}

// counters are a session's totals, written by its shard goroutine and read
// by the sampler.
type counters struct {
	sent, echoed, lost, dup, corrupt, misorder, sendErrors atomic.Uint64
	bytesOut, bytesIn                                      atomic.Uint64
}

// session is one client session's load and checker state. Everything but
// c, done and wantTick is owned by the session's shard goroutine (Handler
// callbacks and posted pumps); the runner reads it only after Client.Close
// has returned.
type session struct {
	r    *runner
	idx  uint32
	conn *eqgate.Conn // set by the dialer after Dial returns; runner only

	c        counters
	done     atomic.Bool // finished sending and nothing outstanding (or closed)
	wantTick atomic.Bool // window mode: the scheduler must pump (after a send error)

	// shard goroutine only
	sess        eqgate.Session
	open        bool
	closed      bool // closed by the peer or a timeout, not by the runner
	closeReason eqgate.CloseReason
	signaled    bool
	streams     []window
	nextStream  int
	sent        uint64 // messages sent so far
	outstanding int
	phase       int64 // rate mode: offset of this session's first burst, ns
	buf         []byte
	pumpFn      func() // s.pump, allocated once for Conn.Post
}

func newSession(r *runner, idx int) *session {
	s := &session{r: r, idx: uint32(idx)}
	o := &r.opt
	s.streams = make([]window, o.Streams)
	for i := range s.streams {
		s.streams[i].ring = make([]entry, o.Window)
	}
	s.buf = make([]byte, o.Sizes.Largest())
	if o.Rate > 0 {
		period := float64(o.Burst) / o.Rate * 1e9
		s.phase = int64(float64(splitmixAt(uint64(o.Seed)^uint64(idx)*0x2545F4914F6CDD1D)%1e6) / 1e6 * period)
	}
	s.pumpFn = s.pump
	return s
}

func splitmixAt(x uint64) uint64 { return splitmix(&x) }

// Handler callbacks (shard goroutine).

func (s *session) OnOpen(es eqgate.Session) {
	s.sess = es
	s.open = true
}

func (s *session) OnClose(_ eqgate.Session, reason eqgate.CloseReason) {
	s.open = false
	if !s.r.closing.Load() {
		s.closed = true
		s.closeReason = reason
		s.r.sessionsLost.Add(1)
	}
	s.signalDone()
}

func (s *session) OnMessage(_ eqgate.Session, stream int, data []byte) {
	now := s.r.now()
	h, ok := parseHeader(data)
	if !ok || h.session != s.idx || h.stream >= len(s.streams) {
		s.c.corrupt.Add(1)
		return
	}
	if !s.r.opt.Unreliable && stream != h.stream {
		// Delivered on another stream than it was sent on: the content may
		// be intact, but the server broke stream separation.
		s.c.corrupt.Add(1)
		return
	}
	w := &s.streams[h.stream]
	k := int32(h.seq - w.front)
	if w.n == 0 || k < 0 || int(k) >= w.n {
		if int32(h.seq-w.next) < 0 {
			// Sent before and already retired: echoed or declared lost.
			s.c.dup.Add(1)
		} else {
			// Never sent: the sequence field itself is damaged.
			s.c.corrupt.Add(1)
		}
		return
	}
	e := w.at(int(k))
	if e.echoed {
		s.c.dup.Add(1)
		return
	}
	e.echoed = true
	if int(e.size) != h.length || !fillOK(data, h) {
		s.c.corrupt.Add(1)
	} else {
		if k != 0 && !s.r.opt.Unreliable {
			s.c.misorder.Add(1)
		}
		s.r.hist.Record(time.Duration(now - e.sent))
		s.c.echoed.Add(1)
		s.c.bytesIn.Add(uint64(len(data)))
	}
	for w.n > 0 && w.at(0).echoed {
		w.pop()
		s.outstanding--
	}
	s.pumpAt(now)
}

// pump sends what is due; posted by the scheduler and the runner.
func (s *session) pump() { s.pumpAt(s.r.now()) }

func (s *session) pumpAt(now int64) {
	if !s.open {
		return
	}
	o := &s.r.opt
	if o.Unreliable {
		s.expire(now)
	}
	target := s.target(now)
	for s.sent < target && s.outstanding < o.Window {
		st := s.nextStream
		w := &s.streams[st]
		seq := w.next
		size := o.Sizes.pick(splitmixAt(uint64(o.Seed) ^ uint64(s.idx)<<36 ^ uint64(st)<<32 ^ uint64(seq)))
		p := buildPayload(s.buf, o.Fill, s.idx, st, seq, size)
		if err := s.sess.Send(st, p, !o.Unreliable); err != nil {
			s.c.sendErrors.Add(1)
			if !s.wantTick.Swap(true) {
				s.r.wantTicks.Add(1)
			}
			break
		}
		s.nextStream = (st + 1) % len(s.streams)
		w.push(entry{seq: seq, size: int32(size), sent: now})
		w.next++
		s.sent++
		s.outstanding++
		s.c.sent.Add(1)
		s.c.bytesOut.Add(uint64(size))
	}
	if s.outstanding == 0 && s.sent >= target && s.finishedSending() {
		s.signalDone()
	}
}

// target is how many messages this session should have sent by now.
func (s *session) target(now int64) uint64 {
	o := &s.r.opt
	limit := uint64(1<<63 - 1)
	if o.Count > 0 {
		limit = uint64(o.Count)
	}
	if s.r.stopped.Load() {
		return s.sent
	}
	if o.Rate <= 0 {
		return limit
	}
	el := now - s.r.t0.Load() - s.phase
	if el < 0 {
		return 0
	}
	bursts := uint64(float64(el)*o.Rate/float64(o.Burst)/1e9) + 1
	return min(bursts*uint64(o.Burst), limit)
}

func (s *session) finishedSending() bool {
	return s.r.stopped.Load() || (s.r.opt.Count > 0 && s.sent >= uint64(s.r.opt.Count))
}

// expire retires unreliable messages older than the grace period as lost.
func (s *session) expire(now int64) {
	grace := int64(s.r.opt.Grace)
	for i := range s.streams {
		w := &s.streams[i]
		for w.n > 0 {
			e := w.at(0)
			if !e.echoed {
				if now-e.sent < grace {
					break
				}
				s.c.lost.Add(1)
			}
			w.pop()
			s.outstanding--
		}
	}
}

func (s *session) signalDone() {
	if s.signaled {
		return
	}
	s.signaled = true
	s.done.Store(true)
	s.r.sessionDone()
}

// settle counts what is still outstanding as lost; only after the shard
// goroutine has exited (Client.Close returned) or never started.
func (s *session) settle() {
	for i := range s.streams {
		w := &s.streams[i]
		for w.n > 0 {
			if !w.at(0).echoed {
				s.c.lost.Add(1)
			}
			w.pop()
		}
	}
	s.outstanding = 0
}
