package eqgate

import (
	"errors"
	"runtime"
	"time"

	"github.com/eqgate/eqgate/proto"
	"github.com/eqgate/eqgate/shard"
)

// Config configures a Server (Listen) or a client session (Dial).
//
// The zero value is usable: every zero numeric field takes its default when
// Listen or Dial starts, and the defaults are EQEmu's (SPEC §18.2) for the
// protocol and what measured best on a small box for the engine
// (bench/RESULTS.md, tuning.md). Boolean knobs are off when false;
// DefaultConfig returns the recommended settings with every field filled in.
type Config struct {
	// Variant is the protocol family of every session of the listener or
	// dial (SPEC §1.1): VariantRS (the default), VariantLegacy or
	// VariantEQ2. The protocol defaults below follow it (proto.ConfigFor),
	// except Encoding, which selects a LEGACY service: EncodeCompress for
	// world/zone, EncodeXOR for chat, EncodeNone for login.
	Variant Variant

	// Protocol (SPEC §18.2; RS defaults).

	MaxPacketSize     int           // cap on the negotiated datagram size; 512
	CRCBytes          int           // CRC trailer offered in SessionResponse: 0 means the default 2, -1 none, or 4
	Encoding          Encoding      // encode passes offered; EncodeNone (EQEmu zones: EncodeCompress)
	CompressLevel     CompressLevel // compression pass's CPU against bytes, for what this end sends; CompressDefault
	KeepaliveDelay    time.Duration // a KeepAlive after this long with nothing sent; 9 s (negative: never)
	ResendDelayBase   time.Duration // additive base of the resend delay; 30 ms (EQEmu world/zone: 100 ms)
	ResendDelayFactor float64       // multiplier on the rolling ping; 1.25 (EQEmu world/zone: 1.5)
	ResendDelayMin    time.Duration // 150 ms (EQEmu world/zone: 300 ms)
	ResendDelayMax    time.Duration // 5 s
	ResendTimeout     time.Duration // close when the oldest unacked packet is this old; 30 s
	ConnectDelay      time.Duration // client: SessionRequest retry interval; 500 ms
	ConnectStale      time.Duration // client: give up with nothing received; 5 s
	StaleConnection   time.Duration // drop a Connected session with nothing received; 60 s (EQEmu UCS: 600 s)
	CloseLinger       time.Duration // Disconnecting linger before the final SessionDisconnect; 2 s
	HoldSize          int           // hold buffer flush threshold in bytes; 512
	// HoldDelay is how long the engine may hold a session's small outgoing
	// packets to pack them into one OP_Combined. 0 (the default) flushes at
	// the end of every receive batch, which packs everything one batch
	// produced for a session and adds no latency; RS flushes every 16 ms
	// tick, which a positive value up to HoldLength imitates.
	HoldDelay time.Duration
	// ChatNoFiller (client, LEGACY chat: Encoding EncodeXOR) sends
	// application packets as given. By default eqgate's client puts one
	// filler byte (00) after the 1-byte opcode of each, as Titanium chat
	// clients do, because the 2017 UCS server drops byte 1 of every client
	// packet (SPEC §21.4); eqgate's server delivers the packet whole, filler
	// included, as RS does. Set it when the packets already carry a filler
	// (a relay forwarding Titanium clients' packets).
	ChatNoFiller bool
	// DataRate is RS's outgoing_data_rate in KiB/s per session (SPEC §20.1);
	// 0 (the default) is off.
	DataRate float64

	// Send window and queue, per session (Session.Send, Server.Send).

	// MaxUnackedBytes caps a session's sent-but-unacknowledged bytes, its
	// send window; 512 KiB. It also bounds one application packet
	// (Session.MaxSend).
	MaxUnackedBytes int
	// MaxUnackedPackets caps sent-but-unacknowledged packets per stream,
	// rounded up to a power of two; at most 8192, default 2048.
	MaxUnackedPackets int
	// MaxQueuedBytes is the queue in front of the window: a send made while
	// the window is full waits there, in order, until acks make room, and
	// costs its length plus 64 bytes meanwhile. A send that finds the queue
	// full too is refused with ErrSendQueueFull, never dropped. 1 MiB, at
	// most 1<<31-1.
	MaxQueuedBytes int

	// What a peer can make a session hold (each refusal is counted).

	// ReorderWindow caps future packets queued per stream, rounded up to a
	// power of two; at most 8192, default 2048.
	ReorderWindow int
	// ReorderBytes caps the bytes of future packets queued per stream; 1 MiB.
	ReorderBytes int
	// MaxFragmentSize caps one reassembled (or sent) fragmented packet; the
	// memory is taken as data arrives. 1 MiB.
	MaxFragmentSize int
	// PeerBufferBudget caps, per shard, the bytes of peer data all its
	// sessions hold (reorder queues with their rings, partial fragment
	// sets). Past it only sessions under their fair share (the budget over
	// the sessions holding any) may queue more, so the biggest holders are
	// refused first (eqgate_packets_dropped_total{reason="budget"}, before
	// the ack: the peer resends); past twice it the biggest are closed
	// with CloseBudget. 0 means 32 MiB, negative no budget (still counted
	// in eqgate_peer_buffered_bytes). tuning.md, "Memory budgets".
	PeerBufferBudget int

	// Admission (who gets state; tuning.md, "Admission").

	// OutOfSessionRate caps OutOfSession answers per second per shard to
	// endpoints without a session; 0 means 1000, negative none at all.
	OutOfSessionRate int
	// HalfOpenMax and HalfOpenTimeout apply only with CRCBytes -1, where a
	// SessionRequest cannot be answered statelessly: at most HalfOpenMax
	// sessions per shard (1024) wait for their first valid datagram, and
	// past it the oldest that has waited HalfOpenTimeout (5 s) goes.
	HalfOpenMax     int
	HalfOpenTimeout time.Duration
	// AttackRate is the unproven datagrams per second per shard (requests
	// answered statelessly, and datagrams from endpoints without a session
	// that proved nothing) at which a shard reports itself under attack
	// (Stats.UnderAttack, eqgate_under_attack); the report ends after a
	// second under half that. 0 means 5000, negative never.
	AttackRate int

	// Engine.

	// Shards is the number of shards: sockets in the SO_REUSEPORT group and
	// goroutines, one per core. Default runtime.GOMAXPROCS(0). Dial uses 1.
	Shards int
	// Batch is the number of datagrams per recvmmsg/sendmmsg; 64.
	Batch int
	// DatagramBuffer is the size of each receive buffer; longer datagrams
	// are dropped as truncated. 2048 (RS negotiates 512 at most).
	DatagramBuffer int
	// RecvBuffer and SendBuffer are SO_RCVBUF/SO_SNDBUF requests per socket;
	// 0 means 4 MiB. The kernel clamps them to net.core.rmem_max/wmem_max
	// unless the process has CAP_NET_ADMIN (see tuning.md). Its default
	// (208 KiB) holds only about a hundred small datagrams, less than one
	// 64 KiB message's fragments.
	RecvBuffer, SendBuffer int
	// Steering attaches the reuseport steering program so the kernel
	// delivers each endpoint to its owner shard; without it, datagrams that
	// land on the wrong shard are handed over through a ring.
	Steering bool
	// GSO coalesces runs of datagrams to one peer with UDP_SEGMENT.
	GSO bool
	// ShareSockets (client, Linux) lets sessions dialled from a specific
	// local address (NewClient's, or DialFrom's) share sockets: one wildcard
	// socket on one port carries a session per local address, read and
	// written in batches over all of them, so a Client with sessions from
	// many addresses (a load generator on 127.0.0.0/8, a bot host with an
	// address per bot) holds a few fds instead of one per session. A
	// session's endpoint is its address and the shared socket's port; a
	// second session from one address goes on another shared socket. Each
	// shared socket asks for 4 MiB buffers. Sessions from the unspecified
	// address always get a socket of their own.
	ShareSockets bool
	// MaxSessions caps sessions over all shards; 0 means 1<<20.
	MaxSessions int
	// MaxSessionsPerShard caps sessions in one shard; 0 means MaxSessions.
	MaxSessionsPerShard int
	// MaxSessionsPerIP caps sessions from one source address (all ports,
	// all shards); 0 means 256. Past any cap a SessionRequest is refused
	// silently and counted.
	MaxSessionsPerIP int
	// InboxSize is the capacity of each shard's inbox (Server.Send,
	// Server.Post, Conn.Send); a full inbox is an error, never a wait. 4096.
	InboxSize int
	// HandoffSize is the capacity of each shard-to-shard handoff ring; 1024.
	HandoffSize int
	// TimerSlot is the granularity of each shard's timer wheel; 4 ms.
	TimerSlot time.Duration
	// HandlerPanic is what a panic in a Handler callback does: PanicCrash
	// (the zero value: the process dies, as Go programs do) or PanicClose
	// (recover, count, close that session with ClosePanic).
	HandlerPanic PanicPolicy
	// Rand, when set, supplies session keys and client connect codes
	// instead of math/rand/v2 (for replaying captures or reproducible
	// tests). It is called on shard goroutines, concurrently when there are
	// several shards.
	Rand func() uint32
}

