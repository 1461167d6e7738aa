package eqgate

import (
	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// ShardStats is a copy of one shard's counters (see shard.Counters). Each
// field is read atomically; the set is not one instant's snapshot.
type ShardStats struct {
	DatagramsIn, BytesIn   uint64 // read from the socket
	DatagramsOut, BytesOut uint64 // accepted by the kernel
	TxDrops                uint64 // refused by the kernel
	HandoffIn              uint64 // datagrams received from other shards
	Handoffs               uint64 // datagrams handed to their owner shard
	ToSession              uint64 // datagrams given to an existing session
	OutOfSession           uint64 // OutOfSession answers sent
	Responded              uint64 // SessionRequests answered statelessly
	UnderAttack            int64  // shards under attack now (see Config.AttackRate)
	UnprovenRate           int64  // unproven datagrams per second, last window
	PeerBuffered           int64  // bytes of peer data sessions hold (Config.PeerBufferBudget)
	Dropped                uint64 // sum of Drops
	Drops                  map[string]uint64
	SessionsOpen           int64
	SessionsConnecting     int64 // dialled sessions waiting for their SessionResponse
	SessionsDisconnecting  int64 // closed sessions lingering or flushing
	SessionsOpened         uint64
	SessionsClosed         map[string]uint64 // by CloseReason
	PacketDrops            map[string]uint64 // inside sessions, by proto reason
	Resends                uint64
	LenientCRC             uint64 // datagrams accepted by a LEGACY/EQ2 CRC leniency (proto.Config.LenientZeroCRC, Lenient0019)
	InboxDrops             uint64
	SendsRefused           map[string]uint64 // sends refused to their caller, by reason (shard.SendRefusal)
	SendsQueued            uint64            // sends that waited for window room
	SendsDiscarded         uint64            // accepted sends whose session closed before they were sent
	Batches                uint64            // receive batches
	HandlerPanics          uint64            // Handler callbacks that panicked (Config.HandlerPanic = PanicClose)
}

// Stats is a snapshot of every shard's counters and their sum.
type Stats struct {
	Shards []ShardStats
	Total  ShardStats
}

func readShard(c *shard.Counters, names packetDropNames) ShardStats {
	s := ShardStats{
		DatagramsIn:           c.DatagramsIn.Load(),
		BytesIn:               c.BytesIn.Load(),
		DatagramsOut:          c.DatagramsOut.Load(),
		BytesOut:              c.BytesOut.Load(),
		TxDrops:               c.TxDrops.Load(),
		HandoffIn:             c.HandoffIn.Load(),
		Handoffs:              c.Outcomes[shard.OutcomeHandoff].Load(),
		ToSession:             c.Outcomes[shard.OutcomeSession].Load(),
		OutOfSession:          c.Outcomes[shard.OutcomeOutOfSession].Load(),
		Responded:             c.Outcomes[shard.OutcomeResponded].Load(),
		UnderAttack:           c.UnderAttack.Load(),
		UnprovenRate:          c.UnprovenRate.Load(),
		PeerBuffered:          c.PeerHeld.Load(),
		Drops:                 map[string]uint64{},
		SessionsOpen:          c.SessionsOpen.Load(),
		SessionsConnecting:    c.Connecting.Load(),
		SessionsDisconnecting: c.Disconnecting.Load(),
		SessionsOpened:        c.SessionsOpened.Load(),
		SessionsClosed:        map[string]uint64{},
		PacketDrops:           map[string]uint64{},
		Resends:               c.Resends.Load(),
		LenientCRC:            c.LenientCRC.Load(),
		InboxDrops:            c.InboxDrops.Load(),
		SendsRefused:          map[string]uint64{},
		SendsQueued:           c.Sends.Queued.Load(),
		SendsDiscarded:        c.Sends.Discarded.Load(),
	}
	for o := shard.FirstDrop; o < shard.NumOutcomes; o++ {
		v := c.Outcomes[o].Load()
		s.Drops[o.String()] = v
		s.Dropped += v
	}
	for r := CloseLocal; r < proto.NumCloseReasons; r++ {
		s.SessionsClosed[r.String()] = c.SessionsClosed[r].Load()
	}
	for i := range c.PacketDrops {
		if n := names(i); n != "" {
			s.PacketDrops[n] = c.PacketDrops[i].Load()
		}
	}
	for r := range shard.NumSendRefusals {
		s.SendsRefused[r.String()] = c.Sends.Refused[r].Load()
	}
	for i := range c.Batches {
		s.Batches += c.Batches[i].Load()
	}
	return s
}

func (t *ShardStats) add(s *ShardStats) {
	t.DatagramsIn += s.DatagramsIn
	t.BytesIn += s.BytesIn
	t.DatagramsOut += s.DatagramsOut
	t.BytesOut += s.BytesOut
	t.TxDrops += s.TxDrops
	t.HandoffIn += s.HandoffIn
	t.Handoffs += s.Handoffs
	t.ToSession += s.ToSession
	t.OutOfSession += s.OutOfSession
	t.Responded += s.Responded
	t.UnderAttack += s.UnderAttack
	t.UnprovenRate += s.UnprovenRate
	t.PeerBuffered += s.PeerBuffered
	t.Dropped += s.Dropped
	t.SessionsOpen += s.SessionsOpen
	t.SessionsConnecting += s.SessionsConnecting
	t.SessionsDisconnecting += s.SessionsDisconnecting
	t.SessionsOpened += s.SessionsOpened
	t.Resends += s.Resends
	t.LenientCRC += s.LenientCRC
	t.InboxDrops += s.InboxDrops
	t.SendsQueued += s.SendsQueued
	t.SendsDiscarded += s.SendsDiscarded
	t.Batches += s.Batches
	t.HandlerPanics += s.HandlerPanics
	for _, m := range [][2]map[string]uint64{{t.Drops, s.Drops}, {t.SessionsClosed, s.SessionsClosed}, {t.PacketDrops, s.PacketDrops}, {t.SendsRefused, s.SendsRefused}} {
		for k, v := range m[1] {
			m[0][k] += v
		}
	}
}

// packetDropNames names PacketDrops bucket i ("" for unused buckets).
type packetDropNames func(i int) string

func statsOf(g *shard.Group, gd *guard) Stats {
	st := Stats{Total: ShardStats{Drops: map[string]uint64{}, SessionsClosed: map[string]uint64{}, PacketDrops: map[string]uint64{}, SendsRefused: map[string]uint64{}}}
	for i := range g.Len() {
		s := readShard(g.Shard(i).Counters(), shard.PacketDropName)
		s.HandlerPanics = gd.count(i)
		st.Total.add(&s)
		st.Shards = append(st.Shards, s)
	}
	return st
}
