package shard

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/eqgate/eqgate/batchio"
	"github.com/eqgate/eqgate/pool"
	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/ring"
)

// Socket is what a shard needs from its socket; *batchio.Conn implements
// it, and tests substitute an in-memory batch. The contract is batchio's:
// ReadBatchUntil fills msgs[i].Buf[:N], Addr and Truncated and returns how
// many, or (0, batchio.ErrWakeup | os.ErrDeadlineExceeded | net.ErrClosed);
// WriteBatch sends msgs[i].Buf[:N] to Addr and may report per-datagram
// refusals with a *batchio.DropError; Wake ends a sleeping ReadBatchUntil
// (or the next one) from any goroutine.
type Socket interface {
	ReadBatchUntil(msgs []batchio.Message, deadline time.Time) (int, error)
	WriteBatch(msgs []batchio.Message) (int, error)
	Wake()
}

var _ Socket = (*batchio.Conn)(nil)

// Handler receives session events on the shard goroutine. Message data is
// valid only during the call.
type Handler interface {
	Open(sh *Shard, id ID)
	Message(sh *Shard, id ID, stream int, data []byte)
	Close(sh *Shard, id ID, reason proto.CloseReason)
}

// Role is the side a shard's sessions play.
type Role uint8

const (
	RoleServer Role = iota // accept SessionRequests from any endpoint
	RoleClient             // only sessions opened with Dial; other endpoints are dropped
)

// Errors.
var (
	ErrNoSession = errors.New("eqgate: no such session (closed or never opened)")
	ErrInboxFull = errors.New("eqgate: shard inbox full")
	ErrClosed    = errors.New("eqgate: closed")
	ErrBadStream = errors.New("eqgate: stream out of range 0..3")
	ErrTooBig    = errors.New("eqgate: application packet too large")
	ErrSendQueue = errors.New("eqgate: session send queue full")
)

// handoff is a datagram that arrived on another shard's socket: the buffer
// stays in its origin shard's pool and comes back over the return ring.
type handoff struct {
	b     []byte      // the datagram, in a buffer of the origin shard
	buf   pool.Handle // that buffer's handle in the origin shard's pool
	addr  netip.AddrPort
	local netip.Addr // where it was sent to (packet info), or zero
}

// inboxKind says what an inbox item asks for.
type inboxKind uint8

const (
	inboxSend inboxKind = iota
	inboxSendUnreliable
	inboxClose
	inboxPost
)

type inboxItem struct {
	kind   inboxKind
	stream int8
	id     ID
	data   []byte
	fn     func()
}

