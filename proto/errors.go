package proto

// Reason classifies why a packet was dropped, for counters. The zero value
// means no error.
type Reason uint8

const (
	ReasonNone          Reason = iota
	ReasonShort                // too short for its layout
	ReasonBadCRC               // CRC trailer mismatch
	ReasonBadLength            // a length field disagrees with the bytes present
	ReasonUnknownOpcode        // opcode not handled here
	ReasonInflate              // inflate failed or exceeded its cap
	ReasonIgnored              // discarded on purpose before the CRC check (keepalive, ping)
	ReasonTooDeep              // nesting of Combined/AppCombined/Packet beyond the cap
	ReasonTooBig               // a size field above a configured cap
	ReasonBadParams            // session parameters out of range
	ReasonBadAck               // an Ack or OutOfOrderAck for a sequence never sent: ignored
	ReasonDupAck               // an Ack or OutOfOrderAck for what was already acknowledged
	ReasonBudget               // peer data refused by the shard's Budget, before its ack: the peer resends it
	NumReasons                 // number of reasons, for counter arrays
)

var reasonNames = [NumReasons]string{
	ReasonNone:          "none",
	ReasonShort:         "short",
	ReasonBadCRC:        "bad_crc",
	ReasonBadLength:     "bad_length",
	ReasonUnknownOpcode: "unknown_opcode",
	ReasonInflate:       "inflate",
	ReasonIgnored:       "ignored",
	ReasonTooDeep:       "too_deep",
	ReasonTooBig:        "too_big",
	ReasonBadParams:     "bad_params",
	ReasonBadAck:        "bad_ack",
	ReasonDupAck:        "duplicate_ack",
	ReasonBudget:        "budget",
}

// String returns a short snake_case name suitable for a metric label.
func (r Reason) String() string {
	if r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Error is a decode error: what went wrong and where. Every Error the package
// returns is one of the package-level sentinels, so returning one allocates
// nothing and errors.Is works by identity.
type Error struct {
	Reason Reason
	What   string // the layout or step that failed
}

func (e *Error) Error() string { return "proto: " + e.What + ": " + e.Reason.String() }

// ReasonOf returns the Reason of an error from this package, ReasonNone for
// nil, and ReasonBadLength for foreign errors.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	if e, ok := err.(*Error); ok {
		return e.Reason
	}
	return ReasonBadLength
}

// Sentinel errors. Callers count them by ReasonOf and move on.
var (
	ErrShortDatagram   = &Error{ReasonShort, "datagram"}
	ErrShortCRC        = &Error{ReasonShort, "crc trailer"}
	ErrBadCRC          = &Error{ReasonBadCRC, "crc"}
	ErrKeepAlive       = &Error{ReasonIgnored, "keepalive"}
	ErrOutboundPing    = &Error{ReasonIgnored, "outbound ping"}
	ErrInflate         = &Error{ReasonInflate, "inflate"}
	ErrInflateTooBig   = &Error{ReasonInflate, "inflate output over cap"}
	ErrShortPacket     = &Error{ReasonShort, "packet"}
	ErrShortRequest    = &Error{ReasonShort, "session request"}
	ErrShortResponse   = &Error{ReasonShort, "session response"}
	ErrShortStat       = &Error{ReasonShort, "session stat"}
	ErrShortSeq        = &Error{ReasonShort, "sequenced packet"}
	ErrShortFragment   = &Error{ReasonShort, "first fragment"}
	ErrNotSeq          = &Error{ReasonUnknownOpcode, "not a sequenced opcode"}
	ErrWrongOpcode     = &Error{ReasonUnknownOpcode, "unexpected opcode"}
	ErrBadCRCBytes     = &Error{ReasonBadParams, "crc bytes not 0, 2 or 4"}
	ErrBadMaxPacket    = &Error{ReasonBadParams, "max packet size out of range"}
	ErrElementOverrun  = &Error{ReasonBadLength, "combined element overruns packet"}
	ErrTooDeep         = &Error{ReasonTooDeep, "nesting depth"}
	ErrFragmentTooBig  = &Error{ReasonTooBig, "fragment total size"}
	ErrFragmentOverrun = &Error{ReasonBadLength, "fragment data beyond total size"}
)
