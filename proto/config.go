package proto

import (
	"errors"
	"math/bits"
	"time"
)

// Config holds every session option of SPEC §18.2 plus eqgate's caps on
// what a peer can make a session hold. Build one with DefaultConfig or
// ZoneConfig, adjust it, call Validate once, then share it read-only between
// every session (and shard) that uses it.
type Config struct {
	// Variant selects the protocol family (SPEC §1.1): RS, or LEGACY and
	// EQ2 with the rules of SPEC §21 and §22. Start from ConfigFor(variant)
	// to get that variant's defaults.
	Variant Variant

	// Wire parameters a server offers in its SessionResponse (SPEC §6.3).
	MaxPacketSize int     // max_packet_size: cap on the negotiated datagram size (512)
	CRCBytes      int     // crc_length: 0, 2 or 4 (2)
	EncodePasses  [2]Pass // encode_passes ([0,0]; zone [1,0])
	// CompressLevel is the compression pass's CPU against its bytes, for
	// what this end sends (CompressDefault); the peer inflates any level.
	CompressLevel CompressLevel

	// ProtocolVersion is what a client puts in its SessionRequest (3, SPEC §6.5).
	ProtocolVersion uint32

	KeepAliveDelay    time.Duration // keepalive_delay_ms: KeepAlive after this long with nothing sent; 0 = off (9 s)
	ResendDelayBase   time.Duration // resend_delay_ms: additive base of the resend delay (30 ms; world/zone 100 ms)
	ResendDelayFactor float64       // resend_delay_factor: multiplies rolling_ping (1.25; world/zone 1.5)
	ResendDelayMin    time.Duration // resend_delay_min (150 ms; world/zone 300 ms)
	ResendDelayMax    time.Duration // resend_delay_max (5 s)
	ResendTimeout     time.Duration // resend_timeout: close with a packet unacked this long (30 s)
	ConnectDelay      time.Duration // connect_delay_ms: client SessionRequest retry (500 ms)
	ConnectStale      time.Duration // connect_stale_ms: client gives up with nothing received (5 s)
	StaleConnection   time.Duration // stale_connection_ms: drop a session with nothing received (60 s)
	CloseLinger       time.Duration // connection_close_time: Disconnecting linger (2 s)
	HoldSize          int           // hold_size: flush the hold buffer past this many bytes (512)
	HoldLength        time.Duration // hold_length_ms: longest a packet waits in the hold buffer if the owner never flushes (50 ms)
	InitialPing       time.Duration // initial rolling_ping (500 ms, SPEC §12.1)
	TickInterval      time.Duration // 1000/tic_rate_hertz (16 ms): pacing of resend bursts cut by the limits below
	// OutgoingDataRate is the outgoing budget in KB/s (SPEC §20.1); 0 = off.
	OutgoingDataRate float64

	// Resend pass limits: never resend more than this many packets or bytes
	// per stream in one Tick (RS: 300 packets / 140 KiB, SPEC §12.2).
	ResendBurstPackets int
	ResendBurstBytes   int

	// Caps on what a peer can make a session hold (SPEC §13.3, §14.3, §24.3).
	ReorderWindow     int // future packets queued per stream (rounded up to a power of two, ≤ 8192)
	ReorderBytes      int // bytes queued per stream in the reorder queue
	MaxFragmentSize   int // largest reassembled fragment set; memory is taken as data arrives
	MaxUnackedBytes   int // sent-but-unacked bytes per session; Send returns ErrSendQueueFull above it
	MaxUnackedPackets int // sent-but-unacked packets per stream (rounded up to a power of two, ≤ 8192)
	MaxDepth          int // nesting depth of Combined/AppCombined/Packet payloads (8)

	// AckDelay is LEGACY's and EQ2's writer tick (SPEC §21.2, §22.4): a
	// cumulative Ack waits at most this long for other output to ride with
	// (10 ms). RS acks through the hold buffer and ignores it.
	AckDelay time.Duration
	// CRC leniencies of EQ2 and LEGACY (SPEC §21.3, §22.3), applied only
	// when a trailer does not match and counted in Stats.LenientCRC:
	// LenientZeroCRC accepts a 00 00 trailer (on for LEGACY and EQ2),
	// Lenient0019 accepts any packet whose bytes 2..3 are 00 19 (EQ2).
	LenientZeroCRC bool
	Lenient0019    bool
	// ChatFiller: a LEGACY client on a chat stream (the SessionResponse's
	// format 04, XOR) puts one filler byte (00) after the 1-byte opcode of
	// every application packet it sends, as Titanium chat clients do: the
	// 2017 UCS stream drops byte 1 of each client packet (SPEC §21.4 (b)),
	// so the server's handler then reads what the application sent. On in
	// ConfigFor(VariantLegacy); off for packets that already carry a
	// client's filler (a relay forwarding a Titanium client's packets,
	// which eqgate's server delivers whole).
	ChatFiller bool
	// EQ2 holds the EQ2 application layer's options (SPEC §22.6, §22.7);
	// zero fields take DefaultEQ2Config's values.
	EQ2 EQ2Config

	// IdleRelease is how long a session with nothing in flight keeps its
	// lazily grown rings and hold buffer before handing them back.
	IdleRelease time.Duration

	validated bool
}