// Shard is one engine shard: a goroutine that owns a socket, a session
// table, a timer wheel, buffers and counters. Methods documented "owner
// only" must run on the shard goroutine (inside a Handler callback or a
// Posted function); the others are safe from any goroutine.
type Shard struct {
	counters Counters // first: keeps every Counter 64-bit aligned (counter.go)

	// Read by other goroutines (peers, senders, the collector) and written
	// only at construction: on cache lines of their own, so that the
	// owner's per-datagram writes below never invalidate them for readers.
	_         cachePad
	idx       int
	n         int // shards in the group
	g         *Group
	cfg       *Config
	sock      Socket
	inbox     *ring.MPSC[inboxItem]
	handoffIn []*ring.SPSC[handoff]     // [peer] datagrams from peer's socket
	returnIn  []*ring.SPSC[pool.Handle] // [peer] this shard's buffers coming back
	credits   credits                   // send queue credit words (sendq.go)
	done      chan struct{}

	// Written by the owner once per loop iteration (sleeping) or once at
	// all (stop), read by every push: one line of their own.
	_        cachePad
	sleeping atomic.Bool
	stop     atomic.Bool
	_        cachePad

	// Owner only from here on.
	h     Handler
	epoch time.Time
	now   proto.Nanotime

	// Receive slots and this shard's datagram buffers. rx[:rxN] hold
	// buffers (handles in rxH); a handoff that finds the pool empty leaves
	// its slot without one (rxHoles) until buffers come back, and the next
	// read simply asks the kernel for fewer datagrams.
	rx      []batchio.Message
	rxH     []pool.Handle
	rxN     int
	rxHoles bool
	bufs    *pool.Pool
	lent    []int // buffers lent to each peer shard, not yet returned

	// Transmit batch.
	tx  []batchio.Message
	txN int

	// Sessions.
	meta  slabMeta
	pages [][]proto.Session
	index index
	wheel wheel
	live  int
	dirty []int32 // sessions touched this batch, to flush
	due   []int32 // scratch for expired timers
	dead  []int32 // Disconnected sessions to free at the next safe point

	env   proto.Env
	coder proto.Coder
	// budget caps the peer data sessions hold (budget.go).
	budget proto.Budget
	alloc  pool.Sized
	adm    admission
	sink   sink
	ph     protoHandler
	cur    netip.AddrPort // destination of the session being driven
	// curSock is the socket the driven session sends from (0: the shard's).
	curSock uint32
	// curLocal is the address the driven session's peer sent to, the
	// source of what goes back (localinfo.go; zero: the kernel's choice);
	// inLocal that of the datagram input is handling.
	curLocal, inLocal netip.Addr

	// Dialled sessions with sockets of their own (dial.go).
	opener Opener    // sock, when it can open member sockets
	bySock []int32   // member socket -> slot (-1: none)
	hs     []Handler // per-slot Handler of dialled sessions (nil: h)
	hangup []hangup  // dialled sessions that closed this iteration

	// Send queues of sessions whose window is full (sendq.go).
	queues      map[int32]*sendQueue
	spareQueues []*sendQueue
	maxSendPre  int // proto.MaxSendFor: the limit before a session is established

	stopping bool
	inboxBuf []inboxItem
	wakePeer []bool
	owner    ownerCheck
	drain    drainShard // drain.go

	// Pauses of the loop (loop.go): after socket errors, and while every
	// buffer is lent out. pause is time.Sleep; tests record it instead.
	errBackoff, starveBackoff backoff
	pause                     func(time.Duration)
}

// Index is the shard's position in its group.
func (s *Shard) Index() int { return s.idx }

// Counters returns the shard's counters, readable from any goroutine.
func (s *Shard) Counters() *Counters { return &s.counters }

// clock returns the shard's monotonic time.
func (s *Shard) clock() proto.Nanotime { return proto.Nanotime(time.Since(s.epoch)) }

func newShard(g *Group, idx int, sock Socket) *Shard {
	cfg := &g.cfg
	s := &Shard{
		idx: idx, n: len(g.shards), g: g, cfg: cfg, sock: sock, h: g.h,
		epoch: g.epoch,
		inbox: ring.NewMPSC[inboxItem](cfg.InboxSize),
		done:  make(chan struct{}),
		pause: time.Sleep,
	}
	s.errBackoff = backoff{min: errPauseMin, max: errPauseMax}
	s.starveBackoff = backoff{min: starvePauseMin, max: starvePauseMax}
	s.now = s.clock()
	s.opener, _ = sock.(Opener)
	s.bufs = pool.New(cfg.DatagramBuffer, poolSize(cfg, s.n), pool.Options{Debug: debugBuild})
	s.rx = make([]batchio.Message, cfg.Batch)
	s.rxH = make([]pool.Handle, cfg.Batch)
	s.refill()
	s.lent = make([]int, s.n)
	s.wakePeer = make([]bool, s.n)
	txSize := max(cfg.Proto.MaxPacketSize+64, 64)
	txBacking := make([]byte, cfg.Batch*txSize)
	s.tx = make([]batchio.Message, cfg.Batch)
	for i := range s.tx {
		s.tx[i].Buf = txBacking[i*txSize : (i+1)*txSize : (i+1)*txSize]
	}
	s.handoffIn = make([]*ring.SPSC[handoff], s.n)
	s.returnIn = make([]*ring.SPSC[pool.Handle], s.n)
	for p := range s.n {
		if p != idx {
			s.handoffIn[p] = ring.NewSPSC[handoff](cfg.HandoffSize)
			s.returnIn[p] = ring.NewSPSC[pool.Handle](cfg.HandoffSize)
		}
	}
	s.index = newIndex(64)
	s.credits = newCredits(cfg.MaxSessionsPerShard)
	s.queues = make(map[int32]*sendQueue)
	s.maxSendPre = proto.MaxSendFor(&cfg.Proto)
	s.wheel = newWheel(int64(cfg.TimerSlot), int64(s.now))
	s.inboxBuf = make([]inboxItem, 64)
	s.sink.s = s
	s.ph.s = s
	if err := s.coder.SetCompressLevel(cfg.Proto.CompressLevel); err != nil {
		panic(err) // unreachable: the group validated cfg.Proto
	}
	s.env = proto.Env{Coder: &s.coder, Sink: &s.sink, Handler: &s.ph, Alloc: &s.alloc, Rand: cfg.Rand, Budget: &s.budget}
	s.budget.Limit = max(cfg.PeerBudget, 0)
	if cfg.Role == RoleServer {
		s.adm.init(cfg, g.secret)
	}
	return s
}