// DefaultConfig returns the recommended configuration: EQEmu's protocol
// defaults, one shard per core, steering on, and GSO on where the kernel
// has it (measured better or equal on every eqbench load; bench/RESULTS.md).
func DefaultConfig() Config {
	return Config{Steering: true, GSO: true}.Filled()
}

// ErrBadConfig matches (errors.Is) every *ConfigError.
var ErrBadConfig = errors.New("eqgate: invalid config")

// ConfigError is what Validate, Listen and Dial return for a Config they
// cannot run with. Fields names the Config fields at fault, the first one
// being the field that is out of range (empty when the fault is not a field,
// such as a nil Handler), so a caller can point at its own name for them (a
// flag, a key in a file) without parsing the message.
type ConfigError struct {
	Fields []string
	Reason string // what is wrong, e.g. "out of range [1, 1024]"
}

func (e *ConfigError) Error() string {
	if len(e.Fields) == 0 {
		return "eqgate: invalid config: " + e.Reason
	}
	return "eqgate: invalid config: " + e.Fields[0] + " " + e.Reason
}

// Is makes errors.Is(err, ErrBadConfig) true.
func (e *ConfigError) Is(target error) bool { return target == ErrBadConfig }

func configError(reason string, fields ...string) error {
	return &ConfigError{Fields: fields, Reason: reason}
}

