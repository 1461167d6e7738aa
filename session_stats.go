package eqgate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// SessionStats is one session's figures for an operator (a player's
// "#netstats"): a snapshot taken on its shard's goroutine. Per-session
// figures are never exported to Prometheus (one series per player would
// swamp it); read them here or on the /debug/sessions page of cmd/eqgate.
type SessionStats struct {
	ID     SessionID
	Remote netip.AddrPort
	State  string        // connecting, connected, disconnecting
	Age    time.Duration // since the session opened
	Idle   time.Duration // since its last datagram arrived

	// RTT from acknowledged packets never resent (Karn). RTTRecent is the
	// protocol's rolling ping, (2·old + sample)/3 per ack, which weighs the
	// last few samples: the figure the resend delay follows.
	RTTMin, RTTAvg, RTTMax, RTTLast, RTTRecent time.Duration
	RTTSamples                                 uint64

	// Loss each way from the peer's counts in its last SessionStatRequest
	// (SPEC §17.3; stock clients send one every few seconds); LossKnown is
	// false until one has arrived. In: the peer's datagrams we missed; Out:
	// ours it missed.
	LossIn, LossOut float64
	LossKnown       bool

	Resends, ResentBytes uint64
	// ResendRatio is Resends over reliable sends' datagrams sent: a loss
	// estimate that needs nothing from the peer.
	ResendRatio float64

	DatagramsIn, DatagramsOut uint64 // all protocol datagrams
	BytesIn, BytesOut         uint64 // as on the wire
	MessagesIn, MessagesOut   uint64 // application packets delivered / accepted by Send
	MessageBytesIn            uint64
	MessageBytesOut           uint64
	// CompressionIn and CompressionOut are wire bytes over decoded bytes
	// (just above 1 without the compression pass: the CRC trailer; below 1
	// is a saving).
	CompressionIn, CompressionOut float64

	Duplicates, OutOfOrder uint64
	Dropped                uint64 // packets dropped inside the session, any reason
	Unacked                int    // bytes sent and not yet acknowledged
	Streams                [proto.Streams]StreamQueue

	// Wire is what decoding the session's datagrams takes (eqgate decode).
	Wire WireParams
}

// WireParams are a session's negotiated wire parameters (SPEC §5.2).
type WireParams struct {
	Key       uint32
	CRCBytes  int
	Encode    [2]string // pass names: none, compress, xor
	MaxPacket int
}

// StreamQueue is one reliable stream's backlog.
type StreamQueue struct {
	InFlight int // sent, not yet acknowledged
	Reorder  int // arrived early, waiting for the gap to fill
	Fragment int // bytes of a fragmented packet being reassembled
}

func sessionStatsOf(d *shard.SessionInfo) SessionStats {
	st := &d.Stats
	in, out, known := st.Loss()
	s := SessionStats{
		ID: SessionID(d.ID), Remote: d.Remote, State: d.State.String(), Age: d.Age, Idle: d.Idle,
		RTTMin: st.RTTMin, RTTAvg: st.RTTAvg(), RTTMax: st.RTTMax, RTTLast: st.RTTLast,
		RTTRecent: st.RollingPing, RTTSamples: st.RTTSamples,
		LossIn: in, LossOut: out, LossKnown: known,
		Resends: st.Resends, ResentBytes: st.ResentBytes,
		DatagramsIn: st.RecvPackets, DatagramsOut: st.SentPackets,
		BytesIn: st.RecvBytes, BytesOut: st.SentWireBytes,
		MessagesIn: st.Delivered, MessagesOut: st.AppSent,
		MessageBytesIn: st.DeliveredBytes, MessageBytesOut: st.AppSentBytes,
		CompressionIn: ratio(st.RecvBytes, st.RecvDecodedBytes), CompressionOut: ratio(st.SentWireBytes, st.SentBytes),
		Duplicates: st.Duplicates, OutOfOrder: st.OutOfOrder, Unacked: d.Unacked,
	}
	if st.SentPackets > 0 {
		s.ResendRatio = float64(st.Resends) / float64(st.SentPackets)
	}
	if st.RTTSamples == 0 {
		s.RTTRecent = 0 // the configured initial ping, not a measurement
	}
	for _, n := range st.Drops {
		s.Dropped += n
	}
	for i, q := range d.Queues {
		s.Streams[i] = StreamQueue(q)
	}
	p := &d.Params
	s.Wire = WireParams{Key: p.Key, CRCBytes: p.CRCBytes, Encode: [2]string{p.Passes[0].String(), p.Passes[1].String()}, MaxPacket: p.MaxPacket}
	return s
}

func ratio(wire, decoded uint64) float64 {
	if decoded == 0 {
		return 1
	}
	return float64(wire) / float64(decoded)
}