// session returns the proto session in slot i.
func (s *Shard) session(i int32) *proto.Session {
	return &s.pages[i>>pageBits][i&(pageSize-1)]
}

// lookup returns the live slot named by id, or -1.
func (s *Shard) lookup(id ID) int32 {
	i := id.Slot()
	if id.Shard() != s.idx || i < 0 || i >= s.meta.n {
		return -1
	}
	m := s.meta.meta(i)
	if m.gen != id.Gen() || m.state != slotLive {
		return -1
	}
	return i
}

func (s *Shard) idOf(i int32) ID { return MakeID(s.idx, s.meta.meta(i).gen, i) }

// ---- the loop ----

// run is the shard goroutine: run to completion, batch by batch (DESIGN.md,
// "The path of a datagram").
func (s *Shard) run() {
	defer close(s.done)
	s.owner.enter()
	defer s.owner.leave()
	for {
		var n int
		var err error
		if s.refill() > 0 {
			s.starveBackoff.reset()
			n, err = s.sock.ReadBatchUntil(s.rx[:s.rxN], s.sleepUntil())
			if s.sleeping.Load() { // a load first: the store is an XCHG
				s.sleeping.Store(false)
			}
			s.countSleeps()
		} else {
			// Every buffer is lent to peers that are busy with them (they
			// hold them in their handoff rings): leave the datagrams in the
			// kernel and give the core to the peers for a while, then go
			// round for the returns (and the inbox and timers).
			s.pause(s.starveBackoff.next())
		}
		if !s.iterate(n, err) {
			return
		}
	}
}

// poolSize is a shard's buffer count: one per receive slot, plus, with
// peers, the buffers it may have lent out, which the per-peer handoff cap
// already bounds by (peers × HandoffSize); HandoffBuffers caps it further.
// The slab is allocated once but only touched pages become resident, so
// unused handoff headroom (steering on) costs address space, not RSS.
func poolSize(cfg *Config, shards int) int {
	n := cfg.Batch
	if shards > 1 {
		n += min(cfg.HandoffBuffers, (shards-1)*cfg.HandoffSize)
	}
	return n
}

// refill gives every receive slot a buffer the pool can spare, packing the
// slots that have one at the front (rx[:rxN]), and returns rxN. Order does
// not matter between batches.
func (s *Shard) refill() int {
	if s.rxHoles {
		s.rxHoles = false
		j := 0
		for k := range s.rxN {
			if s.rxH[k] != 0 {
				s.rxH[j], s.rx[j].Buf = s.rxH[k], s.rx[k].Buf
				j++
			}
		}
		for k := j; k < s.rxN; k++ {
			s.rxH[k], s.rx[k].Buf = 0, nil
		}
		s.rxN = j
	}
	for s.rxN < len(s.rx) {
		h, ok := s.bufs.Get()
		if !ok {
			break
		}
		s.rxH[s.rxN], s.rx[s.rxN].Buf = h, s.bufs.Bytes(h)
		s.rxN++
	}
	return s.rxN
}

