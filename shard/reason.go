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
	OutcomeResponded                   // a SessionRequest answered statelessly (no session yet)
	// Drops. Only these count as eqgate_datagrams_dropped_total.
	OutcomeDropShort        // under 2 bytes (SPEC §3)
	OutcomeDropTruncated    // longer than the receive buffer
	OutcomeDropHandoffFull  // owner's handoff ring full
	OutcomeDropCapShard     // SessionRequest refused: shard session cap
	OutcomeDropCapTotal     // SessionRequest refused: total session cap
	OutcomeDropCapIP        // SessionRequest refused: per-IP session cap
	OutcomeDropBadRequest   // unknown endpoint, SessionRequest under 14 bytes (or asking for a max packet under 64)
	OutcomeDropOutOfSession // unknown endpoint, an OutOfSession (no reply, SPEC §6.3)
	OutcomeDropUnknown      // client: datagram from an endpoint it did not dial
	OutcomeDropClosing      // arrived while the shard was shutting down
	OutcomeDropNoReply      // unknown endpoint, no proof: a SessionDisconnect or under 5 bytes, not answered
	OutcomeDropReplyRate    // unknown endpoint, no proof: OutOfSession answer refused by the token bucket
	OutcomeDropHalfOpen     // CRC 0: SessionRequest refused, HalfOpenMax sessions waiting for a first valid datagram
	OutcomeDropDraining     // SessionRequest refused: the server is draining
	NumOutcomes
)

// FirstDrop is the first drop outcome.
const FirstDrop = OutcomeDropShort

var outcomeNames = [NumOutcomes]string{
	OutcomeSession:          "session",
	OutcomeOpened:           "opened",
	OutcomeOutOfSession:     "out_of_session",
	OutcomeHandoff:          "handoff",
	OutcomeResponded:        "responded",
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
	OutcomeDropNoReply:      "no_reply",
	OutcomeDropReplyRate:    "reply_rate",
	OutcomeDropHalfOpen:     "half_open_cap",
	OutcomeDropDraining:     "draining",
}

// String returns a snake_case name, usable as a metric label.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}