// Errors from Config.Validate and session entry points.
var (
	ErrVariantNotSupported = errors.New("proto: unknown session variant")
	ErrConfigNotValidated  = errors.New("proto: Config.Validate was not called")
	ErrBadConfig           = errors.New("proto: invalid session config")
	ErrNotConnected        = errors.New("proto: session not connected")
	ErrSendQueueFull       = errors.New("proto: sent-but-unacked cap reached")
	ErrBadStream           = errors.New("proto: stream out of range")
	ErrEmptyPacket         = errors.New("proto: empty application packet")
	ErrPacketTooShort      = errors.New("proto: 1-byte application packet to a LEGACY world, zone or login peer (SPEC §21.4)")
	ErrClosing             = errors.New("proto: session is closing")
	ErrPacketTooLarge      = errors.New("proto: application packet above MaxFragmentSize or MaxUnackedBytes")
)

// MinPacketSize is the smallest max_packet_size eqgate accepts from a peer:
// below it the fragment arithmetic of SPEC §13.2 leaves no room for data.
const MinPacketSize = 64

// Limits of the ring sizes (SPEC §11.2: a sender must keep fewer than 10000
// packets in flight or the receiver reads new ones as past).
const maxRing = 8192

// MaxUnackedPacketsLimit is the largest MaxUnackedPackets (and
// ReorderWindow) that takes effect; larger values are rounded down to it.
const MaxUnackedPacketsLimit = maxRing

// DefaultConfig returns RS's defaults (SPEC §18.2; login service) with
// eqgate's caps.
func DefaultConfig() Config {
	return Config{
		Variant:            VariantRS,
		MaxPacketSize:      DefaultMaxPacket,
		CRCBytes:           2,
		ProtocolVersion:    3,
		KeepAliveDelay:     9 * time.Second,
		ResendDelayBase:    30 * time.Millisecond,
		ResendDelayFactor:  1.25,
		ResendDelayMin:     150 * time.Millisecond,
		ResendDelayMax:     5 * time.Second,
		ResendTimeout:      30 * time.Second,
		ConnectDelay:       500 * time.Millisecond,
		ConnectStale:       5 * time.Second,
		StaleConnection:    60 * time.Second,
		CloseLinger:        2 * time.Second,
		HoldSize:           512,
		HoldLength:         50 * time.Millisecond,
		InitialPing:        500 * time.Millisecond,
		TickInterval:       16 * time.Millisecond,
		ResendBurstPackets: 300,
		ResendBurstBytes:   140 << 10,
		ReorderWindow:      2048,
		ReorderBytes:       1 << 20,
		MaxFragmentSize:    1 << 20,
		MaxUnackedBytes:    512 << 10,
		MaxUnackedPackets:  2048,
		MaxDepth:           8,
		IdleRelease:        2 * time.Second,
	}
}