// iterate is one loop iteration after ReadBatchUntil returned (n, err). It
// reports false once the shard has shut down.
func (s *Shard) iterate(n int, err error) bool {
	s.now = s.clock()
	if n > 0 {
		s.errBackoff.reset()
		s.counters.batch(n)
		for k := range n {
			s.fromSocket(k)
		}
	} else if err != nil && !errors.Is(err, batchio.ErrWakeup) && !errors.Is(err, os.ErrDeadlineExceeded) {
		if errors.Is(err, net.ErrClosed) {
			s.shutdown()
			return false
		}
		// A kernel error on the socket (ENOMEM, ...): count it, pause
		// (doubling while it repeats: retrying at once would spin on a
		// socket that keeps failing) and go on; bad datagrams never get
		// here.
		add(&s.counters.LoopFatal, 1)
		s.pause(s.errBackoff.next())
	} else {
		s.errBackoff.reset()
	}
	s.afterReceive()
	if s.stop.Load() {
		s.shutdown()
		return false
	}
	return true
}

// afterReceive is the rest of one loop iteration: peers' handoffs and
// returned buffers, the inbox, timers, flushes, the send batch, frees.
func (s *Shard) afterReceive() {
	s.drainReturns()
	s.drainHandoffs()
	s.drainInbox()
	if len(s.queues) > 0 {
		s.drainQueues()
	}
	s.runTimers()
	s.pruneHalfOpen()
	s.attackCheck()
	s.budgetCheck()
	// Hang-ups run after their datagrams are written, and a hang-up's
	// Close (a relay closing the other leg) may send or close more: write
	// that too, or it would wait in the batch until the next wake-up,
	// which may be the next keepalive.
	for {
		s.flushDirty()
		s.writeTx()
		if len(s.hangup) == 0 {
			break
		}
		s.hangUps()
	}
	s.freeDead()
	s.drainStep()
	s.wakePeers()
}

// sleepUntil decides how long ReadBatchUntil may sleep: not at all when
// work is already queued, until the next timer slot otherwise. It sets
// sleeping first and then looks at the rings, and producers push first and
// then look at sleeping, so one of the two always sees the other (every
// access is sequentially consistent): no wake is lost.
func (s *Shard) sleepUntil() time.Time {
	s.sleeping.Store(true)
	if s.stop.Load() || !s.inbox.Empty() || s.pendingHandoffs() {
		s.sleeping.Store(false)
		return pastDeadline
	}
	t, ok := s.wheel.next()
	if s.adm.attack {
		// The attack window must close even if nothing else wakes us.
		t, ok = min(t, int64(s.adm.winStart+attackWindow)), true
	}
	if ok {
		return s.epoch.Add(time.Duration(t))
	}
	return time.Time{}
}

var pastDeadline = time.Unix(1, 0)

func (s *Shard) pendingHandoffs() bool {
	for p, r := range s.handoffIn {
		if r != nil && (!r.Empty() || !s.returnIn[p].Empty()) {
			return true
		}
	}
	return false
}

// fromSocket handles rx slot k: route it, then process it here or hand it
// to its owner.
func (s *Shard) fromSocket(k int) {
	m := &s.rx[k]
	add(&s.counters.DatagramsIn, 1)
	add(&s.counters.BytesIn, uint64(m.N))
	s.tapIn(m.Addr, m.Local, m.Buf[:min(m.N, len(m.Buf))])
	if m.Truncated {
		s.counters.outcome(OutcomeDropTruncated)
		return
	}
	if m.Sock != 0 {
		// A dialled session's own socket: the session is the socket's.
		s.fromMember(m.Buf[:m.N], m.Addr, m.Sock)
		return
	}
	if s.n > 1 {
		if o := batchio.Owner(m.Addr, s.n); o != s.idx {
			s.handOff(k, o)
			return
		}
	}
	s.input(m.Buf[:m.N], m.Addr, m.Local)
}