// Filled returns c with every zero field replaced by its default: the
// configuration Listen or Dial actually runs with (Dial then sets Shards
// to 1).
func (c Config) Filled() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defi := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	// Protocol defaults are proto's (EQEmu's, SPEC §18.2), engine defaults
	// shard's: Filled only reports them.
	p := proto.ConfigFor(c.Variant)
	if c.Variant == VariantLegacy && c.Encoding == EncodeXOR {
		// The chat (UCS) service: EQStreamFactory(ChatStream, port, 45000)
		// (SPEC §21.5); no attempt limit, so resends last as long.
		p.StaleConnection = 45 * time.Second
		p.ResendTimeout = p.StaleConnection
	}
	defi(&c.MaxPacketSize, p.MaxPacketSize)
	defi(&c.CRCBytes, p.CRCBytes)
	def(&c.KeepaliveDelay, p.KeepAliveDelay)
	def(&c.ResendDelayBase, p.ResendDelayBase)
	if c.ResendDelayFactor == 0 {
		c.ResendDelayFactor = p.ResendDelayFactor
	}
	def(&c.ResendDelayMin, p.ResendDelayMin)
	def(&c.ResendDelayMax, p.ResendDelayMax)
	def(&c.ResendTimeout, p.ResendTimeout)
	def(&c.ConnectDelay, p.ConnectDelay)
	def(&c.ConnectStale, p.ConnectStale)
	def(&c.StaleConnection, p.StaleConnection)
	def(&c.CloseLinger, p.CloseLinger)
	defi(&c.HoldSize, p.HoldSize)
	defi(&c.MaxUnackedBytes, p.MaxUnackedBytes)
	defi(&c.MaxUnackedPackets, p.MaxUnackedPackets)
	defi(&c.MaxQueuedBytes, shard.DefaultMaxQueuedBytes)
	defi(&c.ReorderWindow, p.ReorderWindow)
	defi(&c.ReorderBytes, p.ReorderBytes)
	defi(&c.MaxFragmentSize, p.MaxFragmentSize)
	defi(&c.PeerBufferBudget, shard.DefaultPeerBudget)
	defi(&c.OutOfSessionRate, shard.DefaultOutOfSessionRate)
	defi(&c.HalfOpenMax, shard.DefaultHalfOpenMax)
	def(&c.HalfOpenTimeout, shard.DefaultHalfOpenTimeout)
	defi(&c.AttackRate, shard.DefaultAttackRate)
	defi(&c.Shards, runtime.GOMAXPROCS(0))
	defi(&c.Batch, shard.DefaultBatch)
	defi(&c.DatagramBuffer, shard.DefaultDatagramBuffer)
	defi(&c.RecvBuffer, 4<<20)
	defi(&c.SendBuffer, 4<<20)
	defi(&c.MaxSessions, shard.DefaultMaxSessions)
	defi(&c.MaxSessionsPerShard, c.MaxSessions)
	defi(&c.MaxSessionsPerIP, shard.DefaultMaxSessionsPerIP)
	defi(&c.InboxSize, shard.DefaultInboxSize)
	defi(&c.HandoffSize, shard.DefaultHandoffSize)
	def(&c.TimerSlot, shard.DefaultTimerSlot)
	return c
}

