package shard

// Outcome is what became of one received datagram. Every datagram read from
// the socket or taken from a handoff ring lands in exactly one outcome, so
// per shard DatagramsIn + HandoffIn == the sum of Outcomes.
type Outcome uint8

const (
	OutcomeSession      Outcome = iota // passed to its session
	OutcomeOpened                      // a SessionRequest that created a session
	OutcomeOutOfSession                // unknown endpoint, answered with OutOfSession
	OutcomeHandoff                     // handed to its owner shard
	// Drops. Only these count as eqgate_datagrams_dropped_total.
	OutcomeDropShort        // under 2 bytes (SPEC §3)
	OutcomeDropTruncated    // longer than the receive buffer
	OutcomeDropHandoffFull  // owner's handoff ring full
	OutcomeDropCapShard     // SessionRequest refused: shard session cap
	OutcomeDropCapTotal     // SessionRequest refused: total session cap
	OutcomeDropCapIP        // SessionRequest refused: per-IP session cap
	OutcomeDropBadRequest   // unknown endpoint, SessionRequest under 14 bytes
	OutcomeDropOutOfSession // unknown endpoint, an OutOfSession (no reply, SPEC §6.3)
	OutcomeDropUnknown      // client: datagram from an endpoint it did not dial
	OutcomeDropClosing      // arrived while the shard was shutting down
	NumOutcomes
)

// FirstDrop is the first drop outcome.
const FirstDrop = OutcomeDropShort

var outcomeNames = [NumOutcomes]string{
	OutcomeSession:          "session",
	OutcomeOpened:           "opened",
	OutcomeOutOfSession:     "out_of_session",
	OutcomeHandoff:          "handoff",
	OutcomeDropShort:        "short",
	OutcomeDropTruncated:    "truncated",
	OutcomeDropHandoffFull:  "handoff_full",
	OutcomeDropCapShard:     "cap_shard",
	OutcomeDropCapTotal:     "cap_total",
	OutcomeDropCapIP:        "cap_ip",
	OutcomeDropBadRequest:   "bad_request",
	OutcomeDropOutOfSession: "out_of_session_loop",
	OutcomeDropUnknown:      "unknown_endpoint",
	OutcomeDropClosing:      "closing",
}

// String returns a snake_case name, usable as a metric label.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}