// handOff gives rx slot k's buffer to shard o and puts a fresh buffer in
// the slot. Refused (and counted) only when o's ring is full: o is that far
// behind. A pool with no spare buffer does not drop the datagram; the slot
// stays empty until buffers come back (counted in BufferMisses), so the
// next reads take fewer datagrams from the kernel, which keeps the rest.
func (s *Shard) handOff(k, o int) {
	if s.lent[o] >= s.cfg.HandoffSize {
		s.counters.outcome(OutcomeDropHandoffFull)
		return
	}
	m := &s.rx[k]
	peer := s.g.shards[o]
	if !peer.handoffIn[s.idx].Push(handoff{b: m.Buf[:m.N], buf: s.rxH[k], addr: m.Addr, local: m.Local}) {
		s.counters.outcome(OutcomeDropHandoffFull)
		return
	}
	s.counters.outcome(OutcomeHandoff)
	s.lent[o]++
	s.wakePeer[o] = true
	if h, ok := s.bufs.Get(); ok {
		s.rxH[k], m.Buf = h, s.bufs.Bytes(h)
		return
	}
	s.rxH[k], m.Buf = 0, nil
	s.rxHoles = true
	add(&s.counters.BufferMisses, 1)
}

func (s *Shard) wakePeers() {
	for o, w := range s.wakePeer {
		if w {
			s.wakePeer[o] = false
			if p := s.g.shards[o]; p.sleeping.Load() {
				p.sock.Wake()
			}
		}
	}
}

// drainHandoffs processes datagrams other shards received for this one and
// sends their buffers home.
func (s *Shard) drainHandoffs() {
	for p, r := range s.handoffIn {
		if r == nil {
			continue
		}
		origin := s.g.shards[p]
		for {
			h, ok := r.Pop()
			if !ok {
				break
			}
			add(&s.counters.HandoffIn, 1)
			s.input(h.b, h.addr, h.local)
			// Cannot fail: origin lends at most HandoffSize buffers to us,
			// and the return ring holds HandoffSize.
			origin.returnIn[s.idx].Push(h.buf)
			s.wakePeer[p] = true
		}
	}
}

func (s *Shard) drainReturns() {
	for p, r := range s.returnIn {
		if r == nil {
			continue
		}
		for {
			h, ok := r.Pop()
			if !ok {
				break
			}
			s.lent[p]--
			s.bufs.Put(h)
		}
	}
}

// input handles one datagram owned by this shard (SPEC §9 steps 3 and 4,
// §6.3).
func (s *Shard) input(b []byte, from netip.AddrPort, local netip.Addr) {
	if s.dropEarly(b) {
		return
	}
	// Replies to a datagram with no session (responses, OutOfSession) and
	// sessions it creates leave from its destination (localinfo.go).
	s.inLocal = local
	defer s.clearInLocal()
	ep := endpointOf(from)
	h := ep.hash()
	if i := s.index.find(h, &ep, &s.meta); i >= 0 {
		if b[0] == 0 && proto.Opcode(b[1]) == proto.OpSessionRequest && s.replaces(i, b) {
			s.noSession(b, &ep, h, from)
			return
		}
		s.counters.outcome(OutcomeSession)
		s.meta.meta(i).setLocal(local)
		s.receive(i, b)
		return
	}
	if s.cfg.Role == RoleClient {
		s.counters.outcome(OutcomeDropUnknown)
		return
	}
	s.noSession(b, &ep, h, from)
}

// replaces ends slot i's session when SessionRequest b replaces it (EQ2,
// SPEC §22.1: proto decides), at once and without a datagram, and frees
// the slot, so that b then opens the endpoint's new session within the
// caps the old one held. While draining, b goes to the old session, which
// answers a repeat and drops the rest.
func (s *Shard) replaces(i int32, b []byte) bool {
	if s.cfg.Role != RoleServer || s.refusing() || s.meta.meta(i).dialled {
		return false
	}
	ps := s.drive(i)
	if !ps.ReplacedBy(b) {
		return false
	}
	ps.Replace(&s.env) // Handler.Close(CloseReplaced), counted by reason
	s.meta.meta(i).state = slotDead
	s.wheel.disarm(&s.meta, i)
	s.freeSlot(i)
	return true
}

// dropEarly drops (and counts) what no session may see: datagrams that
// arrive while the shard shuts down, and ones too short for a header.
func (s *Shard) dropEarly(b []byte) bool {
	if s.stopping {
		s.counters.outcome(OutcomeDropClosing)
		return true
	}
	if len(b) < 2 {
		s.counters.outcome(OutcomeDropShort)
		return true
	}
	return false
}