// fill is Filled in place (Listen and Dial work on their copy).
func (c *Config) fill() { *c = c.Filled() }

// Validate reports the first field of c (after defaults, see Filled) that
// Listen would refuse, as a *ConfigError; nil when c is usable. It does not
// touch the network, so a binary can check its flags before binding.
func (c Config) Validate() error {
	f := c.Filled()
	return f.validate()
}

// validate reports the first out-of-range field of a filled Config.
func (c *Config) validate() error {
	switch {
	case c.Variant >= proto.NumVariants:
		return configError("must be rs, legacy or eq2", "Variant")
	case c.Variant != VariantRS && c.CRCBytes != 2:
		return configError("must be 2 for legacy and eq2", "CRCBytes", "Variant")
	case c.Variant != VariantRS && c.MaxUnackedPackets > 1024:
		return configError("at most 1024 for legacy and eq2 (their sequence window is 2048)", "MaxUnackedPackets", "Variant")
	case c.Variant != VariantRS && c.ReorderWindow > 1024:
		return configError("at most 1024 for legacy and eq2 (their sequence window is 2048)", "ReorderWindow", "Variant")
	case c.Variant == VariantEQ2 && c.Encoding != EncodeNone:
		return configError("must be none for eq2", "Encoding", "Variant")
	case c.Variant == VariantLegacy && (c.Encoding == EncodeCompressXOR || c.Encoding == EncodeXORCompress):
		return configError("one pass at most for legacy: compress, xor or none", "Encoding", "Variant")
	case c.MaxPacketSize < 64 || c.MaxPacketSize > proto.MaxDatagram:
		return configError("out of range [64, 65536]", "MaxPacketSize")
	case c.CRCBytes != -1 && c.CRCBytes != 2 && c.CRCBytes != 4:
		return configError("must be -1 (none), 2 or 4", "CRCBytes")
	case c.Encoding >= numEncodings:
		return configError("unknown Encoding", "Encoding")
	case !c.CompressLevel.Valid():
		return configError("unknown CompressLevel", "CompressLevel")
	case c.Shards < 1 || c.Shards > MaxShards:
		return configError("out of range [1, 256]", "Shards")
	case c.Batch < 1 || c.Batch > 1024:
		return configError("out of range [1, 1024]", "Batch")
	case c.DatagramBuffer < c.MaxPacketSize+1 || c.DatagramBuffer > proto.MaxDatagram:
		return configError("must hold MaxPacketSize+1 and at most 65536 bytes", "DatagramBuffer", "MaxPacketSize")
	case c.RecvBuffer < 0 || c.SendBuffer < 0:
		return configError("must not be negative", bad(c.RecvBuffer < 0, "RecvBuffer", "SendBuffer"))
	case c.MaxSessions < 1:
		return configError("must be positive", "MaxSessions")
	case c.MaxSessionsPerShard < 1 || c.MaxSessionsPerShard > MaxSessionsPerShard:
		return configError("out of range [1, 1<<24-1]", "MaxSessionsPerShard")
	case c.MaxSessionsPerIP < 1:
		return configError("must be positive", "MaxSessionsPerIP")
	case c.MaxUnackedBytes < 1:
		return configError("must be positive", "MaxUnackedBytes")
	case c.MaxUnackedPackets < 1 || c.MaxUnackedPackets > proto.MaxUnackedPacketsLimit:
		return configError("out of range [1, 8192]", "MaxUnackedPackets")
	case c.ReorderWindow < 1 || c.ReorderWindow > proto.MaxUnackedPacketsLimit:
		return configError("out of range [1, 8192]", "ReorderWindow")
	case c.ReorderBytes < 1:
		return configError("must be positive", "ReorderBytes")
	case c.MaxFragmentSize < 1:
		return configError("must be positive", "MaxFragmentSize")
	case c.HalfOpenMax < 1:
		return configError("must be positive", "HalfOpenMax")
	case c.HalfOpenTimeout < 0:
		return configError("must not be negative", "HalfOpenTimeout")
	case c.MaxQueuedBytes < 1 || c.MaxQueuedBytes > shard.MaxQueuedBytesLimit:
		return configError("out of range [1, 1<<31-1]", "MaxQueuedBytes")
	case c.InboxSize < 1:
		return configError("must be positive", "InboxSize")
	case c.HandoffSize < 1:
		return configError("must be positive", "HandoffSize")
	case c.TimerSlot < time.Millisecond || c.TimerSlot > time.Second:
		return configError("out of range [1ms, 1s]", "TimerSlot")
	case c.ResendDelayFactor < 0:
		return configError("must not be negative", "ResendDelayFactor")
	case c.DataRate < 0:
		return configError("must not be negative", "DataRate")
	case c.HandlerPanic >= numPanicPolicies:
		return configError("unknown PanicPolicy", "HandlerPanic")
	case c.HoldDelay < 0:
		return configError("must not be negative", "HoldDelay")
	}
	return nil
}