// Loss is the larger of the two directions' loss when known, else the
// resend ratio: the one figure "top by loss" sorts on.
func (s *SessionStats) Loss() float64 {
	if s.LossKnown {
		return max(s.LossIn, s.LossOut)
	}
	return s.ResendRatio
}

// Stats returns the session's figures. Owner shard goroutine only; from
// any other goroutine use Server.SessionStats.
func (s Session) Stats() (SessionStats, error) {
	if s.sh == nil {
		return SessionStats{}, ErrNoSession
	}
	d, err := s.sh.Info(s.id)
	if err != nil {
		return SessionStats{}, err
	}
	return sessionStatsOf(&d), nil
}

// SessionStats returns session id's figures from any goroutine: the owning
// shard takes them between two batches (through its inbox) and this waits
// for the answer. ErrNoSession for a closed session, ErrInboxFull when the
// inbox is full, ErrClosed after Close, ctx's error when it ends first.
func (s *Server) SessionStats(ctx context.Context, id SessionID) (SessionStats, error) {
	d, err := s.shardOf(id).QueryInfo(ctx, shard.ID(id))
	if err != nil {
		return SessionStats{}, err
	}
	return sessionStatsOf(&d), nil
}

// SessionOrder names the figure Sessions ranks by.
type SessionOrder uint8

const (
	ByAge     SessionOrder = iota // oldest first
	ByLoss                        // SessionStats.Loss, highest first
	ByRTT                         // RTTAvg, highest first
	ByResends                     // highest first
)

// ParseSessionOrder turns "age", "loss", "rtt" or "resends" into an order.
func ParseSessionOrder(s string) (SessionOrder, bool) {
	i := slices.Index(orderNames[:], s)
	return SessionOrder(max(i, 0)), i >= 0
}

var orderNames = [...]string{"age", "loss", "rtt", "resends"}

func (o SessionOrder) String() string {
	if int(o) < len(orderNames) {
		return orderNames[o]
	}
	return "unknown"
}

// SessionQuery selects sessions for Server.Sessions.
type SessionQuery struct {
	Order SessionOrder
	Limit int        // at most this many (0: every session; keep it small on a big server)
	IP    netip.Addr // when valid, only sessions from this address
}

// Sessions returns the sessions q selects, ranked, from any goroutine. Each
// shard ranks its own sessions between two batches (a copy per session, a
// few ms per 100k sessions) and keeps its Limit best; they are merged here.
func (s *Server) Sessions(ctx context.Context, q SessionQuery) ([]SessionStats, error) {
	less := q.Order.Less
	sq := shard.Query{Limit: q.Limit, Less: func(a, b *shard.SessionInfo) bool {
		x, y := sessionStatsOf(a), sessionStatsOf(b)
		return less(&x, &y)
	}}
	if q.IP.IsValid() {
		ip := q.IP.Unmap()
		sq.Match = func(d *shard.SessionInfo) bool { return d.Remote.Addr() == ip }
	}
	var all []SessionStats
	for i := range s.g.Len() {
		part, err := s.g.Shard(i).QuerySessions(ctx, sq)
		if err != nil {
			return nil, err
		}
		for k := range part {
			all = append(all, sessionStatsOf(&part[k]))
		}
	}
	slices.SortStableFunc(all, func(a, b SessionStats) int { return q.Order.Compare(&a, &b) })
	if q.Limit > 0 && len(all) > q.Limit {
		all = all[:q.Limit]
	}
	return all, nil
}

// Less reports whether a ranks before b in order o (higher loss, RTT or
// resends; older), for merging lists from several servers.
func (o SessionOrder) Less(a, b *SessionStats) bool {
	switch o {
	case ByLoss:
		return a.Loss() > b.Loss()
	case ByRTT:
		return a.RTTAvg > b.RTTAvg
	case ByResends:
		return a.Resends > b.Resends
	}
	return a.Age > b.Age
}

// Compare is Less as a three-way comparison, for slices.SortStableFunc.
func (o SessionOrder) Compare(a, b *SessionStats) int {
	switch {
	case o.Less(a, b):
		return -1
	case o.Less(b, a):
		return 1
	}
	return 0
}

// ParseSessionID parses SessionID.String's form, "shard/slot.gen".
func ParseSessionID(s string) (SessionID, error) {
	sh, rest, ok1 := strings.Cut(s, "/")
	slot, gen, ok2 := strings.Cut(rest, ".")
	a, e1 := strconv.ParseUint(sh, 10, 8)
	b, e2 := strconv.ParseUint(slot, 10, 32)
	c, e3 := strconv.ParseUint(gen, 10, 32)
	if !ok1 || !ok2 || e1 != nil || e2 != nil || e3 != nil || a >= shard.MaxShards || b >= shard.MaxSlots {
		return 0, fmt.Errorf("eqgate: bad session ID %q (want shard/slot.gen)", s)
	}
	return SessionID(shard.MakeID(int(a), uint32(c), int32(b))), nil
}