// newSlot takes a slab slot for ep and indexes it.
func (s *Shard) newSlot(ep *endpoint, h uint64) int32 {
	i := s.takeSlot(ep)
	s.meta.meta(i).hash = h
	s.meta.meta(i).setLocal(s.inLocal) // a server session: the request's destination
	s.index.insert(h, i)
	return i
}

// takeSlot takes a live slab slot for a session with ep, not yet indexed.
func (s *Shard) takeSlot(ep *endpoint) int32 {
	i, grown := s.meta.alloc()
	if grown && int(i)>>pageBits == len(s.pages) {
		s.pages = append(s.pages, make([]proto.Session, pageSize))
	}
	m := s.meta.meta(i)
	m.ep, m.state = *ep, slotLive
	m.hasLocal = false
	s.credits.open(i, m.gen, s.cfg.MaxQueuedBytes, s.maxSendPre)
	s.live++
	add(&s.counters.SessionsOpened, 1)
	s.counters.SessionsOpen.add(1)
	return i
}

// drive makes slot i the current session (sink destination). Internal:
// the loop and the owner-only entry points (which check the goroutine
// themselves) call it, so it does not repeat the owner check, which in
// test builds parses a stack per call and made every datagram pay it.
func (s *Shard) drive(i int32) *proto.Session {
	m := s.meta.meta(i)
	s.cur, s.curSock, s.curLocal = m.ep.AddrPort(), m.sock, m.localAddr()
	return s.session(i)
}

func (s *Shard) receive(i int32, b []byte) {
	ps := s.drive(i)
	st := ps.Stats()
	mark, drops := markOf(st), st.Drops
	ps.Receive(&s.env, s.now, b)
	s.fold(st, mark)
	if s.meta.meta(i).halfOpen {
		s.provedCheck(i)
	}
	// proto counts Drops only while receiving, so only here is the array
	// compared.
	if st.Drops != drops {
		for j := range st.Drops {
			if d := st.Drops[j] - drops[j]; d != 0 && j < NumPacketDrops {
				add(&s.counters.PacketDrops[j], d)
			}
		}
	}
	s.touch(i)
}

// statsMark is the part of a session's Stats the shard counters mirror
// (besides Drops): taken before each call into the session, so that fold
// adds whatever the call did, whichever call it was (Receive, Send, Flush,
// Tick, Close), and the shard counters show it while the session lives.
type statsMark struct {
	resends, rttN, lenient uint64
	rttSum                 time.Duration
}

func markOf(st *proto.Stats) statsMark {
	return statsMark{st.Resends, st.RTTSamples, st.LenientCRC, st.RTTSum}
}

// fold adds st's change since m to the shard counters.
func (s *Shard) fold(st *proto.Stats, m statsMark) {
	if st.Resends != m.resends {
		add(&s.counters.Resends, st.Resends-m.resends)
	}
	if st.LenientCRC != m.lenient {
		add(&s.counters.LenientCRC, st.LenientCRC-m.lenient)
	}
	if st.RTTSamples != m.rttN {
		add(&s.counters.RTTCount, st.RTTSamples-m.rttN)
		add(&s.counters.RTTSumMicro, uint64((st.RTTSum-m.rttSum)/time.Microsecond))
		n := st.RTTSamples - m.rttN
		s.counters.Hist.rtt((st.RTTSum-m.rttSum)/time.Duration(n), n)
	}
}

// touch puts slot i on the flush list.
func (s *Shard) touch(i int32) {
	m := s.meta.meta(i)
	if !m.dirty {
		m.dirty = true
		s.dirty = append(s.dirty, i)
	}
}

// flushDirty flushes the hold buffers of the sessions touched in this
// batch and re-arms their timers from their next deadline.
func (s *Shard) flushDirty() {
	for _, i := range s.dirty {
		m := s.meta.meta(i)
		m.dirty = false
		if m.state != slotLive {
			continue
		}
		ps := s.drive(i)
		if s.cfg.HoldDelay == 0 {
			mark := markOf(ps.Stats())
			ps.Flush(&s.env, s.now)
			s.fold(ps.Stats(), mark)
		}
		s.settle(i, ps, ps.Next())
	}
	s.dirty = s.dirty[:0]
}

// settle re-arms slot i's timer for next, or schedules the slot's release
// once its session is Disconnected.
func (s *Shard) settle(i int32, ps *proto.Session, next proto.Nanotime) {
	m := s.meta.meta(i)
	st := ps.State()
	s.see(m, st)
	if st == proto.StateDisconnected {
		if m.state == slotLive {
			m.state = slotDead
			s.wheel.disarm(&s.meta, i)
			s.dead = append(s.dead, i)
		}
		return
	}
	if s.cfg.HoldDelay > 0 {
		next = min(next, s.now+proto.Nanotime(s.cfg.HoldDelay))
	}
	s.wheel.arm(&s.meta, i, int64(next))
}

func (s *Shard) runTimers() {
	s.due = s.wheel.expire(&s.meta, int64(s.now), s.due[:0])
	for _, i := range s.due {
		if s.meta.meta(i).state != slotLive {
			continue
		}
		ps := s.drive(i)
		mark := markOf(ps.Stats())
		next := ps.Tick(&s.env, s.now)
		s.fold(ps.Stats(), mark)
		s.settle(i, ps, next)
	}
}

// freeDead returns the slots of Disconnected sessions to the slab.
func (s *Shard) freeDead() {
	for _, i := range s.dead {
		s.freeSlot(i)
	}
	if len(s.dead) > 0 {
		s.trimSlab()
	}
	s.dead = s.dead[:0]
}

// trimSlab gives back the slab pages a flood left empty at its end (see
// slabMeta.trim): the sessions, their metadata and their credit pages.
func (s *Shard) trimSlab() {
	old := len(s.pages)
	k := s.meta.trim()
	if k < 0 {
		return
	}
	clear(s.pages[k:])
	s.pages = s.pages[:k]
	for p := k; p < old; p++ {
		s.credits.drop(p)
	}
	if n := k << pageBits; len(s.hs) > n {
		clear(s.hs[n:])
		s.hs = s.hs[:n]
	}
}

// see moves session m's state gauges to st.
func (s *Shard) see(m *meta, st proto.State) {
	if m.seen == st {
		return
	}
	switch m.seen {
	case proto.StateConnecting:
		s.counters.Connecting.add(-1)
	case proto.StateDisconnecting:
		s.counters.Disconnecting.add(-1)
	}
	switch st {
	case proto.StateConnecting:
		s.counters.Connecting.add(1)
	case proto.StateDisconnecting:
		s.counters.Disconnecting.add(1)
	}
	m.seen = st
}

// freeSlot returns slot i, whose session is Disconnected, to the slab.
func (s *Shard) freeSlot(i int32) {
	m := s.meta.meta(i)
	s.see(m, proto.StateDisconnected) // a path that freed it without settle
	if m.sock != 0 {
		s.closeMember(i) // shutdown: no hang-up ran
	}
	if !m.dialled || s.opener == nil { // indexed by endpoint
		s.index.remove(m.hash, i)
	}
	if int(i) < len(s.hs) {
		s.hs[i] = nil
	}
	if s.cfg.Role == RoleServer && !m.dialled {
		s.g.perIP.release(&m.ep.addr)
		s.g.giveTotal()
		s.adm.tombstone(m.hash)
	}
	if m.halfOpen {
		s.adm.halfLive--
		s.counters.HalfOpen.add(-1)
	}
	s.credits.close(i)
	s.dropQueue(i)
	s.session(i).Release(&s.env)
	s.meta.release(i)
	s.live--
	s.counters.SessionsOpen.add(-1)
}

// ---- transmit ----

// txBuf returns the next transmit slot's buffer, empty, writing the batch
// out first when every slot is taken.
func (s *Shard) txBuf() []byte {
	if s.txN == len(s.tx) {
		s.writeTx()
	}
	return s.tx[s.txN].Buf[:0]
}

// queueRaw commits the transmit slot txBuf returned, holding b, to addr
// from the shard's socket.
// Inside input it answers from the datagram's destination.
func (s *Shard) queueRaw(addr netip.AddrPort, b []byte) { s.queueFrom(addr, 0, s.inLocal, b) }