// bad picks the field name a two-field check is about.
func bad(first bool, a, b string) string {
	if first {
		return a
	}
	return b
}

// Engine limits fixed by the SessionID layout.
const (
	MaxShards           = 256
	MaxSessionsPerShard = shard.MaxSlots - 1 // what a shard's slab can index
)

// shardConfig maps the public Config (filled and validated) to the engine's.
func (c *Config) shardConfig(role shard.Role) shard.Config {
	p := proto.ConfigFor(c.Variant)
	p.MaxPacketSize = c.MaxPacketSize
	p.CRCBytes = max(c.CRCBytes, 0)
	p.EncodePasses = c.Encoding.passes()
	p.CompressLevel = c.CompressLevel
	p.KeepAliveDelay = max(c.KeepaliveDelay, 0)
	p.ResendDelayBase = c.ResendDelayBase
	p.ResendDelayFactor = c.ResendDelayFactor
	p.ResendDelayMin = c.ResendDelayMin
	p.ResendDelayMax = c.ResendDelayMax
	p.ResendTimeout = c.ResendTimeout
	p.ConnectDelay = c.ConnectDelay
	p.ConnectStale = c.ConnectStale
	p.StaleConnection = c.StaleConnection
	p.CloseLinger = c.CloseLinger
	p.HoldSize = c.HoldSize
	p.OutgoingDataRate = c.DataRate
	p.ChatFiller = p.ChatFiller && !c.ChatNoFiller
	p.MaxUnackedBytes = c.MaxUnackedBytes
	p.MaxUnackedPackets = c.MaxUnackedPackets
	p.ReorderWindow = c.ReorderWindow
	p.ReorderBytes = c.ReorderBytes
	p.MaxFragmentSize = c.MaxFragmentSize
	return shard.Config{
		Role:                role,
		Proto:               p,
		Batch:               c.Batch,
		DatagramBuffer:      c.DatagramBuffer,
		RecvBuffer:          c.RecvBuffer,
		SendBuffer:          c.SendBuffer,
		Steering:            c.Steering,
		GSO:                 c.GSO,
		ShareSockets:        c.ShareSockets,
		MaxSessions:         c.MaxSessions,
		MaxSessionsPerShard: c.MaxSessionsPerShard,
		MaxSessionsPerIP:    c.MaxSessionsPerIP,
		InboxSize:           c.InboxSize,
		HandoffSize:         c.HandoffSize,
		MaxQueuedBytes:      c.MaxQueuedBytes,
		TimerSlot:           c.TimerSlot,
		HoldDelay:           c.HoldDelay,
		Rand:                c.Rand,
		OutOfSessionRate:    c.OutOfSessionRate,
		HalfOpenMax:         c.HalfOpenMax,
		HalfOpenTimeout:     c.HalfOpenTimeout,
		AttackRate:          c.AttackRate,
		PeerBudget:          c.PeerBufferBudget,
	}
}
