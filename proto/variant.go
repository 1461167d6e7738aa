package proto

// Variant is a protocol family (SPEC §1.1).
type Variant uint8

const (
	VariantRS     Variant = iota // EQEmu reliable stream: the normative baseline
	VariantLegacy                // EQEmu EQStream 2005-2016 (SPEC §21)
	VariantEQ2                   // EQ2EMu (SPEC §22)
	NumVariants
)

func (v Variant) String() string {
	if v < NumVariants {
		return variants[v].name
	}
	return "unknown"
}

// ParseVariant returns the Variant named s ("rs", "legacy", "eq2").
func ParseVariant(s string) (Variant, bool) {
	for v := range NumVariants {
		if variants[v].name == s {
			return v, true
		}
	}
	return 0, false
}

// Fragment rules (SPEC §13.2, §21.4, §22.6).
const (
	fragRS     = iota // M_raw = max−crc−5; first max−crc−9, then max−crc−5
	fragLegacy        // fragment when the body (opcode not counted) > max−8; max−10, then max−6
	fragEQ2           // fragment when 2 + payload > max−8; max−10, then max−6
)

// variantRules are the session behaviours that differ between variants. The
// session reads them instead of testing the variant, so the state machine
// has one shape and each difference is one field here.
type variantRules struct {
	name           string
	window         int    // sequence window (SPEC §11.2, §21.2)
	streams        int    // reliable streams (4 RS, 1 LEGACY/EQ2)
	fixedKey       uint32 // the key every session of the variant uses (0: random)
	legacyResponse bool   // send the 21-byte SessionResponse (SPEC §5.2)
	disconnectTail bool   // EQ2: SessionDisconnect is code + 00 06 (SPEC §22.4)
	futureOOA      bool   // RS: OutOfOrderAck(q) for a future packet; LEGACY/EQ2 queue silently
	// clientFutureOOA: eqgate's LEGACY client still sends OutOfOrderAck(q)
	// for a packet after a gap, the only resend trigger of a LEGACY login
	// or chat server (SPEC §21.2).
	clientFutureOOA bool
	pastOOA         bool // LEGACY/EQ2: OutOfOrderAck(q) for a past packet; RS: Ack(in-1)
	// echoKeepAlive: a LEGACY/EQ2 server echoes every KeepAlive (SPEC §21.5,
	// §22.4). eqgate's client never echoes (two echoing peers would bounce
	// one forever), and an echoing server sends none of its own for the
	// same reason.
	echoKeepAlive bool
	// deferredAck: one cumulative Ack for the highest in-order sequence,
	// sent by the writer (Config.AckDelay after the first unacked arrival,
	// or with the next datagram that leaves) instead of one per packet.
	deferredAck bool
	// peerAckDefect: the peer ignores an Ack equal to its oldest unacked
	// sequence (SPEC §21.2 (b)); eqgate's client adds OutOfOrderAck(q).
	peerAckDefect bool
	combineLimit  int  // largest decoded OP_Combined we build (0: the hold limit); LEGACY packs under 256 bytes
	combinedLong  bool // EQ2: OP_Combined elements may carry an ff + u16 BE length
	fixedResend   bool // resend every retransmit timeout, no doubling (SPEC §21.2, §22.4)
	adaptiveRTO   bool // LEGACY: a SessionStatRequest recomputes the retransmit timeout
	ooaResend     bool // OutOfOrderAck(q) resends older packets sent over 2×AverageDelta+100 ms ago
	byteBudget    bool // the 20 ms byte-budget writer limit (SPEC §21.2), server role
	legacyPasses  bool // compression OR XOR, the whole-packet 30-byte test, format flags
	fragRule      int
	reliableOnly  bool // no raw application packets to these peers (SPEC §21.4 (b), §22.6 (b))
	requestReinit bool // SessionRequest while established: re-initialise or disconnect (SPEC §21.1)
	// requestReplaces: a SessionRequest with a new connect code from the
	// session's endpoint ends it and opens a new one (SPEC §22.1).
	requestReplaces bool
	oosCloses       bool // server: a received OutOfSession sends SessionDisconnect and closes (SPEC §22.4)
	closeDrains     bool // Close waits for queued and unacked data (SPEC §21.5)
	minApp          int  // smallest application packet Send accepts (LEGACY: 2, SPEC §21.4 (b))
}

var variants = [NumVariants]variantRules{
	VariantRS: {
		name: "rs", window: SeqWindow, streams: Streams,
		futureOOA: true, minApp: 1,
	},
	VariantLegacy: {
		name: "legacy", window: 2048, streams: 1, fixedKey: 0x11223344,
		legacyResponse: true, pastOOA: true, clientFutureOOA: true, echoKeepAlive: true, deferredAck: true,
		peerAckDefect: true, combineLimit: 255, fixedResend: true, adaptiveRTO: true,
		ooaResend: true, byteBudget: true, legacyPasses: true, fragRule: fragLegacy,
		reliableOnly: true, requestReinit: true, closeDrains: true, minApp: 2,
	},
	VariantEQ2: {
		name: "eq2", window: 2048, streams: 1, fixedKey: 0x33624702,
		legacyResponse: true, disconnectTail: true, pastOOA: true, echoKeepAlive: true,
		deferredAck: true, peerAckDefect: true, combineLimit: 255, combinedLong: true,
		fixedResend: true, ooaResend: true, byteBudget: true, fragRule: fragEQ2,
		reliableOnly: true, requestReplaces: true, oosCloses: true, minApp: 1,
	},
}

// LegacyKey and EQ2Key are the fixed session keys of SPEC §21.1 and §22.2.
const (
	LegacyKey uint32 = 0x11223344
	EQ2Key    uint32 = 0x33624702
)

// validateVariant checks what LEGACY and EQ2 fix on the wire (SPEC §21.1,
// §22.2): a 2-byte CRC, EQ2 without protocol passes, LEGACY with at most
// one (its streams handle compression or XOR, never both), and windows
// that keep in-flight packets inside the 2048 sequence window.
func (c *Config) validateVariant() error {
	r := &variants[c.Variant]
	if c.Variant == VariantRS {
		return nil
	}
	p := c.EncodePasses
	both := (p[0] == PassCompress || p[1] == PassCompress) && (p[0] == PassXOR || p[1] == PassXOR)
	switch {
	case c.CRCBytes != 2,
		c.Variant == VariantEQ2 && (p[0] != PassNone || p[1] != PassNone),
		both,
		ringSize(c.MaxUnackedPackets) >= r.window, ringSize(c.ReorderWindow) >= r.window,
		c.AckDelay <= 0:
		return ErrBadConfig
	}
	return nil
}

// legacyPasses maps LEGACY format flags to the one pass a stream runs:
// compression wins over XOR (SPEC §21.3).
func legacyPasses(format uint8) [2]Pass {
	switch {
	case format&byte(PassCompress) != 0:
		return [2]Pass{PassCompress, PassNone}
	case format&byte(PassXOR) != 0:
		return [2]Pass{PassXOR, PassNone}
	}
	return [2]Pass{}
}