// queueFrom is queueRaw from socket sock (a dialled session's own, or 0)
// and local address local (packet info; zero: the kernel's choice).
func (s *Shard) queueFrom(addr netip.AddrPort, sock uint32, local netip.Addr, b []byte) {
	m := &s.tx[s.txN]
	if len(b) > 0 && &b[0] != &m.Buf[:1][0] {
		// The encoder outgrew the slot (cannot happen with Buffer's
		// capacity contract); keep the bytes anyway.
		m.Buf = append(m.Buf[:0], b...)
	}
	m.N = len(b)
	m.Addr = addr
	m.Sock = sock
	m.Local = local
	s.txN++
}

// writeTx sends the transmit batch with one sendmmsg (batchio splits only
// past its batch size).
func (s *Shard) writeTx() {
	if s.txN == 0 {
		return
	}
	msgs := s.tx[:s.txN]
	s.txN = 0
	s.counters.Hist.sendBatch(len(msgs))
	if t := s.g.tap.Load(); t != nil {
		for i := range msgs {
			s.tapOut(t, msgs[i].Addr, msgs[i].Local, msgs[i].Buf[:msgs[i].N])
		}
	}
	sent, err := s.sock.WriteBatch(msgs)
	var bytes uint64
	for i := range msgs {
		bytes += uint64(msgs[i].N)
	}
	add(&s.counters.DatagramsOut, uint64(sent))
	if err != nil {
		var de *batchio.DropError
		if errors.As(err, &de) {
			add(&s.counters.TxDrops, uint64(de.Dropped))
		} else {
			add(&s.counters.TxDrops, uint64(len(msgs)-sent))
		}
		// Bytes of the refused datagrams are not known one by one; count
		// what was offered minus nothing rather than guess.
	}
	add(&s.counters.BytesOut, bytes)
}

// sink is the proto.Sink of every session of the shard: the next transmit
// slot, addressed to the session being driven.
type sink struct{ s *Shard }

func (k *sink) Buffer() []byte                  { return k.s.txBuf() }
func (k *sink) Send(dgram []byte)               { k.s.queueFrom(k.s.cur, k.s.curSock, k.s.curLocal, dgram) }
func (h *protoHandler) id(ps *proto.Session) ID { return ID(ps.Tag) }

var _ proto.Sink = (*sink)(nil)

// protoHandler turns proto session events into Handler calls.
type protoHandler struct{ s *Shard }

var _ proto.Handler = (*protoHandler)(nil)

func (h *protoHandler) Opened(ps *proto.Session) {
	id := h.id(ps)
	// The negotiated parameters are known now: publish the real limit.
	if w := h.s.credits.slot(id.Slot()); w != nil {
		w.limit.Store(uint64(id.Gen())<<32 | uint64(uint32(ps.MaxSend())))
	}
	h.s.handler(ps).Open(h.s, id)
}

func (h *protoHandler) Deliver(ps *proto.Session, stream int, app []byte) {
	h.s.counters.Hist.msg(len(app))
	h.s.handler(ps).Message(h.s, h.id(ps), stream, app)
}

func (h *protoHandler) Closed(ps *proto.Session, r proto.CloseReason) {
	s := h.s
	reason := r
	if s.stopping || s.drain.closing {
		reason = proto.CloseShutdown
	}
	add(&s.counters.SessionsClosed[reason], 1)
	id := h.id(ps)
	s.credits.close(id.Slot()) // later sends: ErrNoSession
	s.dropQueue(id.Slot())
	if s.meta.meta(id.Slot()).sock != 0 {
		// A dialled session's Close comes with its hang-up (dial.go).
		s.hangup = append(s.hangup, hangup{id, reason})
		return
	}
	s.handler(ps).Close(s, id, reason)
}

// PacketDropName names PacketDrops bucket i: the proto.Reason, "" for
// buckets no reason uses.
func PacketDropName(i int) string {
	if i <= 0 || i >= int(proto.NumReasons) {
		return ""
	}
	return proto.Reason(i).String()
}