// ConfigFor returns the defaults of variant v: DefaultConfig for RS; for
// LEGACY the world/zone service (SPEC §21: K 0x11223344, format 01,
// retransmit 1500 ms adapted from SessionStatRequest, 135 s stream
// timeout); for EQ2 SPEC §22.4 (K 0x33624702, format 0, retransmit
// 1500 ms, 45 s stream timeout, both CRC leniencies). A LEGACY chat
// service sets EncodePasses to [xor, none] and StaleConnection to 45 s, a
// login service EncodePasses to none.
func ConfigFor(v Variant) Config {
	c := DefaultConfig()
	c.Variant = v
	if v == VariantRS || v >= NumVariants {
		return c
	}
	c.CRCBytes = 2
	c.ProtocolVersion = 0 // what LEGACY's and EQ2EMu's own clients send (SPEC §21.1, §22.2)
	c.AckDelay = 10 * time.Millisecond
	c.LenientZeroCRC = true
	c.ResendDelayMin = 1500 * time.Millisecond
	// In flight must stay under the 2048 window or the receiver reads new
	// packets as past ones.
	c.MaxUnackedPackets = 1024
	c.ReorderWindow = 1024
	switch v {
	case VariantLegacy:
		c.EncodePasses = [2]Pass{PassCompress, PassNone}
		c.ChatFiller = true
		c.ResendDelayMax = 5 * time.Second // the adaptive timeout's cap
		c.StaleConnection = 135 * time.Second
	case VariantEQ2:
		c.ResendDelayMax = c.ResendDelayMin
		c.StaleConnection = 45 * time.Second
		c.Lenient0019 = true
	}
	// A fixed retransmit timeout makes every unacked packet due at once;
	// pace those resends (16 per 16 ms tick, about 500 KB/s, above the
	// upstream writer's 393 KB/s budget) so a burst neither overflows the
	// peer's socket buffer nor keeps a shard re-encoding resends instead
	// of reading its socket.
	c.ResendBurstPackets = 16
	c.ResendBurstBytes = 8 << 10
	// No attempt limit upstream: a packet is retried until the stream
	// times out.
	c.ResendTimeout = c.StaleConnection
	return c
}

// ZoneConfig returns the EQEmu world/zone rules (SPEC §12.1, §18.2):
// resend base 100 ms, factor 1.5, minimum 300 ms, and the compression pass.
func ZoneConfig() Config {
	c := DefaultConfig()
	c.ResendDelayBase = 100 * time.Millisecond
	c.ResendDelayFactor = 1.5
	c.ResendDelayMin = 300 * time.Millisecond
	c.EncodePasses = [2]Pass{PassCompress, PassNone}
	return c
}

// Validate checks the options, rounds the ring sizes up to powers of two and
// marks the Config usable. Call it once before sharing the Config.
func (c *Config) Validate() error {
	if c.Variant >= NumVariants {
		return ErrVariantNotSupported
	}
	switch {
	case c.CRCBytes != 0 && c.CRCBytes != 2 && c.CRCBytes != 4,
		c.MaxPacketSize < MinPacketSize || c.MaxPacketSize > MaxDatagram,
		c.ResendDelayFactor < 0,
		c.ResendDelayMin <= 0 || c.ResendDelayMax < c.ResendDelayMin,
		c.ResendTimeout <= 0, c.ConnectDelay <= 0, c.ConnectStale <= 0,
		c.StaleConnection <= 0, c.CloseLinger < 0, c.KeepAliveDelay < 0,
		c.HoldSize <= 0, c.HoldLength <= 0, c.InitialPing < 0, c.TickInterval <= 0,
		c.ResendBurstPackets <= 0, c.ResendBurstBytes <= 0,
		c.ReorderWindow <= 0, c.ReorderBytes <= 0, c.MaxFragmentSize <= 0,
		c.MaxUnackedBytes <= 0, c.MaxUnackedPackets <= 0,
		c.MaxDepth <= 0, c.IdleRelease <= 0, c.OutgoingDataRate < 0, c.AckDelay < 0:
		return ErrBadConfig
	}
	if !c.CompressLevel.Valid() {
		return ErrBadConfig
	}
	if err := c.validateVariant(); err != nil {
		return err
	}
	c.EQ2 = c.EQ2.filled()
	if c.EQ2.KeyPacketLen < EQ2KeyPacketMin {
		return ErrBadConfig
	}
	for i, p := range c.EncodePasses {
		if p != PassCompress && p != PassXOR {
			c.EncodePasses[i] = PassNone
		}
	}
	c.ReorderWindow = ringSize(c.ReorderWindow)
	c.MaxUnackedPackets = ringSize(c.MaxUnackedPackets)
	c.validated = true
	return nil
}

func ringSize(n int) int {
	if n > maxRing {
		return maxRing
	}
	return 1 << bits.Len(uint(n-1))
}

// ms converts a duration option to the millisecond integers RS computes in.
func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }
