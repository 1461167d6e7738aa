package proto

import (
	"encoding/binary"
	"time"
)

// The EverQuest II application layer (SPEC §22.5 to §22.7): what travels
// inside the payload of an EQ2 OP_Packet (after its 2-byte sequence) or a
// reassembled OP_Fragment set.
//
// Server to client, each application packet becomes one "prepared payload":
//
//	[00 escape?] RC4_s2c( [flag 00][opcode form][body]           )
//	[00 escape?] RC4_s2c( [flag 01][session deflate stream bytes] )
//
// deflated when 2+1+len(app) > 128 bytes (whether or not that shrinks it),
// RC4 once the key exists, and a 00 in front when the first resulting byte
// is 00. Prepared payloads wait in a combine queue for the 250 ms combine
// timer, then are packed in order into AppCombined payloads (00 19 [len]
// [payload]...) of at most EQ2CombinedMax bytes.
//
// Client to server, each application packet is [00 escape?] RC4_c2s([opcode
// form][body]): no flag, no compression, and no escape on a payload that
// will be fragmented.
//
// Before any of that the client sends the key packet (69 bytes by default,
// SPEC §22.7 step 2), whose last 8 bytes are K64, big-endian. Only K64 = 0
// leaves RC4 off.
//
// Ownership and memory: an EQ2App is one session's state (two RC4 ciphers,
// the combine queue, the client's 8 KiB inflate history, the server's
// optional deflate history) and belongs to the
// goroutine that owns the session. An EQ2Coder is the scratch space shared by
// every session of one goroutine (the deflate and inflate engines, the
// prepare buffers); it is not safe for concurrent use. Payloads handed to
// EQ2Events are valid only during the call. Nothing here reads a clock: the
// combine timer runs on the Nanotime passed in.
//
// The session-long deflate stream: eqgate's server writes one zlib stream
// per session (header 58 c3, declaring an 8 KiB window, on the first
// compressed payload; a sync flush after every payload) with the
// compression pass's encoder at the listener's CompressLevel (klauspost/
// compress's fixed-window one for payloads primed with a dictionary or over
// 64 KiB), limited to 8 KiB distances, so any receiver of the stream
// inflates it, including one with window bits 13 (the stdlib's and
// klauspost's level-9 writers use 32 KiB and would not do). The encoder is
// shared by the shard and restarted for every payload, instead of costing
// each session what C zlib's deflate does at window bits 13 and memLevel 9:
// (1<<15) + (1<<18) bytes, 288 KiB (zlib.h). By default a payload is
// compressed on its own; with EQ2Config.DeflateHistory the encoder is
// primed with the session's last deflated bytes, so payloads refer to
// earlier ones as C zlib's do, for that many bytes per session and the CPU
// to prime it. SPEC §22.6 leaves
// the choice to the encoder: its bytes need not match C zlib's.

// Sizes of the EQ2 application layer (SPEC §22.6, §22.7).
const (
	// EQ2CompressOver: a prepared payload is deflated when its 2 sequence
	// bytes + flag + opcode form + body exceed this.
	EQ2CompressOver = 128
	// EQ2CombinedMax is the most bytes an AppCombined payload (00 19, then
	// every element with its length byte) holds: EQ2EMu's
	// EQ2Packet::AppCombine combines while size + 2 sequence bytes + 4 stay
	// under 255 (SPEC §22.6 "under 255 bytes"; eq2_login line 122 has 248).
	EQ2CombinedMax = 248
	// EQ2KeyPacketMin is the least application bytes EQ2EMu takes as the
	// key packet (69 counting the 2 sequence bytes).
	EQ2KeyPacketMin = 67
	// EQ2KeyPacketLen is the size of the key packet eqgate's client sends:
	// 02, u32 LE 64, 56 zero bytes, K64 big-endian.
	EQ2KeyPacketLen = 69
	// EQ2KeyRequestLen is the payload of OP_WSLoginRequestMsg in EQ2EMu's
	// opcode-2 form: 02, then u32 LE 60, 60 × ff, u32 LE 1, u8 1.
	EQ2KeyRequestLen = 70
	// EQ2Window is the deflate window both ends assume (window bits 13).
	EQ2Window = 1 << 13
	// EQ2MaxInflate is the default cap on one inflated application packet.
	EQ2MaxInflate = 1 << 20
)

// EQ2OpKeyRequest is the wire opcode of OP_WSLoginRequestMsg in EQ2EMu's
// opcode-2 form (SPEC §22.6, §22.7 step 1), which has no flag byte.
const EQ2OpKeyRequest = 0x02

// eq2KeyPacketHead is what eqgate's client puts in front of the zero
// padding and K64 (SPEC §22.7, line 71 of eq2_login.client.txt).
var eq2KeyPacketHead = [5]byte{0x02, 0x40, 0x00, 0x00, 0x00}

// Errors of the EQ2 application layer. The ones EQ2Fatal reports mean the
// stream can no longer be decoded (RC4 or deflate state lost): the session
// closes. The others are drops or refusals, counted by Reason.
var (
	ErrEQ2Inflate        = &Error{ReasonInflate, "eq2 inflate"}
	ErrEQ2InflateTooBig  = &Error{ReasonInflate, "eq2 inflate output over cap"}
	ErrEQ2ZlibHeader     = &Error{ReasonInflate, "eq2 zlib header (not deflate, window over 8 KiB, or preset dictionary)"}
	ErrEQ2StreamEnd      = &Error{ReasonInflate, "eq2 deflate stream ended"}
	ErrEQ2BadFlag        = &Error{ReasonUnknownOpcode, "eq2 payload flag not 00 or 01"}
	ErrEQ2Unescaped      = &Error{ReasonUnknownOpcode, "eq2 server payload starts 00 without escape"}
	ErrEQ2BadKeyRequest  = &Error{ReasonBadLength, "eq2 key request (not an exponent-1 OP_WSLoginRequestMsg)"}
	ErrEQ2BeforeKey      = &Error{ReasonIgnored, "eq2 client packet before the key packet"}
	ErrEQ2EmptyPayload   = &Error{ReasonShort, "eq2 empty payload"}
	ErrEQ2EmptyApp       = &Error{ReasonShort, "eq2 empty application packet"}
	ErrEQ2QueueFull      = &Error{ReasonTooBig, "eq2 combine queue full"}
	ErrEQ2Unsendable     = &Error{ReasonTooBig, "eq2 message has no sendable ciphertext (no filler configured, or fillers exhausted)"}
	ErrEQ2ShortKeyPacket = &Error{ReasonBadParams, "eq2 key packet length below 67"}
)

// EQ2Fatal reports whether err, from EQ2App.Receive, means the session's
// receive stream is broken (bad deflate stream, inflate over its cap, a
// payload no EQ2 peer sends, a key request eqgate cannot answer). The session
// closes on it; any other error is a dropped payload to count.
func EQ2Fatal(err error) bool {
	switch err {
	case ErrEQ2Inflate, ErrEQ2InflateTooBig, ErrEQ2ZlibHeader, ErrEQ2StreamEnd,
		ErrEQ2BadFlag, ErrEQ2Unescaped, ErrEQ2BadKeyRequest:
		return true
	}
	return false
}

// EQ2Config holds the application-layer options of an EQ2 listener or
// dialler. Zero fields take the defaults of DefaultEQ2Config; share one
// read-only between sessions.
type EQ2Config struct {
	// Combine timer (server role, SPEC §22.6): outgoing application
	// packets wait for the next tick of a CombineDelay-periodic timer,
	// then one pass prepares up to CombinePackets of them, stopping early
	// once the packet being built passes CombineBytes; the rest wait for
	// the next tick. EQ2EMu: 250 ms, 60, 4000. A negative CombineDelay
	// prepares every packet as it is sent (no AppCombined).
	CombineDelay   time.Duration
	CombinePackets int
	CombineBytes   int

	// QueueBytes and QueuePackets cap what the combine queue (server) or
	// the wait for the key (client) holds per session; Send returns
	// ErrEQ2QueueFull beyond them. Defaults 1 MiB and 4096.
	QueueBytes   int
	QueuePackets int

	// MaxInflate caps one inflated application packet (client role).
	MaxInflate int

	// DeflateHistory (server role) primes the deflate encoder of every
	// payload with the last DeflateHistory bytes (at most EQ2Window) the
	// session has deflated, so payloads can refer to earlier ones as C
	// zlib's session-long stream does. It costs that many bytes per session
	// and about the time of compressing them again per deflated payload.
	// 0 (the default): every payload is compressed on its own.
	DeflateHistory int

	// KeyPacketLen is the client's key packet length, at least
	// EQ2KeyPacketMin (default EQ2KeyPacketLen).
	KeyPacketLen int

	// Filler is an application packet the server ignores, which eqgate's
	// client sends to move the RC4 keystream on when a message's
	// ciphertext would be misread by EQ2EMu (SPEC §22.6 (b)) and the
	// session cannot send it as fragments (EQ2FragmentSender). nil: such a
	// message fails with ErrEQ2Unsendable (1 in 256 of max_packet_size−10
	// byte messages, 1 in 65,536 of 4-byte ones).
	Filler []byte
}

// DefaultEQ2Config returns EQ2EMu's values (SPEC §22.6).
func DefaultEQ2Config() EQ2Config {
	return EQ2Config{
		CombineDelay:   250 * time.Millisecond,
		CombinePackets: 60,
		CombineBytes:   4000,
		QueueBytes:     1 << 20,
		QueuePackets:   4096,
		MaxInflate:     EQ2MaxInflate,
		KeyPacketLen:   EQ2KeyPacketLen,
	}
}

// filled returns c with zero fields set to their defaults.
func (c EQ2Config) filled() EQ2Config {
	d := DefaultEQ2Config()
	if c.CombineDelay == 0 {
		c.CombineDelay = d.CombineDelay
	}
	if c.CombinePackets <= 0 {
		c.CombinePackets = d.CombinePackets
	}
	if c.CombineBytes <= 0 {
		c.CombineBytes = d.CombineBytes
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.QueuePackets <= 0 {
		c.QueuePackets = d.QueuePackets
	}
	if c.MaxInflate <= 0 {
		c.MaxInflate = d.MaxInflate
	}
	if c.KeyPacketLen == 0 {
		c.KeyPacketLen = d.KeyPacketLen
	}
	c.DeflateHistory = min(max(c.DeflateHistory, 0), EQ2Window)
	return c
}

// EQ2Events receives what the application layer produces. Both methods run
// synchronously inside the EQ2App call that caused them; the slice is valid
// only during the call.
type EQ2Events interface {
	// EQ2Send hands over the next payload to send reliably, in order: the
	// caller puts it in an OP_Packet after the sequence, or fragments it
	// when 2+len(payload) > max_packet_size−8 (EQ2Fragmented). Payloads
	// must go out in the order they arrive here (the RC4 state runs on).
	EQ2Send(payload []byte)
	// EQ2Deliver hands over one received application packet, [opcode
	// form][body] (SPEC §22.5).
	EQ2Deliver(app []byte)
}

// EQ2FragmentSender is an optional extension of EQ2Events for the client
// role: EQ2SendFragmented hands over a payload that must go as a set of
// exactly two OP_Fragments although it would fit one OP_Packet, never
// escaped, the last fragment starting at EQ2SplitForced(payload). The
// client uses it for the ciphertexts EQ2EMu misreads as one OP_Packet
// (SPEC §22.6 (b): "02 ff ?? ??", and max_packet_size−10 bytes starting
// 00), since a reassembled set is decrypted whole and never unescaped.
// Without it the client needs EQ2Config.Filler for those.
type EQ2FragmentSender interface {
	EQ2SendFragmented(payload []byte)
}

// EQ2Stats counts what one session's application layer did.
type EQ2Stats struct {
	Prepared    uint64 // application packets prepared for sending
	Deflated    uint64 // of those, deflated (server)
	AppCombined uint64 // AppCombined payloads sent (server)
	Fillers     uint64 // filler messages sent to move the keystream (client)
	// ForcedFragments: payloads sent as a two-fragment set through
	// EQ2FragmentSender because EQ2EMu would misread them whole (client).
	ForcedFragments uint64
	Delivered       uint64 // application packets delivered
	Inflated        uint64 // of those, inflated (client)
	IgnoredPreKey   uint64 // client payloads ignored before the key packet (server)
	Escapes         uint64 // zero-escapes added on send
}

// EQ2App is one session's application layer, server or client role. The
// zero value is unusable: call InitServer or InitClient. Release hands its
// buffers back when the session ends.
type EQ2App struct {
	cfg    EQ2Config
	client bool
	keyed  bool // key packet received (server) or sent (client)
	k64    uint64
	send   RC4
	recv   RC4
	// zstream: server, the zlib header has been sent; client, received.
	zstream   bool
	maxPacket int

	// Combine queue (server) or wait for the key (client): records of
	// u32 LE length + bytes in q[qHead:].
	q      []byte
	qHead  int
	qCount int
	epoch  Nanotime // combine timer phase
	due    Nanotime // next combine pass while qCount > 0

	// hist: client, the last ≤ EQ2Window bytes of the inflated stream;
	// server, the last DeflateHistory bytes deflated.
	hist []byte

	Stats EQ2Stats
}

// InitServer readies a for a server session created at now.
func (a *EQ2App) InitServer(cfg *EQ2Config, now Nanotime) {
	*a = EQ2App{cfg: cfg.filled(), epoch: now, maxPacket: DefaultMaxPacket}
}

// InitClient readies a for a client session created at now, which will key
// its ciphers with k64 (pick it at random and non-zero; 0 leaves RC4 off).
// It fails only when cfg.KeyPacketLen is below EQ2KeyPacketMin.
func (a *EQ2App) InitClient(cfg *EQ2Config, k64 uint64, now Nanotime) error {
	c := cfg.filled()
	if c.KeyPacketLen < EQ2KeyPacketMin {
		return ErrEQ2ShortKeyPacket
	}
	*a = EQ2App{cfg: c, client: true, k64: k64, epoch: now, maxPacket: DefaultMaxPacket}
	return nil
}

// SetMaxPacket tells a the session's negotiated max_packet_size, which the
// client needs to decide escapes and fragmentation (SPEC §22.6).
func (a *EQ2App) SetMaxPacket(n int) { a.maxPacket = n }

// Keyed reports whether the key packet has been received (server) or sent
// (client).
func (a *EQ2App) Keyed() bool { return a.keyed }

// K64 returns the session key: the one received (server, valid once Keyed)
// or the one InitClient was given.
func (a *EQ2App) K64() uint64 { return a.k64 }

// Encrypted reports whether RC4 is on: keyed with a non-zero K64.
func (a *EQ2App) Encrypted() bool { return a.keyed && a.k64 != 0 }

// Queued returns the application packets waiting in the combine queue
// (server) or for the key (client).
func (a *EQ2App) Queued() int { return a.qCount }

// Release returns a's buffers to c's Allocator and leaves a unusable until
// the next Init.
func (a *EQ2App) Release(c *EQ2Coder) {
	c.put(a.q)
	c.put(a.hist)
	a.q, a.hist = nil, nil
	a.qHead, a.qCount = 0, 0
}

// AppendEQ2KeyRequest appends the server's key request payload (SPEC §22.7
// step 1): OP_WSLoginRequestMsg in opcode-2 form, 70 bytes, sent as an
// OP_Packet payload, never encrypted or compressed.
func AppendEQ2KeyRequest(b []byte) []byte {
	b = append(b, EQ2OpKeyRequest, 60, 0, 0, 0)
	for range 60 {
		b = append(b, 0xff)
	}
	return append(b, 1, 0, 0, 0, 1)
}

// AppendEQ2KeyPacket appends a client key packet of n ≥ EQ2KeyPacketMin
// bytes carrying k64 (SPEC §22.7 step 2): 02 40 00 00 00, zeros, then K64
// big-endian as the last 8 bytes.
func AppendEQ2KeyPacket(b []byte, k64 uint64, n int) []byte {
	b = append(b, eq2KeyPacketHead[:]...)
	for range n - len(eq2KeyPacketHead) - 8 {
		b = append(b, 0)
	}
	return binary.BigEndian.AppendUint64(b, k64)
}

// EQ2StatResponse builds the server's answer to an EQ2 stat request (SPEC
// §22.7 step 1): the request id, the server time, then the four counters
// EQ2EMu sends, in order server received, server sent, server sent, server
// received.
func EQ2StatResponse(req SessionStatRequest, serverTime uint32, sent, recv uint32) SessionStatResponse {
	return SessionStatResponse{
		Timestamp:  req.Timestamp,
		ServerTime: serverTime,
		ClientSent: uint64(recv),
		ClientRecv: uint64(sent),
		ServerSent: uint64(sent),
		ServerRecv: uint64(recv),
	}
}

// EQ2Fragmented reports whether a payload of n bytes must be fragmented at
// max_packet_size maxPacket: 2 + n > maxPacket − 8 (SPEC §22.6).
func EQ2Fragmented(n, maxPacket int) bool { return 2+n > maxPacket-8 }
