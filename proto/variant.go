package proto

// Variant is a protocol family (SPEC §1.1).
type Variant uint8

const (
	VariantRS     Variant = iota // EQEmu reliable stream: the normative baseline
	VariantLegacy                // EQEmu EQStream 2005-2016 (SPEC §21): seam only
	VariantEQ2                   // EQ2EMu (SPEC §22): seam only
)

func (v Variant) String() string {
	if int(v) < len(variants) {
		return variants[v].name
	}
	return "unknown"
}

// variantRules are the session behaviours that differ between variants. The
// session reads them instead of testing the variant, so filling in LEGACY or
// EQ2 means completing their rows (and the parts marked in Validate), not
// editing the state machine.
type variantRules struct {
	name           string
	window         int  // sequence window (SPEC §11.2, §21)
	streams        int  // reliable streams (4 RS, 1 LEGACY/EQ2)
	legacyResponse bool // send the 21-byte SessionResponse (SPEC §5.2)
	disconnectTail bool // EQ2: SessionDisconnect is code + 00 06 (SPEC §5.3)
	futureOOA      bool // RS: OutOfOrderAck(q) for a future packet; LEGACY/EQ2 queue silently
	pastOOA        bool // LEGACY/EQ2: OutOfOrderAck(q) for a past packet; RS: Ack(in-1)
	echoKeepAlive  bool // LEGACY/EQ2 echo a KeepAlive (SPEC §17.1)
	// implemented is false while a variant lacks parts the rules above do
	// not cover: LEGACY's deferred cumulative ack writer and 256-byte
	// combining, EQ2's RC4 application layer and session-long deflate.
	implemented bool
}

var variants = [...]variantRules{
	VariantRS: {
		name: "rs", window: SeqWindow, streams: Streams,
		futureOOA: true, implemented: true,
	},
	VariantLegacy: {
		name: "legacy", window: 2048, streams: 1,
		legacyResponse: true, pastOOA: true, echoKeepAlive: true,
	},
	VariantEQ2: {
		name: "eq2", window: 2048, streams: 1,
		legacyResponse: true, disconnectTail: true, pastOOA: true, echoKeepAlive: true,
	},
}
